//! A WebDAV server behind Digest authentication: `cargo run --example webdav`.
//!
//! Serves the directory `DAV_ROOT` (default: a new directory under the system's temp
//! directory) over WebDAV with the `dav-server` crate, for the user `Mufasa` with password
//! `Circle of Life` in realm `http-auth@example.org`. `OPTIONS` passes without
//! credentials ([`unauthenticated_methods`]), because Windows' WebDAV redirector and
//! several DAV clients probe with it before they log in and give up on a 401; every other
//! method (`PROPFIND`, `GET`, `PUT`, `MKCOL`, `DELETE`, ...) needs a login.
//!
//! An `OPTIONS` without a login gets one fixed answer, whatever its path ([`probe_answer`]),
//! and never reaches dav-server: dav-server's own answer lists different methods for a
//! missing path, a file and a directory, which would let anyone map the protected tree.
//! After a login, `OPTIONS` is dav-server's.
//!
//! Environment: `ADDR` (default `127.0.0.1:4918`), `DAV_ROOT`, `DAV_OPTIONS_AUTH=on` to
//! make `OPTIONS` need a login too, `RUST_LOG`.
//!
//! ```text
//! curl --digest -u 'Mufasa:Circle of Life' -X PROPFIND -H 'Depth: 1' http://127.0.0.1:4918/
//! cadaver http://127.0.0.1:4918/
//! ```
//!
//! [`unauthenticated_methods`]: tower_digest_auth::DigestLayerBuilder::unauthenticated_methods

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Extension, Request};
use axum::response::{IntoResponse, Response};
use dav_server::DavHandler;
use dav_server::fakels::FakeLs;
use dav_server::localfs::LocalFs;
use http::{HeaderName, Method, header};
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};

/// The realm of the example.
pub const REALM: &str = "http-auth@example.org";
/// The example user's name.
pub const USERNAME: &str = "Mufasa";
/// The example user's password.
pub const PASSWORD: &str = "Circle of Life";

/// The WebDAV app over `root`; `options_pass` lets `OPTIONS` through without a login.
///
/// # Panics
/// Never: the Digest configuration is fixed and valid.
pub fn app(root: &Path, options_pass: bool) -> Router {
    let dav = DavHandler::builder()
        .filesystem(LocalFs::new(root, false, false, false))
        // Windows and macOS clients lock before they write; a fake lock system says yes.
        .locksystem(FakeLs::new())
        .build_handler();
    let users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
    let mut digest = DigestLayer::builder(REALM, users);
    if options_pass {
        digest = digest.unauthenticated_methods([Method::OPTIONS]);
    }
    Router::new()
        .fallback(handle_dav)
        .layer(Extension(dav))
        .layer(digest.build().expect("a valid Digest configuration"))
}

/// The `Allow` of [`probe_answer`]: every method this server handles somewhere.
pub const PROBE_ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, PATCH, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK";
/// The `DAV` of [`probe_answer`]: the compliance classes dav-server announces (2 with the
/// fake lock system, which Windows and macOS need before they write).
pub const PROBE_DAV: &str = "1,2,3,sabredav-partialupdate";

/// The answer to every `OPTIONS` without a login, the same for every path (a missing one,
/// a file, a directory): what the server can do, and nothing about what it holds.
pub fn probe_answer() -> Response {
    (
        [
            (header::ALLOW, PROBE_ALLOW),
            (HeaderName::from_static("dav"), PROBE_DAV),
            // Microsoft's clients look for it before they speak WebDAV.
            (HeaderName::from_static("ms-author-via"), "DAV"),
        ],
        (),
    )
        .into_response()
}

async fn handle_dav(
    Extension(dav): Extension<DavHandler>,
    user: Option<AuthenticatedUser>,
    request: Request,
) -> Response {
    // No user only on the methods that pass unauthenticated (OPTIONS here).
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        user = user.as_ref().map(AuthenticatedUser::username),
        "dav"
    );
    if user.is_none() && request.method() == Method::OPTIONS {
        return probe_answer();
    }
    dav.handle(request).await.into_response()
}

/// Serves the app on `listener` with the peer address the layer needs.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    root: &Path,
    options_pass: bool,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(root, options_pass).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let root = if let Some(root) = std::env::var_os("DAV_ROOT") {
        PathBuf::from(root)
    } else {
        let root = std::env::temp_dir().join(format!("webdav-example-{}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        root
    };
    let options_pass = std::env::var("DAV_OPTIONS_AUTH").map_or(true, |auth| auth != "on");
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:4918".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "serving {} over WebDAV at http://{} (user {USERNAME}, password {PASSWORD:?})",
        root.display(),
        listener.local_addr()?
    );
    serve(listener, &root, options_pass).await?;
    Ok(())
}
