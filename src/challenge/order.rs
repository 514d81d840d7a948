//! The order of the challenges per client: [`ChallengeOrder`] and its rules.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::header::USER_AGENT;
use http::request::Parts;

/// How the challenges of one 401 are ordered for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arrangement {
    /// The configured order ([`DigestLayerBuilder::algorithms`]).
    ///
    /// [`DigestLayerBuilder::algorithms`]: crate::DigestLayerBuilder::algorithms
    Configured,
    /// The `MD5` challenge first, the others after it in configured order: for clients
    /// that answer the first challenge and know nothing better than MD5.
    Md5First,
    /// The `SHA-256` challenge last, the others before it in configured order: for clients
    /// that answer the last challenge and can do SHA-256.
    Sha256Last,
}

/// A `major.minor` version, as read from a `User-Agent` product token.
type Version = (u32, u32);

/// Matches one client by its `User-Agent` product token (`name/version`), optionally
/// within a version range, and says how to order its challenges.
///
/// ```
/// use tower_digest_auth::challenge::{Arrangement, ClientRule};
///
/// let rule = ClientRule::new("Python-urllib", Arrangement::Md5First).before_version(3, 14);
/// assert!(rule.matches(b"Python-urllib/3.11"));
/// assert!(!rule.matches(b"Python-urllib/3.14"));
/// assert!(!rule.matches(b"python-requests/2.32.3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRule {
    product: Cow<'static, str>,
    from: Option<Version>,
    before: Option<Version>,
    arrangement: Arrangement,
}

/// How much of a `User-Agent` is looked at: real ones are far shorter, and a client that
/// sends more only makes its own product token invisible.
const MAX_USER_AGENT_SCAN: usize = 512;

impl ClientRule {
    /// Any version of the product `product` (compared without regard to ASCII case).
    pub const fn new(product: &'static str, arrangement: Arrangement) -> Self {
        ClientRule {
            product: Cow::Borrowed(product),
            from: None,
            before: None,
            arrangement,
        }
    }

    /// The same as [`ClientRule::new`] for a product name known only at run time.
    pub fn named(product: impl Into<String>, arrangement: Arrangement) -> Self {
        ClientRule {
            product: Cow::Owned(product.into()),
            from: None,
            before: None,
            arrangement,
        }
    }

    /// Only versions from `major.minor` on.
    #[must_use]
    pub const fn from_version(mut self, major: u32, minor: u32) -> Self {
        self.from = Some((major, minor));
        self
    }

    /// Only versions before `major.minor`.
    #[must_use]
    pub const fn before_version(mut self, major: u32, minor: u32) -> Self {
        self.before = Some((major, minor));
        self
    }

    /// The order this rule asks for.
    pub fn arrangement(&self) -> Arrangement {
        self.arrangement
    }

    /// Whether a `User-Agent` value names this client: one of its whitespace-separated
    /// product tokens is `product/version` with the version in range (without a range,
    /// a bare `product` matches too). Only the first 512 bytes are read.
    pub fn matches(&self, user_agent: &[u8]) -> bool {
        let scanned = &user_agent[..user_agent.len().min(MAX_USER_AGENT_SCAN)];
        let product = self.product.as_bytes();
        scanned
            .split(u8::is_ascii_whitespace)
            .any(|token| match token.get(..product.len()) {
                Some(name) if name.eq_ignore_ascii_case(product) => {
                    match token[product.len()..].split_first() {
                        None => self.from.is_none() && self.before.is_none(),
                        Some((b'/', version)) => self.in_range(version),
                        Some(_) => false,
                    }
                }
                _ => false,
            })
    }

    fn in_range(&self, version: &[u8]) -> bool {
        if self.from.is_none() && self.before.is_none() {
            return true;
        }
        let Some(version) = parse_version(version) else {
            return false;
        };
        self.from.is_none_or(|from| version >= from)
            && self.before.is_none_or(|before| version < before)
    }
}

