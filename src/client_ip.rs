//! Which address a request comes from: nonces are bound to it.

use std::net::{IpAddr, SocketAddr};

use http::HeaderName;
use http::header::FORWARDED;
use http::request::Parts;

/// The peer address of the connection a request arrived on, for servers that are not
/// axum: insert it into the request extensions (see `examples/hyper.rs`).
///
/// With axum, serving with `into_make_service_with_connect_info::<SocketAddr>()` is
/// enough: the layer reads axum's `ConnectInfo<SocketAddr>` itself.
///
/// ```
/// use std::net::SocketAddr;
/// use tower_digest_auth::PeerAddr;
///
/// // In a hyper accept loop, for each request of a connection from `remote`:
/// let remote: SocketAddr = "192.0.2.7:50000".parse().unwrap();
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(PeerAddr(remote));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Where the layer learns the client's IP address.
///
/// With no address at all the layer fails closed: it answers 500 and logs an error,
/// because a nonce that cannot be bound to a client would be valid from anywhere. A
/// request from a trusted proxy whose forwarding header names no usable client is
/// refused with a 400 ([`Rejection::BadForwarding`](crate::Rejection::BadForwarding)),
/// logged at info level: a client can provoke it, so it must not page anyone.
///
/// Behind a reverse proxy, name the header *your* proxy writes: a proxy that appends to
/// `X-Forwarded-For` passes a client's own `Forwarded` header through untouched (and the
/// other way round), so reading the other header would let a client choose its address.
///
/// ```
/// use tower_digest_auth::{ClientIpSource, IpRange};
///
/// // nginx on this host and the load balancers in 10.0.0.0/8 append X-Forwarded-For.
/// let proxies: Vec<IpRange> = ["127.0.0.1/32", "10.0.0.0/8"]
///     .iter()
///     .map(|range| range.parse().unwrap())
///     .collect();
/// let source = ClientIpSource::XForwardedFor(proxies);
/// # let _ = source;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIpSource {
    /// The connection's peer address: [`PeerAddr`], or axum's `ConnectInfo<SocketAddr>`.
    /// Right when clients connect directly.
    #[default]
    Connection,
    /// Behind proxies that append the client to `X-Forwarded-For` (nginx, haproxy, most
    /// cloud load balancers). When the connection comes from one of these ranges, the
    /// header is walked from the nearest hop outwards past the trusted proxies; the first
    /// other address is the client. A connection from anywhere else is the client itself,
    /// so a forged header from outside changes nothing.
    XForwardedFor(Vec<IpRange>),
    /// The same, for proxies that append to the standard `Forwarded` header (RFC 7239),
    /// reading its `for=` parameters.
    Forwarded(Vec<IpRange>),
}

/// More trusted hops than any real proxy chain; a longer chain is refused (fail closed).
/// Only trusted hops count: the walk stops at the first other address, so whatever a
/// client writes before it is never read.
const MAX_HOPS: usize = 32;

/// Why a request's client address cannot be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnknownClient {
    /// No peer address in the request at all: the server is not set up for the layer.
    NoPeerAddress,
    /// The connection comes from a trusted proxy, and its forwarding header does not name
    /// a usable client.
    BadForwarding { proxy: IpAddr, reason: &'static str },
}

