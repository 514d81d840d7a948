//! A Digest client over hyper: fetches one URL as a user and prints the status and body.
//!
//! ```text
//! URL=http://127.0.0.1:3000/api/whoami USER=Mufasa PASSWORD='Circle of Life' \
//!     cargo run --example client --features client
//! ```
//!
//! Environment: `URL` (default `http://127.0.0.1:3000/api/whoami`, the example server's),
//! `USER` and `PASSWORD` (default the example server's `Mufasa`, `Circle of Life`), and
//! `REPEAT` (default 1): how many times to fetch it, to see the later requests reuse the
//! nonce without a 401 (`RUST_LOG` has nothing to show: the client does not log).
//!
//! The client is hyper-util's `Client` with one `.layer(...)`: it answers a 401 (or a
//! proxy's 407) with the strongest Digest challenge, retries once, checks the server's
//! `rspauth`, and remembers the nonce for the next request to the same server.

use std::env;
use std::process::ExitCode;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_digest_auth::client::DigestClientLayer;

#[tokio::main]
async fn main() -> ExitCode {
    let setting = |name: &str, default: &str| env::var(name).unwrap_or_else(|_| default.to_owned());
    let url = setting("URL", "http://127.0.0.1:3000/api/whoami");
    let user = setting("USER", "Mufasa");
    let password = setting("PASSWORD", "Circle of Life");
    let Ok(repeat) = setting("REPEAT", "1").parse::<u32>() else {
        eprintln!("REPEAT must be a number");
        return ExitCode::FAILURE;
    };

    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let client = DigestClientLayer::new(user, password).layer(http);
    for _ in 0..repeat {
        let request = match http::Request::get(&url).body(Empty::new()) {
            Ok(request) => request,
            Err(error) => {
                eprintln!("bad URL {url:?}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let response = match client.clone().oneshot(request).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("request failed: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("{}", response.status());
        match response.into_body().collect().await {
            Ok(body) => println!("{}", String::from_utf8_lossy(&body.to_bytes())),
            Err(error) => {
                eprintln!("reading the body failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
