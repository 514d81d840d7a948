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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Where the layer learns the client's IP address.
///
/// With no address at all the layer fails closed: it answers 500 and logs an error,
/// because a nonce that cannot be bound to a client would be valid from anywhere.
///
/// Behind a reverse proxy, name the header *your* proxy writes: a proxy that appends to
/// `X-Forwarded-For` passes a client's own `Forwarded` header through untouched (and the
/// other way round), so reading the other header would let a client choose its address.
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

/// More hops than any real proxy chain; a longer list is refused (fail closed).
const MAX_HOPS: usize = 32;

impl ClientIpSource {
    /// The client's address for this request, if it can be known.
    pub(crate) fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = peer_ip(parts)?;
        let (proxies, header, hop_address): (_, _, fn(&str) -> Option<&str>) = match self {
            ClientIpSource::Connection => return Some(peer),
            ClientIpSource::XForwardedFor(proxies) => (
                proxies,
                HeaderName::from_static("x-forwarded-for"),
                whole_hop,
            ),
            ClientIpSource::Forwarded(proxies) => (proxies, FORWARDED, forwarded_for),
        };
        let trusted = |ip: IpAddr| proxies.iter().any(|range| range.contains(ip));
        if !trusted(peer) {
            return Some(peer);
        }
        // Every hop, nearest last, across all lines of the header.
        let mut hops = Vec::new();
        for value in parts.headers.get_all(&header) {
            for hop in value.to_str().ok()?.split(',') {
                if hops.len() == MAX_HOPS {
                    return None;
                }
                hops.push(hop);
            }
        }
        // The first untrusted hop from the right is the client; a hop that does not parse
        // before it (an obfuscated `for=_hidden`, garbage) leaves the client unknown.
        let mut client = None;
        for hop in hops.iter().rev() {
            let ip = parse_node(hop_address(hop)?)?;
            client = Some(ip);
            if !trusted(ip) {
                break;
            }
        }
        client
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
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn no_peer_address_means_unknown() {
        let (p, ()) = http::Request::new(()).into_parts();
        assert_eq!(ClientIpSource::Connection.client_ip(&p), None);
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
            let got = source.client_ip(&parts(peer, headers));
            assert_eq!(
                got,
                expected.map(ip),
                "{source:?} peer {peer} headers {headers:?}"
            );
        }
        let long = vec!["10.0.0.2"; MAX_HOPS + 1].join(", ");
        assert_eq!(
            xff().client_ip(&parts("10.0.0.1", &[("x-forwarded-for", &long)])),
            None
        );
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
