//! Interop suite (issue 3): real clients that nobody on this team wrote — curl, Python
//! `requests` (Digest, and Basic over TLS), `httpx`, `aiohttp` and the standard library's
//! `urllib`, headless Chromium, the
//! Rust `diqwest` crate, GNU Wget, Perl's LWP, the JDK's `HttpURLConnection` and Node's
//! `digest-fetch` — plus raw
//! sockets, against the example server on an ephemeral loopback port.
//!
//! Run it with `tests/run-all.sh` (installs the clients, then `cargo test --all-features`).
//! A missing client fails its test: nothing here is skipped.
//!
//! Every success is checked against an independent digest computation: the server's
//! `Authentication-Info` `rspauth` is recomputed by `interop/digest.rs` (plain `md-5`/`sha2`),
//! and the Python scripts recompute it again with `hashlib`.
// The helper modules are private to this test crate; `pub` there only shares them between files.
#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../../examples/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../../examples/proxy.rs"]
mod proxy_example;

// The TLS example, for Basic over TLS. It loads the example server's routes as its own
// module (a second copy of `server`, whose types are its own): the example is compiled
// here as it is compiled on its own.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/tls.rs"]
mod tls;

#[path = "../../tests/common/origin.rs"]
mod origin;

#[path = "interop/digest.rs"]
mod digest;
#[path = "interop/support.rs"]
mod support;

#[path = "interop/basic.rs"]
mod basic;
#[path = "interop/chromium.rs"]
mod chromium;
#[path = "interop/curl.rs"]
mod curl;
#[path = "interop/digest_fetch.rs"]
mod digest_fetch;
#[path = "interop/java.rs"]
mod java;
#[path = "interop/logout.rs"]
mod logout;
#[path = "interop/lwp.rs"]
mod lwp;
#[path = "interop/non_ascii.rs"]
mod non_ascii;
#[path = "interop/proxy.rs"]
mod proxy;
#[path = "interop/python.rs"]
mod python;
#[path = "interop/raw.rs"]
mod raw;
#[path = "interop/rust_client.rs"]
mod rust_client;
#[path = "interop/wget.rs"]
mod wget;

/// The suite's own digest code reproduces RFC 7616 section 3.9.1, so its verdicts can be trusted.
#[test]
fn independent_digest_reproduces_the_rfc_7616_vectors() {
    use digest::{Algorithm, Hash, Inputs};
    let vector = |hash, session| Inputs {
        algorithm: Algorithm { hash, session },
        username: "Mufasa",
        realm: "http-auth@example.org",
        password: "Circle of Life",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc: "00000001",
        qop: "auth",
    };
    let uri = "/dir/index.html";
    let md5 = vector(Hash::Md5, false);
    let sha256 = vector(Hash::Sha256, false);
    assert_eq!(md5.response("GET", uri), "8ca523f5e9506fed4657c9700eebdbec");
    assert_eq!(
        sha256.response("GET", uri),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(md5.rspauth(uri), "9b712497bc9f91499fbcca1dfc5f09a5");
    assert_eq!(
        sha256.rspauth(uri),
        "86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0"
    );
    assert_eq!(
        vector(Hash::Md5, true).response("GET", uri),
        "e783283f46242139c486a698fec7211d"
    );
    assert_eq!(
        vector(Hash::Sha256, true).response("GET", uri),
        "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"
    );
}