/// `major[.minor[...]]`, anything after the digits ignored (`17.0.15`, `1.8.0_392`,
/// `2.32.3`, `3.11`).
fn parse_version(text: &[u8]) -> Option<Version> {
    fn number(text: &[u8]) -> Option<(u32, &[u8])> {
        let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value = text[..digits]
            .iter()
            .fold(0, |n, &b| n * 10 + u32::from(b - b'0'));
        Some((value, &text[digits..]))
    }
    let (major, rest) = number(text)?;
    let minor = match rest.split_first() {
        Some((b'.', rest)) => number(rest).map_or(0, |(minor, _)| minor),
        _ => 0,
    };
    Some((major, minor))
}

/// The date of the last review of [`KNOWN_CLIENTS`]: each entry was checked against the
/// client's behaviour on that date (the interop suite drives every one of them). Private,
/// like the list: updating the table is not an API change; users read it through
/// [`ChallengeOrder::known_clients_version`].
const KNOWN_CLIENTS_VERSION: &str = "2026-11-28";

/// The clients whose challenge order the layer adjusts by default; documented (as a
/// table) on [`ChallengeOrder::known_clients`], which must be kept in step.
const KNOWN_CLIENTS: &[ClientRule] = &[
    ClientRule::new("Python-urllib", Arrangement::Md5First).before_version(3, 14),
    ClientRule::new("libwww-perl", Arrangement::Md5First),
    ClientRule::new("python-requests", Arrangement::Sha256Last).from_version(2, 19),
    ClientRule::new("Java", Arrangement::Sha256Last).from_version(17, 0),
];

/// Decides, per request, the order of the challenges in a 401; set with
/// [`DigestLayerBuilder::challenge_order`](crate::DigestLayerBuilder::challenge_order).
///
/// The default is [`ChallengeOrder::known_clients`]. Whatever the order, the same
/// algorithms are offered, and a client that can do SHA-256 is never steered to MD5.
///
/// ```
/// use tower_digest_auth::challenge::{Arrangement, ChallengeOrder, ClientRule};
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
///
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
/// // The built-in list plus an in-house tool that answers only the first line, with MD5.
/// let order = ChallengeOrder::known_clients_and([ClientRule::new(
///     "legacy-sync",
///     Arrangement::Md5First,
/// )]);
/// let layer = DigestLayer::builder(realm, users).challenge_order(order).build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ChallengeOrder(Policy);

#[derive(Clone)]
enum Policy {
    Configured,
    Rules(Arc<[ClientRule]>),
    Custom(Arc<dyn Fn(&Parts) -> Arrangement + Send + Sync>),
}

impl ChallengeOrder {
    /// Always the configured order, for every client.
    pub fn configured() -> Self {
        ChallengeOrder(Policy::Configured)
    }

    /// The built-in list of clients that need another order: the default. As of
    /// [`known_clients_version`](Self::known_clients_version):
    ///
    /// | `User-Agent` product | versions | order | why |
    /// |---|---|---|---|
    /// | `Python-urllib` | before 3.14 | MD5 first | answers only the first line; MD5 and SHA-1 only, raises on SHA-256 |
    /// | `libwww-perl` (Perl LWP) | all | MD5 first | MD5 only; answers the first line with MD5 and retries the next after a 401 |
    /// | `python-requests` | 2.19 on | SHA-256 last | merges every line, the last one wins; SHA-256 since 2.19 |
    /// | `Java` (`HttpURLConnection`) | 17 on | SHA-256 last | the last Digest line wins; SHA-256 verified on 17 |
    ///
    /// Clients not listed (curl, Chromium, Firefox, httpx, aiohttp, wget, ...) see the
    /// configured order. The list may change in any release, as clients change; add your
    /// own rules with [`known_clients_and`](Self::known_clients_and), and ask which rule
    /// applies to a `User-Agent` with [`rule_for`](Self::rule_for).
    pub fn known_clients() -> Self {
        ChallengeOrder(Policy::Rules(Arc::from(KNOWN_CLIENTS)))
    }

