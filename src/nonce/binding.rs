//! Which part of the client's address a nonce is bound to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How tightly a nonce is bound to the address of the client it was issued to; set with
/// [`DigestLayerBuilder::address_binding`](crate::DigestLayerBuilder::address_binding).
///
/// A nonce answered from an address outside its binding is never accepted. When the
/// answer is right for it (the client knows the password and only its address changed: a
/// phone moving between networks, an IPv6 privacy address rotating, a dual-stack client
/// switching between IPv4 and IPv6), the client gets 401 with `stale=true` and a fresh
/// nonce for its new address, and retries without asking its user. A wrong answer is a
/// 401 without `stale` and counts as a failed login.
///
/// - [`exact`](Self::exact) (the default): the whole address.
/// - [`same_network`](Self::same_network) or [`prefix`](Self::prefix): the network the
///   address is in (by default an IPv4 /24, an IPv6 /64), so a client that moves inside
///   it keeps its nonce without even the stale round trip.
/// - [`unbound`](Self::unbound): no address at all.
///
/// The binding is what keeps a request captured on its way to the server (on a
/// connection without TLS, or logged by a proxy) from counting when it is sent first
/// from another address, and nonces handed to one client from being collected and
/// answered from elsewhere. A wider binding shares that protection with everyone in the
/// network; [`unbound`](Self::unbound) gives it up. Replays of a `(nonce, nc)` already
/// used are refused whatever the binding. The failed-login throttle always counts by the
/// full address.
///
/// Changing the binding of a running deployment makes the nonces clients hold answer
/// `stale=true` once (they were signed for the old binding).
///
/// ```
/// use tower_digest_auth::nonce::AddressBinding;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
///
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
/// // Phones on carrier networks change addresses within a /24 (IPv4) or /64 (IPv6).
/// let layer = DigestLayer::builder(realm, users)
///     .address_binding(AddressBinding::same_network())
///     .build()?;
/// # let _ = layer;
/// assert!(DigestLayer::builder(realm, MemoryCredentials::new(realm, [("a", "b")]))
///     .address_binding(AddressBinding::prefix(33, 64))
///     .build()
///     .is_err());
/// # Ok::<(), tower_digest_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressBinding(Binding);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Binding {
    #[default]
    Exact,
    Prefix {
        v4: u8,
        v6: u8,
    },
    Unbound,
}

impl AddressBinding {
    /// The prefixes of [`same_network`](Self::same_network): an IPv4 /24 and an IPv6 /64
    /// (the size of one IPv6 subnet, inside which privacy addresses rotate).
    pub const SAME_NETWORK_PREFIXES: (u8, u8) = (24, 64);

    /// Bound to the client's whole address (the default).
    pub fn exact() -> Self {
        AddressBinding(Binding::Exact)
    }

    /// Bound to the client's IPv4 /24 or IPv6 /64.
    pub fn same_network() -> Self {
        let (v4, v6) = Self::SAME_NETWORK_PREFIXES;
        Self::prefix(v4, v6)
    }

    /// Bound to the first `v4_bits` of an IPv4 address and the first `v6_bits` of an
    /// IPv6 one (IPv4-mapped IPv6 addresses count as IPv4). `build()` refuses more than
    /// 32 or 128 bits ([`ConfigError::InvalidAddressPrefix`](crate::ConfigError::InvalidAddressPrefix));
    /// 0 bits binds that family to nothing, as [`unbound`](Self::unbound) does.
    pub fn prefix(v4_bits: u8, v6_bits: u8) -> Self {
        AddressBinding(Binding::Prefix {
            v4: v4_bits,
            v6: v6_bits,
        })
    }

    /// Bound to no address: a nonce is accepted from anywhere. Only for clients whose
    /// address changes between every request (some mobile carriers, Tor) and only over
    /// TLS: it gives up what the binding protects (see above), leaving the replay check
    /// and the password.
    pub fn unbound() -> Self {
        AddressBinding(Binding::Unbound)
    }

    /// Whether the prefixes fit their address families.
    pub(crate) fn is_valid(self) -> bool {
        match self.0 {
            Binding::Prefix { v4, v6 } => v4 <= 32 && v6 <= 128,
            Binding::Exact | Binding::Unbound => true,
        }
    }

