use super::*;

fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder();
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, ()) = builder.body(()).unwrap().into_parts();
    parts
        .extensions
        .insert(PeerAddr(SocketAddr::new(peer.parse().unwrap(), 1234)));
    parts
}

fn xff() -> ClientIpSource {
    ClientIpSource::XForwardedFor(vec!["10.0.0.0/8".parse().unwrap()])
}

fn forwarded() -> ClientIpSource {
    ClientIpSource::Forwarded(vec!["10.0.0.0/8".parse().unwrap()])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn connection_source_ignores_forwarding_headers() {
    let p = parts("192.0.2.1", &[("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(
        ClientIpSource::Connection.client_ip(&p),
        Ok(ip("192.0.2.1"))
    );
}

#[test]
fn no_peer_address_means_unknown() {
    let (p, ()) = http::Request::new(()).into_parts();
    assert_eq!(
        ClientIpSource::Connection.client_ip(&p),
        Err(UnknownClient::NoPeerAddress)
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one line per case
fn trusted_proxy_table() {
    type Case<'a> = (
        ClientIpSource,
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
    );
    let xff_case = |peer, header: &'static [(&'static str, &'static str)], expected| {
        (xff(), peer, header, expected)
    };
    let cases: Vec<Case<'static>> = vec![
        // Untrusted peer: headers are ignored.
        xff_case(
            "192.0.2.1",
            &[("x-forwarded-for", "203.0.113.9")],
            Some("192.0.2.1"),
        ),
        // Trusted peer: the nearest untrusted hop.
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "198.51.100.7, 203.0.113.9")],
            Some("203.0.113.9"),
        ),
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "203.0.113.9, 10.0.0.2")],
            Some("203.0.113.9"),
        ),
        // Across header lines, the last line is nearest.
        xff_case(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
            Some("203.0.113.9"),
        ),
        // Hops with ports (some load balancers write them).
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "203.0.113.9:5678")],
            Some("203.0.113.9"),
        ),
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "[2001:db8::1]:80")],
            Some("2001:db8::1"),
        ),
        // Only proxies in the chain: the farthest one.
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "10.0.0.9")],
            Some("10.0.0.9"),
        ),
        // A client's own Forwarded header means nothing to an X-Forwarded-For setup.
        xff_case(
            "10.0.0.1",
            &[
                ("forwarded", "for=198.51.100.1"),
                ("x-forwarded-for", "203.0.113.5"),
            ],
            Some("203.0.113.5"),
        ),
        (
            forwarded(),
            "10.0.0.1",
            &[("forwarded", "for=203.0.113.9;proto=https")],
            Some("203.0.113.9"),
        ),
        (
            forwarded(),
            "10.0.0.1",
            &[("forwarded", r#"for="[2001:db8::1]:4711""#)],
            Some("2001:db8::1"),
        ),
        (
            forwarded(),
            "10.0.0.1",
            &[("forwarded", r#"for="203.0.113.9:80", for=10.0.0.3"#)],
            Some("203.0.113.9"),
        ),
        // ... and the other way round.
        (
            forwarded(),
            "10.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("forwarded", "for=203.0.113.5"),
            ],
            Some("203.0.113.5"),
        ),
        // Trusted peer but no header, an unreadable hop or too many: unknown, fail closed.
        xff_case("10.0.0.1", &[], None),
        xff_case(
            "10.0.0.1",
            &[("x-forwarded-for", "garbage, 203.0.113.9, nonsense")],
            None,
        ),
        (
            forwarded(),
            "10.0.0.1",
            &[("forwarded", "for=_hidden")],
            None,
        ),
        (
            forwarded(),
            "10.0.0.1",
            &[("x-forwarded-for", "203.0.113.5")],
            None,
        ),
    ];
    for (source, peer, headers, expected) in cases {
        let got = source.client_ip(&parts(peer, headers)).ok();
        assert_eq!(
            got,
            expected.map(ip),
            "{source:?} peer {peer} headers {headers:?}"
        );
    }
    let long = vec!["10.0.0.2"; MAX_HOPS + 1].join(", ");
    assert_eq!(
        xff().client_ip(&parts("10.0.0.1", &[("x-forwarded-for", &long)])),
        Err(UnknownClient::BadForwarding {
            proxy: ip("10.0.0.1"),
            reason: "forwarding header has more than 32 trusted hops"
        })
    );
}

/// What a client writes before the hop its proxy appended is never read: padding,
/// garbage or non-ASCII bytes there cannot make its address unknown.
#[test]
fn client_written_hops_beyond_the_client_are_never_read() {
    let padded = format!("{}, 203.0.113.9", vec!["198.51.100.1"; 40].join(", "));
    let garbage = "garbage, \u{e9}t\u{e9}, 203.0.113.9".to_owned();
    for header in [padded, garbage] {
        assert_eq!(
            xff().client_ip(&parts("10.0.0.1", &[("x-forwarded-for", &header)])),
            Ok(ip("203.0.113.9")),
            "{header}"
        );
    }
    // Raw non-ASCII bytes (obs-text), as a proxy passes them through.
    let mut p = parts("10.0.0.1", &[]);
    p.headers.insert(
        "x-forwarded-for",
        http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap(),
    );
    assert_eq!(xff().client_ip(&p), Ok(ip("203.0.113.9")));
}

#[test]
fn unusable_forwarding_headers_from_a_trusted_proxy_say_why() {
    let reason = |headers: &[(&str, &str)]| match xff().client_ip(&parts("10.0.0.1", headers)) {
        Err(UnknownClient::BadForwarding { proxy, reason }) => {
            assert_eq!(proxy, ip("10.0.0.1"));
            reason
        }
        other => panic!("{headers:?}: {other:?}"),
    };
    assert_eq!(reason(&[]), "trusted proxy sent no forwarding header");
    assert_eq!(
        reason(&[("x-forwarded-for", "203.0.113.9, nonsense")]),
        "forwarding header has a hop that is not an address"
    );
    let mut p = parts("10.0.0.1", &[]);
    p.headers.insert(
        "x-forwarded-for",
        http::HeaderValue::from_bytes(b"203.0.113.9, 10.0.0.\xff").unwrap(),
    );
    assert!(matches!(
        xff().client_ip(&p),
        Err(UnknownClient::BadForwarding {
            reason: "forwarding header has a hop that is not ASCII",
            ..
        })
    ));
}

/// `::ffff:10.0.0.0/104` and `::ffff:0:0/96` are IPv4 ranges written as IPv6: their
/// prefixes count IPv6 bits.
#[test]
fn ipv4_mapped_ranges_cover_their_ipv4_addresses() {
    let mapped: IpRange = "::ffff:10.0.0.0/104".parse().unwrap();
    assert!(mapped.contains(ip("10.1.2.3")));
    assert!(mapped.contains(ip("::ffff:10.200.0.1")));
    assert!(!mapped.contains(ip("11.0.0.1")));
    assert!(
        !mapped.contains(ip("::a01:203")),
        "IPv4-compatible is not mapped"
    );
    let all_v4: IpRange = "::ffff:0:0/96".parse().unwrap();
    assert!(all_v4.contains(ip("203.0.113.9")));
    assert!(!all_v4.contains(ip("2001:db8::1")));
    // And the other way round: an IPv4 range holds mapped addresses.
    let v4: IpRange = "10.0.0.0/8".parse().unwrap();
    assert!(v4.contains(ip("::ffff:10.9.9.9")));
    assert!(!v4.contains(ip("::ffff:11.0.0.1")));
    let source = ClientIpSource::XForwardedFor(vec![mapped]);
    let p = parts("10.0.0.1", &[("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(source.client_ip(&p), Ok(ip("203.0.113.9")));
}

#[test]
fn ranges_parse_and_match() {
    let v6: IpRange = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains("2001:db8::1".parse().unwrap()));
    assert!(!v6.contains("2001:db9::1".parse().unwrap()));
    let any: IpRange = "0.0.0.0/0".parse().unwrap();
    assert!(any.contains("::ffff:8.8.8.8".parse().unwrap()));
    assert!(!any.contains("2001:db8::1".parse().unwrap()));
    let everything: IpRange = "::/0".parse().unwrap();
    assert!(everything.contains("8.8.8.8".parse().unwrap()));
    assert!("10.0.0.0/33".parse::<IpRange>().is_err());
    assert!("nonsense".parse::<IpRange>().is_err());
    let single: IpRange = "127.0.0.1".parse().unwrap();
    assert!(single.contains("127.0.0.1".parse().unwrap()));
    assert!(!single.contains("127.0.0.2".parse().unwrap()));
}

fn real_ip() -> ClientIpSource {
    ClientIpSource::XRealIp(vec!["10.0.0.0/8".parse().unwrap()])
}

#[test]
fn x_real_ip_is_read_from_a_trusted_proxy_only() {
    let header = [("x-real-ip", "203.0.113.9")];
    assert_eq!(
        real_ip().client_ip(&parts("10.0.0.1", &header)),
        Ok(ip("203.0.113.9"))
    );
    // From anywhere else the header is the client's own word: ignored.
    assert_eq!(
        real_ip().client_ip(&parts("192.0.2.1", &header)),
        Ok(ip("192.0.2.1"))
    );
    // A client on the proxy's own network is still that client.
    assert_eq!(
        real_ip().client_ip(&parts("10.0.0.1", &[("x-real-ip", "10.0.0.7")])),
        Ok(ip("10.0.0.7"))
    );
    // nginx writes plain addresses; a bracketed IPv6 or one with a port is read too.
    assert_eq!(
        real_ip().client_ip(&parts("10.0.0.1", &[("x-real-ip", "[2001:db8::1]:443")])),
        Ok(ip("2001:db8::1"))
    );
    assert!(real_ip().is_trusted_proxy(&parts("10.0.0.1", &[])));
    assert!(!real_ip().is_trusted_proxy(&parts("192.0.2.1", &[])));
}

#[test]
fn unusable_x_real_ip_from_a_trusted_proxy_says_why() {
    let reason = |headers: &[(&str, &str)]| match real_ip().client_ip(&parts("10.0.0.1", headers)) {
        Err(UnknownClient::BadForwarding { proxy, reason }) => {
            assert_eq!(proxy, ip("10.0.0.1"));
            reason
        }
        other => panic!("{headers:?}: {other:?}"),
    };
    assert_eq!(reason(&[]), "trusted proxy sent no X-Real-IP header");
    assert_eq!(
        reason(&[("x-real-ip", "203.0.113.9"), ("x-real-ip", "198.51.100.1")]),
        "trusted proxy sent more than one X-Real-IP header"
    );
    // A list is what X-Forwarded-For holds, not X-Real-IP.
    assert_eq!(
        reason(&[("x-real-ip", "203.0.113.9, 198.51.100.1")]),
        "X-Real-IP is not an address"
    );
    assert_eq!(
        reason(&[("x-real-ip", "unknown")]),
        "X-Real-IP is not an address"
    );
}

#[test]
fn a_trusted_proxy_alone_says_https_in_the_header_it_writes() {
    let https = |source: &ClientIpSource, peer: &str, headers: &[(&str, &str)]| {
        source.proxy_says_https(&parts(peer, headers))
    };
    let proto = |value| [("x-forwarded-proto", value)];
    // From a trusted proxy: one X-Forwarded-Proto value, https (any case).
    assert!(https(&xff(), "10.0.0.1", &proto("https")));
    assert!(https(&xff(), "10.0.0.1", &proto(" HTTPS ")));
    assert!(https(&real_ip(), "10.0.0.1", &proto("https")));
    assert!(!https(&xff(), "10.0.0.1", &proto("http")));
    assert!(!https(&xff(), "10.0.0.1", &[]));
    // A list (a proxy appending to a client's own value) or two lines: no answer.
    assert!(!https(&xff(), "10.0.0.1", &proto("https, http")));
    assert!(!https(&xff(), "10.0.0.1", &proto("http, https")));
    assert!(!https(
        &xff(),
        "10.0.0.1",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "https")
        ]
    ));
    // From anyone else, or with the connection as the source: never read.
    assert!(!https(&xff(), "192.0.2.1", &proto("https")));
    assert!(!https(&real_ip(), "192.0.2.1", &proto("https")));
    assert!(!https(
        &ClientIpSource::Connection,
        "10.0.0.1",
        &proto("https")
    ));
    // A Forwarded setup reads Forwarded only.
    assert!(!https(&forwarded(), "10.0.0.1", &proto("https")));
    assert!(!https(
        &xff(),
        "10.0.0.1",
        &[("forwarded", "for=203.0.113.9;proto=https")]
    ));
}

#[test]
fn forwarded_proto_is_read_from_the_element_that_names_the_client() {
    let https = |peer: &str, value: &str| {
        forwarded().proxy_says_https(&parts(peer, &[("forwarded", value)]))
    };
    assert!(https("10.0.0.1", "for=203.0.113.9;proto=https"));
    assert!(https("10.0.0.1", r#"for="203.0.113.9";proto="HTTPS""#));
    assert!(https("10.0.0.1", "proto=https; for=203.0.113.9"));
    assert!(!https("10.0.0.1", "for=203.0.113.9;proto=http"));
    assert!(!https("10.0.0.1", "for=203.0.113.9"));
    // The client's own element says https, the trusted proxy's (nearest) says http.
    assert!(!https(
        "10.0.0.1",
        "for=198.51.100.1;proto=https, for=203.0.113.9;proto=http"
    ));
    // Past a second trusted proxy (10.0.0.3, which received plain HTTP from the first):
    // the outermost proxy's element, which names the client, decides.
    assert!(https(
        "10.0.0.1",
        "for=203.0.113.9;proto=https, for=10.0.0.3;proto=http"
    ));
    // Only proxies in the chain: the farthest element.
    assert!(https("10.0.0.1", "for=10.0.0.9;proto=https"));
    // Unreadable, or from an untrusted peer: not https.
    assert!(!https("10.0.0.1", "for=_hidden;proto=https"));
    assert!(!https("192.0.2.1", "for=203.0.113.9;proto=https"));
}
