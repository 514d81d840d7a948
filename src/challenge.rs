//! The `WWW-Authenticate` challenges of a 401, and which one a client sees first (or
//! last): [`ChallengeOrder`], chosen per request from the client's `User-Agent` by
//! [`ClientRule`]s.
//!
//! Clients do not agree on which of several `WWW-Authenticate: Digest` lines they answer:
//! curl, Chromium, httpx and aiohttp take the first one they support; Python's stdlib
//! `urllib` (before 3.14) takes the first line and gives up if it cannot do its algorithm;
//! `requests` and the JDK's `HttpURLConnection` take the last. One fixed order cannot give
//! every client the strongest algorithm it supports, so the layer may rearrange the
//! configured challenges for the clients that need it. It never changes *which*
//! algorithms are offered, only their order, and only for a client that names itself.
//!
//! A `User-Agent` is the client's own claim. A client that lies about it can only make
//! itself see a different order of the same offers, and every nonce stays bound to the
//! algorithm of its challenge, so nothing is gained by lying; an attacker in the middle who
//! can rewrite headers can already strip challenges, which is why TLS stays a requirement.
//!
//! ```
//! use tower_digest_auth::challenge::{Arrangement, ChallengeOrder};
//!
//! // The built-in rules put MD5 first for Python's urllib before 3.14...
//! let order = ChallengeOrder::known_clients();
//! let rule = order.rule_for(b"Python-urllib/3.11").expect("a known client");
//! assert_eq!(rule.arrangement(), Arrangement::Md5First);
//! // ...and leave curl with the configured order.
//! assert!(order.rule_for(b"curl/8.5.0").is_none());
//! ```

mod order;

pub use order::{Arrangement, ChallengeOrder, ClientRule};

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderValue;

use crate::config::Config;
use crate::hash::Algorithm;
use crate::nonce::ENCODED_NONCE_LEN;

/// One challenge per offered algorithm, in the configured order as `arrangement` adjusts
/// it, each with its own nonce bound to that algorithm and to `client`, then (`basic`,
/// where the layer accepts Basic on this request) the Basic challenge, always last: a
/// client that takes the first challenge it supports must find Digest first. They go on
/// separate header lines: curl, Chromium, requests and httpx all misread challenges
/// joined by commas.
pub(crate) fn challenges(
    config: &Config,
    client: IpAddr,
    now: SystemTime,
    stale: bool,
    arrangement: Arrangement,
    basic: bool,
) -> impl Iterator<Item = HeaderValue> + '_ {
    let suffix = config.challenge_suffix.as_str();
    let stale = if stale { ", stale=true" } else { "" };
    let epochs = &*config.epochs;
    let basic = config
        .basic
        .as_ref()
        .filter(|_| basic)
        .map(|basic| basic.challenge().clone());
    let digest =
        arranged(&config.challenge_prefixes, arrangement).map(move |(algorithm, prefix)| {
            let len = prefix.len() + ENCODED_NONCE_LEN + suffix.len() + stale.len();
            let mut value = String::with_capacity(len);
            value.push_str(prefix);
            config
                .signer
                .issue_into(*algorithm, epochs.current(), client, now, &mut value);
            value.push_str(suffix);
            value.push_str(stale);
            // The realm, opaque and domain were checked for control characters when the
            // layer was built and the nonce is base64url, so the value is always valid.
            HeaderValue::try_from(value).expect("challenge is a valid header value")
        });
    digest.chain(basic)
}

/// The same items, with one moved to the front or the back; when the algorithm to move
/// is not offered, the configured order (the set of offers never changes).
fn arranged<T>(
    offers: &[(Algorithm, T)],
    arrangement: Arrangement,
) -> impl Iterator<Item = &(Algorithm, T)> {
    let position = |wanted| {
        offers
            .iter()
            .position(|(algorithm, _)| *algorithm == wanted)
    };
    let (first, last) = match arrangement {
        Arrangement::Configured => (None, None),
        Arrangement::Md5First => (position(Algorithm::Md5), None),
        Arrangement::Sha256Last => (None, position(Algorithm::Sha256)),
    };
    first
        .into_iter()
        .chain((0..offers.len()).filter(move |&index| Some(index) != first && Some(index) != last))
        .chain(last)
        .map(|index| &offers[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(configured: &[Algorithm], arrangement: Arrangement) -> Vec<Algorithm> {
        let offers: Vec<_> = configured.iter().map(|&a| (a, ())).collect();
        arranged(&offers, arrangement).map(|(a, ())| *a).collect()
    }

    #[test]
    fn arrangements_move_one_offer_and_keep_the_set() {
        use Algorithm::{Md5, Md5Sess, Sha256, Sha512_256};
        let default = [Sha256, Md5];
        assert_eq!(order(&default, Arrangement::Configured), [Sha256, Md5]);
        assert_eq!(order(&default, Arrangement::Md5First), [Md5, Sha256]);
        assert_eq!(order(&default, Arrangement::Sha256Last), [Md5, Sha256]);
        let many = [Sha512_256, Sha256, Md5Sess, Md5];
        assert_eq!(
            order(&many, Arrangement::Md5First),
            [Md5, Sha512_256, Sha256, Md5Sess]
        );
        assert_eq!(
            order(&many, Arrangement::Sha256Last),
            [Sha512_256, Md5Sess, Md5, Sha256]
        );
        // Nothing to move: the configured order.
        assert_eq!(order(&[Sha256], Arrangement::Md5First), [Sha256]);
        assert_eq!(order(&[Md5], Arrangement::Sha256Last), [Md5]);
        assert_eq!(order(&[Md5, Sha256], Arrangement::Md5First), [Md5, Sha256]);
    }
}
