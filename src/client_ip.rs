//! Which address a request comes from: nonces are bound to it, and failed logins are
//! counted per address. [`ClientIpSource`] says where to read it (the connection, or a
//! trusted proxy's forwarding header), [`IpRange`] names trusted proxies, and [`PeerAddr`]
//! carries the connection's address for servers that are not axum.
//!
//! ```
//! use tower_digest_auth::client_ip::{ClientIpSource, IpRange};
//! use tower_digest_auth::{DigestLayer, MemoryCredentials};
//!
//! // Behind a reverse proxy on 10.0.0.0/8 that appends to X-Forwarded-For.
//! let proxies: IpRange = "10.0.0.0/8".parse()?;
//! assert!(proxies.contains("10.1.2.3".parse()?));
//! let users = MemoryCredentials::new("api@example.org", [("alice", "secret")]);
//! let layer = DigestLayer::builder("api@example.org", users)
//!     .client_ip(ClientIpSource::XForwardedFor(vec![proxies]))
//!     .build()?;
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
#![doc = include_str!("docs/reverse_proxy.md")]

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
/// refused with a 400 ([`Rejection::BadForwarding`](crate::rejection::Rejection::BadForwarding)),
/// logged at info level: a client can provoke it, so it must not page anyone.
///
/// Behind a reverse proxy, name the header *your* proxy writes: a proxy that appends to
/// `X-Forwarded-For` passes a client's own `Forwarded` header through untouched (and the
/// other way round), so reading the other header would let a client choose its address.
///
/// ```
/// use tower_digest_auth::ClientIpSource;
/// use tower_digest_auth::client_ip::IpRange;
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
    /// other address is the client. When every address in the header is a trusted
    /// proxy, the farthest one is the client (a client on the proxies' own network). A
    /// connection from anywhere else is the client itself, so a forged header from
    /// outside changes nothing.
    XForwardedFor(Vec<IpRange>),
    /// The same, for proxies that append to the standard `Forwarded` header (RFC 7239),
    /// reading its `for=` parameters.
    Forwarded(Vec<IpRange>),
    /// Behind proxies that put the client's address alone in `X-Real-IP` (nginx's
    /// `proxy_set_header X-Real-IP $remote_addr;`). Read only when the connection comes
    /// from one of these ranges; a connection from anywhere else is the client itself.
    /// The proxy must replace the header, not pass on the client's own: nginx's
    /// `proxy_set_header` does. Exactly one address is expected: a missing header, more
    /// than one, or one that is not an address is a 400, since the client is unknown.
    XRealIp(Vec<IpRange>),
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
            ClientIpSource::XRealIp(proxies) => {
                return if in_ranges(proxies, peer) {
                    real_ip(parts).map_err(|reason| UnknownClient::BadForwarding {
                        proxy: peer,
                        reason,
                    })
                } else {
                    Ok(peer)
                };
            }
        };
        if !in_ranges(proxies, peer) {
            return Ok(peer);
        }
        client_hop(parts, peer, proxies, &header, hop_address).map(|(ip, _)| ip)
    }

    /// Whether a trusted proxy says the client reached it over HTTPS: from a peer in this
    /// source's ranges only (never with [`Connection`](ClientIpSource::Connection)), in
    /// the header that kind of proxy writes. Behind `X-Forwarded-For` or `X-Real-IP`
    /// proxies, one `X-Forwarded-Proto` value, `https`; a list (a proxy that appends to a
    /// client's own header) is no answer. Behind `Forwarded` proxies, the `proto=` of the
    /// element that names the client, so it is the scheme the outermost trusted proxy
    /// received. Anything else, a missing or unreadable header included, is not HTTPS.
    pub(crate) fn proxy_says_https(&self, parts: &Parts) -> bool {
        let Some(peer) = peer_ip(parts) else {
            return false;
        };
        match self {
            ClientIpSource::Connection => false,
            ClientIpSource::XForwardedFor(proxies) | ClientIpSource::XRealIp(proxies) => {
                in_ranges(proxies, peer) && x_forwarded_proto_is_https(parts)
            }
            ClientIpSource::Forwarded(proxies) => {
                in_ranges(proxies, peer)
                    && client_hop(parts, peer, proxies, &FORWARDED, forwarded_for)
                        .ok()
                        .and_then(|(_, element)| forwarded_param(element, "proto"))
                        .is_some_and(|proto| {
                            proto.trim().trim_matches('"').eq_ignore_ascii_case("https")
                        })
            }
        }
    }
}

/// The client in a trusted proxy's appending header (`peer` is the proxy): from the
/// nearest hop outwards (the last line is nearest), the first untrusted hop, with the
/// text of its element. A hop that does not parse before it (an obfuscated
/// `for=_hidden`, garbage) leaves the client unknown; when every hop is a trusted proxy,
/// the farthest one is the client.
fn client_hop<'p>(
    parts: &'p Parts,
    peer: IpAddr,
    proxies: &[IpRange],
    header: &HeaderName,
    hop_address: fn(&str) -> Option<&str>,
) -> Result<(IpAddr, &'p str), UnknownClient> {
    let bad = |reason| UnknownClient::BadForwarding {
        proxy: peer,
        reason,
    };
    let mut farthest_proxy = None;
    let mut walked = 0;
    for value in parts.headers.get_all(header).iter().rev() {
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
            if !in_ranges(proxies, ip) {
                return Ok((ip, hop));
            }
            farthest_proxy = Some((ip, hop));
        }
    }
    // Only proxies in the chain: the farthest one is the client.
    farthest_proxy.ok_or(bad("trusted proxy sent no forwarding header"))
}

/// One `X-Forwarded-Proto` line holding `https` alone.
fn x_forwarded_proto_is_https(parts: &Parts) -> bool {
    let mut values = parts.headers.get_all("x-forwarded-proto").iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"https"),
        _ => false,
    }
}

impl ClientIpSource {
    /// Whether the connection comes from one of the trusted proxies (never, with
    /// [`Connection`](ClientIpSource::Connection)): only then are other forwarding
    /// headers, such as `X-Forwarded-Prefix`, read.
    pub(crate) fn is_trusted_proxy(&self, parts: &Parts) -> bool {
        let proxies = match self {
            ClientIpSource::Connection => return false,
            ClientIpSource::XForwardedFor(proxies)
            | ClientIpSource::Forwarded(proxies)
            | ClientIpSource::XRealIp(proxies) => proxies,
        };
        peer_ip(parts).is_some_and(|peer| in_ranges(proxies, peer))
    }
}

fn in_ranges(ranges: &[IpRange], ip: IpAddr) -> bool {
    ranges.iter().any(|range| range.contains(ip))
}

/// The one address a trusted proxy wrote in `X-Real-IP`. Unlike the appending headers it
/// has no chain to walk: whatever the proxy wrote is the client, even an address of a
/// trusted range (a client on the proxy's own network).
fn real_ip(parts: &Parts) -> Result<IpAddr, &'static str> {
    let mut values = parts.headers.get_all("x-real-ip").iter();
    let value = values
        .next()
        .ok_or("trusted proxy sent no X-Real-IP header")?;
    if values.next().is_some() {
        return Err("trusted proxy sent more than one X-Real-IP header");
    }
    std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(parse_node)
        .ok_or("X-Real-IP is not an address")
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
    forwarded_param(element, "for")
}

/// The value of parameter `name` in one `Forwarded` element, as written (quotes and all).
fn forwarded_param<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then_some(value)
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
/// use tower_digest_auth::client_ip::IpRange;
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
mod tests;
