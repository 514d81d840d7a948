//! The Digest client (`tower_digest_auth::client`, issue 19) against real servers on
//! loopback ports: Apache httpd's `mod_auth_digest`, lighttpd's `mod_auth`, Squid's
//! Digest proxy authentication, and this crate's own example server and proxy. Against each
//! it logs in, reuses its nonce, recovers from `stale=true`, and hands back the final
//! refusal for a wrong password; a tampered `rspauth` is an error.
//!
//! The client under test is hyper-util's legacy client with `DigestClientLayer` on it, and a
//! recorder between the two (`client_interop/support.rs`), so each test sees every exchange
//! on the wire. The servers run as their own processes with configs written to temp dirs,
//! stopped when the test ends; `tests/client-interop-setup.sh` (run by `tests/run-all.sh`)
//! installs them. A missing server fails its test: nothing here is skipped.
// The helper modules are private to this test crate; `pub` there only shares them between files.
#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../../examples/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../../examples/proxy.rs"]
mod proxy_example;

#[path = "../../tests/common/origin.rs"]
mod origin;

#[path = "client_interop/support.rs"]
mod support;

#[path = "client_interop/apache.rs"]
mod apache;
#[path = "client_interop/example_proxy.rs"]
mod example_proxy;
#[path = "client_interop/example_server.rs"]
mod example_server;
#[path = "client_interop/lighttpd.rs"]
mod lighttpd;
#[path = "client_interop/squid.rs"]
mod squid;