    /// The built-in list ([`known_clients`](Self::known_clients)) followed by your rules:
    /// a built-in rule that matches decides first.
    pub fn known_clients_and(rules: impl IntoIterator<Item = ClientRule>) -> Self {
        ChallengeOrder::rules(KNOWN_CLIENTS.iter().cloned().chain(rules))
    }

    /// The date the built-in list was last checked against the clients' behaviour
    /// (`YYYY-MM-DD`).
    ///
    /// ```
    /// use tower_digest_auth::challenge::ChallengeOrder;
    ///
    /// assert_eq!(ChallengeOrder::known_clients_version().len(), "2026-11-28".len());
    /// ```
    pub fn known_clients_version() -> &'static str {
        KNOWN_CLIENTS_VERSION
    }

    /// The rule that decides the order for a client sending this `User-Agent` value: the
    /// first that [`matches`](ClientRule::matches) it. `None` when no rule does (the
    /// configured order), and always for [`configured`](Self::configured) and
    /// [`custom`](Self::custom), which have no rules.
    pub fn rule_for(&self, user_agent: &[u8]) -> Option<&ClientRule> {
        match &self.0 {
            Policy::Rules(rules) => rules.iter().find(|rule| rule.matches(user_agent)),
            Policy::Configured | Policy::Custom(_) => None,
        }
    }

    /// Your own list; the first rule that matches the `User-Agent` decides.
    pub fn rules(rules: impl IntoIterator<Item = ClientRule>) -> Self {
        ChallengeOrder(Policy::Rules(rules.into_iter().collect()))
    }

    /// Any decision from the request head (keep it cheap: it runs on every 401).
    pub fn custom(decide: impl Fn(&Parts) -> Arrangement + Send + Sync + 'static) -> Self {
        ChallengeOrder(Policy::Custom(Arc::new(decide)))
    }

    /// The arrangement for this request.
    pub(crate) fn arrangement(&self, parts: &Parts) -> Arrangement {
        match &self.0 {
            Policy::Configured => Arrangement::Configured,
            Policy::Rules(_) => {
                let Some(user_agent) = parts.headers.get(USER_AGENT) else {
                    return Arrangement::Configured;
                };
                self.rule_for(user_agent.as_bytes())
                    .map_or(Arrangement::Configured, ClientRule::arrangement)
            }
            Policy::Custom(decide) => decide(parts),
        }
    }
}

impl Default for ChallengeOrder {
    fn default() -> Self {
        ChallengeOrder::known_clients()
    }
}

