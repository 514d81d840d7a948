//! The `WWW-Authenticate` challenges of a 401.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderValue;

use crate::config::Config;
use crate::nonce::ENCODED_NONCE_LEN;

/// One challenge per offered algorithm, in the configured order, each with its own nonce
/// bound to that algorithm and to `client`. They go on separate header lines: curl,
/// Chromium, requests and httpx all misread challenges joined by commas.
pub(crate) fn challenges(
    config: &Config,
    client: IpAddr,
    now: SystemTime,
    stale: bool,
) -> impl Iterator<Item = HeaderValue> + '_ {
    let suffix = config.challenge_suffix.as_str();
    let stale = if stale { ", stale=true" } else { "" };
    config
        .challenge_prefixes
        .iter()
        .map(move |(algorithm, prefix)| {
            let len = prefix.len() + ENCODED_NONCE_LEN + suffix.len() + stale.len();
            let mut value = String::with_capacity(len);
            value.push_str(prefix);
            config
                .signer
                .issue_into(*algorithm, config.epoch, client, now, &mut value);
            value.push_str(suffix);
            value.push_str(stale);
            // The realm, opaque and domain were checked for control characters when the
            // layer was built and the nonce is base64url, so the value is always valid.
            HeaderValue::try_from(value).expect("challenge is a valid header value")
        })
}
