//! Digest authentication on a bare hyper server, without axum: `cargo run --example hyper`.
//!
//! Realm `http-auth@example.org`, one user `Mufasa` with password `Circle of Life`. Every
//! path is protected and answers with the authenticated user's name.
//!
//! The layer binds each nonce to the client's IP address, so it must know which address a
//! request came from. axum passes it along as `ConnectInfo`; with hyper, wrap the service
//! for each accepted connection so that every request carries a
//! [`PeerAddr`](tower_digest_auth::PeerAddr) in its extensions.
//!
//! Environment: `ADDR` (default `127.0.0.1:3001`), `RUST_LOG`.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials, PeerAddr};

/// The realm of the example.
pub const REALM: &str = "http-auth@example.org";
/// The example user's name.
pub const USERNAME: &str = "Mufasa";
/// The example user's password.
pub const PASSWORD: &str = "Circle of Life";

/// Serves Digest-protected [`whoami`] on `listener`, one task per connection.
///
/// # Errors
/// When accepting a connection fails.
///
/// # Panics
/// Never in practice: the layer's configuration is fixed and valid.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
    // Built once, cloned per connection: all connections must share the nonce key and
    // the record of used nonces, or a nonce issued on one connection would be refused
    // (or replayable) on the next one.
    let digest = DigestLayer::builder(REALM, users)
        .build()
        .expect("valid digest configuration");

    loop {
        let (stream, peer) = listener.accept().await?;
        let service = ServiceBuilder::new()
            // Without the peer address the layer refuses every request with a 500.
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                request
            })
            .layer(digest.clone())
            .service_fn(whoami);

        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
        });
    }
}

/// The protected service: says who the layer authenticated.
async fn whoami(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Missing only if this service were served without the DigestLayer in front.
    let Some(user) = request.extensions().get::<AuthenticatedUser>() else {
        let mut response = Response::new(Full::from("not authenticated\n"));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(response);
    };
    Ok(Response::new(Full::from(format!("{}\n", user.username()))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local}");
    println!("try: curl --digest -u '{USERNAME}:{PASSWORD}' http://{local}/");
    serve(listener).await?;
    Ok(())
}