impl fmt::Debug for ChallengeOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Policy::Configured => f.write_str("ChallengeOrder::Configured"),
            Policy::Rules(rules) => f.debug_tuple("ChallengeOrder::Rules").field(rules).finish(),
            Policy::Custom(_) => f.write_str("ChallengeOrder::Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_for(user_agent: &str) -> Arrangement {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts
            .headers
            .insert(USER_AGENT, user_agent.parse().unwrap());
        ChallengeOrder::known_clients().arrangement(&parts)
    }

    #[test]
    fn known_clients_table() {
        let cases = [
            ("Python-urllib/3.11", Arrangement::Md5First),
            ("Python-urllib/3.13", Arrangement::Md5First),
            ("Python-urllib/2.7", Arrangement::Md5First),
            ("Python-urllib/3.14", Arrangement::Configured),
            ("Python-urllib/3.15", Arrangement::Configured),
            ("libwww-perl/6.68", Arrangement::Md5First),
            ("MyApp/1.0 libwww-perl/6.77", Arrangement::Md5First),
            ("python-requests/2.32.3", Arrangement::Sha256Last),
            ("python-requests/2.19.0", Arrangement::Sha256Last),
            ("python-requests/2.18.4", Arrangement::Configured),
            ("Java/17.0.15", Arrangement::Sha256Last),
            ("Java/21", Arrangement::Sha256Last),
            ("Java/1.8.0_392", Arrangement::Configured),
            ("Java/11.0.2", Arrangement::Configured),
            ("curl/7.88.1", Arrangement::Configured),
            ("Wget/1.21.3", Arrangement::Configured),
            ("python-httpx/0.28.1", Arrangement::Configured),
            ("Python/3.11 aiohttp/3.12.15", Arrangement::Configured),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
                Arrangement::Configured,
            ),
            // Near misses: another product with the same prefix, no version where one is needed.
            ("Python-urllib3/2.0", Arrangement::Configured),
            ("Python-urllib", Arrangement::Configured),
            ("JavaScript/1.0", Arrangement::Configured),
            ("Java/x", Arrangement::Configured),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(order_for(user_agent), expected, "{user_agent}");
        }
    }

    #[test]
    fn no_user_agent_and_huge_user_agents_get_the_configured_order() {
        let (parts, ()) = http::Request::new(()).into_parts();
        assert_eq!(
            ChallengeOrder::known_clients().arrangement(&parts),
            Arrangement::Configured
        );
        let padded = format!("{} Python-urllib/3.11", "x".repeat(MAX_USER_AGENT_SCAN));
        assert_eq!(order_for(&padded), Arrangement::Configured);
    }

    #[test]
    fn versions_parse_leniently_and_never_overflow() {
        assert_eq!(parse_version(b"17.0.15"), Some((17, 0)));
        assert_eq!(parse_version(b"1.8.0_392"), Some((1, 8)));
        assert_eq!(parse_version(b"21"), Some((21, 0)));
        assert_eq!(parse_version(b"3."), Some((3, 0)));
        assert_eq!(parse_version(b"99999999999999"), None);
        assert_eq!(parse_version(b""), None);
    }

    #[test]
    fn a_bare_product_matches_only_a_rule_without_versions() {
        let any = ClientRule::new("tool", Arrangement::Md5First);
        assert!(any.matches(b"tool"));
        assert!(any.matches(b"TOOL/anything"));
        assert!(!any.matches(b"toolbox/1"));
        assert!(!any.clone().from_version(1, 0).matches(b"tool"));
    }

    #[test]
    fn rule_for_names_the_deciding_rule_and_known_clients_and_appends_after_the_table() {
        let order = ChallengeOrder::known_clients_and([
            ClientRule::new("legacy-sync", Arrangement::Md5First),
            // Shadowed: the built-in python-requests rule matches first.
            ClientRule::new("python-requests", Arrangement::Configured),
        ]);
        let product = |agent: &[u8]| order.rule_for(agent).map(|rule| rule.product.clone());
        assert_eq!(product(b"legacy-sync/1.0").as_deref(), Some("legacy-sync"));
        assert_eq!(
            order
                .rule_for(b"python-requests/2.32.3")
                .map(ClientRule::arrangement),
            Some(Arrangement::Sha256Last)
        );
        assert_eq!(product(b"curl/8.5.0"), None);
        assert!(ChallengeOrder::configured().rule_for(b"Java/17").is_none());
        assert!(
            ChallengeOrder::custom(|_| Arrangement::Md5First)
                .rule_for(b"Java/17")
                .is_none()
        );
    }

    #[test]
    fn the_table_version_is_an_iso_date() {
        let version = ChallengeOrder::known_clients_version().as_bytes();
        assert_eq!(version.len(), 10, "YYYY-MM-DD");
        for (index, byte) in version.iter().enumerate() {
            if index == 4 || index == 7 {
                assert_eq!(*byte, b'-');
            } else {
                assert!(byte.is_ascii_digit());
            }
        }
    }

    #[test]
    fn configured_and_custom_policies() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts
            .headers
            .insert(USER_AGENT, "Python-urllib/3.11".parse().unwrap());
        assert_eq!(
            ChallengeOrder::configured().arrangement(&parts),
            Arrangement::Configured
        );
        let custom = ChallengeOrder::custom(|parts| {
            if parts.uri.path().starts_with("/legacy") {
                Arrangement::Md5First
            } else {
                Arrangement::Configured
            }
        });
        assert_eq!(custom.arrangement(&parts), Arrangement::Configured);
        parts.uri = "/legacy/x".parse().unwrap();
        assert_eq!(custom.arrangement(&parts), Arrangement::Md5First);
    }
}