impl ClientIpSource {
    /// The client's address for this request, or why it cannot be known.
    pub(crate) fn client_ip(&self, parts: &Parts) -> Result<IpAddr, UnknownClient> {
        let peer = peer_ip(parts).ok_or(UnknownClient::NoPeerAddress)?;
        let (proxies, header, hop_address): (_, _, fn(&str) -> Option<&str>) = match self {
            ClientIpSource::Connection => return Ok(peer),
            ClientIpSource::XForwardedFor(proxies) => (
                proxies,
                HeaderName::from_static("x-forwarded-for"),
                whole_hop,
            ),
            ClientIpSource::Forwarded(proxies) => (proxies, FORWARDED, forwarded_for),
        };
        let trusted = |ip: IpAddr| proxies.iter().any(|range| range.contains(ip));
        if !trusted(peer) {
            return Ok(peer);
        }
        let bad = |reason| UnknownClient::BadForwarding {
            proxy: peer,
            reason,
        };
        // From the nearest hop outwards (the last line is nearest): the first untrusted
        // hop is the client. A hop that does not parse before it (an obfuscated
        // `for=_hidden`, garbage) leaves the client unknown.
        let mut farthest_proxy = None;
        let mut walked = 0;
        for value in parts.headers.get_all(&header).iter().rev() {
            for hop in value.as_bytes().rsplit(|&byte| byte == b',') {
                if walked == MAX_HOPS {
                    return Err(bad("forwarding header has more than 32 trusted hops"));
                }
                walked += 1;
                let hop = std::str::from_utf8(hop)
                    .ok()
                    .filter(|hop| hop.is_ascii())
                    .ok_or(bad("forwarding header has a hop that is not ASCII"))?;
                let ip = hop_address(hop)
                    .and_then(parse_node)
                    .ok_or(bad("forwarding header has a hop that is not an address"))?;
                if !trusted(ip) {
                    return Ok(ip);
                }
                farthest_proxy = Some(ip);
            }
        }
        // Only proxies in the chain: the farthest one is the client.
        farthest_proxy.ok_or(bad("trusted proxy sent no forwarding header"))
    }
}

impl ClientIpSource {
    /// Whether the connection comes from one of the trusted proxies (never, with
    /// [`Connection`](ClientIpSource::Connection)): only then are other forwarding
    /// headers, such as `X-Forwarded-Prefix`, read.
    pub(crate) fn is_trusted_proxy(&self, parts: &Parts) -> bool {
        let proxies = match self {
            ClientIpSource::Connection => return false,
            ClientIpSource::XForwardedFor(proxies) | ClientIpSource::Forwarded(proxies) => proxies,
        };
        peer_ip(parts).is_some_and(|peer| proxies.iter().any(|range| range.contains(peer)))
    }
}

fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(addr)) = parts.extensions.get() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    None
}

/// An `X-Forwarded-For` hop is just the address. (The `Option` matches
/// [`forwarded_for`], so both fit one function pointer.)
#[allow(clippy::unnecessary_wraps)]
fn whole_hop(hop: &str) -> Option<&str> {
    Some(hop)
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.60;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value)
    })
}

/// A hop's address: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`, `[2001:db8::1]:4711`,
/// optionally quoted (as `Forwarded` writes them).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// An address range in CIDR notation, such as `10.0.0.0/8` or `::1/128`.
///
/// ```
/// use tower_digest_auth::IpRange;
///
/// let range: IpRange = "10.0.0.0/8".parse().unwrap();
/// assert!(range.contains("10.1.2.3".parse().unwrap()));
/// assert!(!range.contains("11.0.0.1".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// A string that is not an address or `address/prefix`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not an IP address range: {0:?}")]
pub struct InvalidIpRange(String);

impl IpRange {
    /// The range holding exactly `ip`.
    pub fn single(ip: IpAddr) -> Self {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        IpRange {
            network: ip,
            prefix,
        }
    }

    /// Whether `ip` is in the range. IPv4 and IPv4-mapped IPv6 (`::ffff:a.b.c.d`) are
    /// one address space, whichever way the range and the address are written:
    /// `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Compared as IPv6, with IPv4 ranges moved into the mapped block, so a prefix
        // always counts the bits of the form it was written in.
        let prefix = match self.network {
            IpAddr::V4(_) => u32::from(self.prefix) + 96,
            IpAddr::V6(_) => u32::from(self.prefix),
        };
        prefix == 0 || (v6_bits(self.network) ^ v6_bits(ip)) >> (128 - prefix) == 0
    }
}

/// The address as 128 bits, IPv4 as its IPv4-mapped IPv6 form.
fn v6_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

impl std::str::FromStr for IpRange {
    type Err = InvalidIpRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpRange(s.to_owned());
        let Some((network, prefix)) = s.split_once('/') else {
            return s.parse().map(IpRange::single).map_err(|_| invalid());
        };
        let network: IpAddr = network.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(invalid());
        }
        Ok(IpRange { network, prefix })
    }
}

impl From<IpAddr> for IpRange {
    fn from(ip: IpAddr) -> Self {
        IpRange::single(ip)
    }
}

#[cfg(test)]
mod tests {
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
}