    /// The address a nonce for `client` is signed for: `client` itself, its network, or
    /// the unspecified address for everyone.
    pub(crate) fn bound(self, client: IpAddr) -> IpAddr {
        match (self.0, client.to_canonical()) {
            (Binding::Exact, client) => client,
            (Binding::Prefix { v4, .. }, IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(v4.min(32)));
                IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask.unwrap_or(0)))
            }
            (Binding::Prefix { v6, .. }, IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(v6.min(128)));
                IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask.unwrap_or(0)))
            }
            (Binding::Unbound, _) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(binding: AddressBinding, ip: &str) -> String {
        binding.bound(ip.parse().unwrap()).to_string()
    }

    #[test]
    fn each_binding_keeps_its_part_of_the_address() {
        let cases = [
            (AddressBinding::exact(), "192.0.2.77", "192.0.2.77"),
            (AddressBinding::exact(), "::ffff:192.0.2.77", "192.0.2.77"),
            (AddressBinding::exact(), "2001:db8::1", "2001:db8::1"),
            (AddressBinding::same_network(), "192.0.2.77", "192.0.2.0"),
            (
                AddressBinding::same_network(),
                "::ffff:192.0.2.77",
                "192.0.2.0",
            ),
            (
                AddressBinding::same_network(),
                "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
                "2001:db8:1:2::",
            ),
            (AddressBinding::prefix(16, 48), "198.51.100.7", "198.51.0.0"),
            (
                AddressBinding::prefix(16, 48),
                "2001:db8:1:2::9",
                "2001:db8:1::",
            ),
            (
                AddressBinding::prefix(32, 128),
                "198.51.100.7",
                "198.51.100.7",
            ),
            (
                AddressBinding::prefix(32, 128),
                "2001:db8::9",
                "2001:db8::9",
            ),
            (AddressBinding::prefix(0, 0), "198.51.100.7", "0.0.0.0"),
            (AddressBinding::prefix(0, 0), "2001:db8::9", "::"),
            (
                AddressBinding::prefix(31, 127),
                "198.51.100.7",
                "198.51.100.6",
            ),
            (
                AddressBinding::prefix(31, 127),
                "2001:db8::9",
                "2001:db8::8",
            ),
            (AddressBinding::unbound(), "198.51.100.7", "::"),
            (AddressBinding::unbound(), "2001:db8::9", "::"),
        ];
        for (binding, ip, expected) in cases {
            assert_eq!(bound(binding, ip), expected, "{binding:?} {ip}");
        }
    }

    #[test]
    fn a_signer_accepts_its_nonces_within_the_binding_and_decodes_them_outside() {
        use crate::hash::Algorithm;
        use crate::nonce::{NonceEpoch, NonceError, NonceKey, NonceSigner};
        let signer = NonceSigner::new(NonceKey::random(), vec![], "realm")
            .with_binding(AddressBinding::same_network());
        let now = std::time::SystemTime::now();
        let issued_to = "192.0.2.1".parse().unwrap();
        let nonce = signer.issue(Algorithm::Sha256, NonceEpoch::from_u32(7), issued_to, now);
        let issued = signer.check(nonce.as_bytes(), issued_to).unwrap();
        let neighbour = "192.0.2.200".parse().unwrap();
        assert_eq!(signer.check(nonce.as_bytes(), neighbour), Ok(issued));
        let elsewhere = "192.0.3.1".parse().unwrap();
        assert_eq!(
            signer.check(nonce.as_bytes(), elsewhere),
            Err(NonceError::OtherClient)
        );
        assert_eq!(signer.check_foreign(nonce.as_bytes()), Some(issued));
        // A forgery is not decoded.
        let mut forged = nonce.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(signer.check_foreign(&forged), None);
        assert_eq!(signer.check_foreign(b"short"), None);
    }

    #[test]
    fn prefixes_longer_than_the_family_are_invalid() {
        assert!(AddressBinding::prefix(32, 128).is_valid());
        assert!(!AddressBinding::prefix(33, 64).is_valid());
        assert!(!AddressBinding::prefix(24, 129).is_valid());
        assert!(AddressBinding::default() == AddressBinding::exact());
    }
}
