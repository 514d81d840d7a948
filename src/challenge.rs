//! The `WWW-Authenticate` challenges of a 401.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderValue;

use crate::config::Config;

/// One challenge per offered algorithm, in the configured order, each with its own nonce
/// bound to that algorithm and to `client`. They go on separate header lines: curl,
/// Chromium, requests and httpx all misread challenges joined by commas.
pub(crate) fn challenges(
    config: &Config,
    client: IpAddr,
    now: SystemTime,
    stale: bool,
) -> impl Iterator<Item = HeaderValue> + '_ {
    config
        .challenge_parts
        .iter()
        .map(move |(algorithm, before_nonce, after_nonce)| {
            let nonce = config.signer.issue(*algorithm, client, now);
            let stale = if stale { ", stale=true" } else { "" };
            let value = [before_nonce.as_str(), &nonce, after_nonce, stale].concat();
            // The realm, opaque and domain were checked for control characters when the
            // layer was built and the nonce is base64url, so the value is always valid.
            HeaderValue::try_from(value).expect("challenge is a valid header value")
        })
}
