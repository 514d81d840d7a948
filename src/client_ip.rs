//! Which address a request comes from: nonces are bound to it.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::request::Parts;

/// The peer address of the connection a request arrived on, for servers that are not
/// axum: insert it into the request extensions (see `examples/hyper.rs`).
///
/// With axum, serving with `into_make_service_with_connect_info::<SocketAddr>()` is
/// enough: the layer reads axum's `ConnectInfo<SocketAddr>` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Where the layer learns the client's IP address.
///
/// With no address at all the layer fails closed: it answers 500 and logs an error,
/// because a nonce that cannot be bound to a client would be valid from anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The connection's peer address: [`PeerAddr`], or axum's `ConnectInfo<SocketAddr>`.
    /// Right when clients connect directly.
    #[default]
    Connection,
    /// Behind reverse proxies: when the connection comes from one of these ranges, the
    /// client is read from `Forwarded` (or, without it, `X-Forwarded-For`), walking from
    /// the nearest hop outwards past the trusted proxies. A connection from anywhere else
    /// is taken as the client itself, so a forged header from outside changes nothing.
    TrustedProxies(Vec<IpRange>),
}

impl ClientIpSource {
    /// The client's address for this request, if it can be known.
    pub(crate) fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = peer_ip(parts)?;
        match self {
            ClientIpSource::Connection => Some(peer),
            ClientIpSource::TrustedProxies(proxies) => {
                let trusted = |ip: &IpAddr| proxies.iter().any(|range| range.contains(*ip));
                if !trusted(&peer) {
                    return Some(peer);
                }
                let hops = forwarded_hops(&parts.headers)?;
                // Nearest hop last: the first untrusted hop from the right is the client.
                let mut client = peer;
                for hop in hops.iter().rev() {
                    client = (*hop)?;
                    if !trusted(&client) {
                        break;
                    }
                }
                Some(client)
            }
        }
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

/// The addresses proxies recorded, nearest last; `None` inside for a hop that does not
/// parse (an obfuscated `for=_hidden`, say), `None` outside for no header at all or an
/// unreadable one.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    /// More hops than any real proxy chain; longer lists are refused, not read.
    const MAX_HOPS: usize = 32;
    let mut hops = Vec::new();
    let forwarded = headers.get_all(http::header::FORWARDED);
    if forwarded.iter().next().is_some() {
        for value in forwarded {
            for element in value.to_str().ok()?.split(',') {
                let for_value = element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then_some(value.trim())
                });
                hops.push(for_value.and_then(parse_forwarded_node));
            }
        }
    } else {
        for value in headers.get_all("x-forwarded-for") {
            for element in value.to_str().ok()?.split(',') {
                hops.push(element.trim().parse().ok());
            }
        }
    }
    (!hops.is_empty() && hops.len() <= MAX_HOPS).then_some(hops)
}

/// A `Forwarded` node: `192.0.2.60`, `"192.0.2.60:4711"`, `"[2001:db8::1]:4711"`.
fn parse_forwarded_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
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

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(net.to_bits()) << 96,
                u128::from(ip.to_bits()) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(net.to_bits(), ip.to_bits(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
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

    fn proxies() -> ClientIpSource {
        ClientIpSource::TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connection_source_ignores_forwarding_headers() {
        let p = parts("192.0.2.1", &[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            ClientIpSource::Connection.client_ip(&p),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn no_peer_address_means_unknown() {
        let (p, ()) = http::Request::new(()).into_parts();
        assert_eq!(ClientIpSource::Connection.client_ip(&p), None);
    }

    #[test]
    fn trusted_proxy_table() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case<'_>] = &[
            // Untrusted peer: headers are ignored.
            (
                "192.0.2.1",
                &[("x-forwarded-for", "203.0.113.9")],
                Some("192.0.2.1"),
            ),
            // Trusted peer: the nearest untrusted hop.
            (
                "10.0.0.1",
                &[("x-forwarded-for", "198.51.100.7, 203.0.113.9")],
                Some("203.0.113.9"),
            ),
            (
                "10.0.0.1",
                &[("x-forwarded-for", "203.0.113.9, 10.0.0.2")],
                Some("203.0.113.9"),
            ),
            (
                "10.0.0.1",
                &[("forwarded", "for=203.0.113.9;proto=https")],
                Some("203.0.113.9"),
            ),
            (
                "10.0.0.1",
                &[("forwarded", r#"for="[2001:db8::1]:4711""#)],
                Some("2001:db8::1"),
            ),
            (
                "10.0.0.1",
                &[("forwarded", r#"for="203.0.113.9:80", for=10.0.0.3"#)],
                Some("203.0.113.9"),
            ),
            // Forwarded wins over X-Forwarded-For.
            (
                "10.0.0.1",
                &[
                    ("forwarded", "for=203.0.113.1"),
                    ("x-forwarded-for", "203.0.113.2"),
                ],
                Some("203.0.113.1"),
            ),
            // Only proxies in the chain: the farthest one.
            (
                "10.0.0.1",
                &[("x-forwarded-for", "10.0.0.9")],
                Some("10.0.0.9"),
            ),
            // Trusted peer but no header or an unreadable hop: unknown, fail closed.
            ("10.0.0.1", &[], None),
            (
                "10.0.0.1",
                &[("x-forwarded-for", "garbage, 203.0.113.9, nonsense")],
                None,
            ),
            ("10.0.0.1", &[("forwarded", "for=_hidden")], None),
        ];
        for (peer, headers, expected) in cases {
            let got = proxies().client_ip(&parts(peer, headers));
            assert_eq!(got, expected.map(ip), "peer {peer} headers {headers:?}");
        }
    }

    #[test]
    fn ranges_parse_and_match() {
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let any: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("::ffff:8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nonsense".parse::<IpRange>().is_err());
        let single: IpRange = "127.0.0.1".parse().unwrap();
        assert!(single.contains("127.0.0.1".parse().unwrap()));
        assert!(!single.contains("127.0.0.2".parse().unwrap()));
    }
}
