//! A route protected by an Apache htdigest file, picked up again whenever it changes.
//!
//! ```text
//! cargo install --path . --features htdigest-tool      # the tower-htdigest tool
//! tower-htdigest create users.htdigest http-auth@example.org Mufasa
//! HTDIGEST_FILE=users.htdigest cargo run --features htdigest --example htdigest
//! curl --digest -u 'Mufasa:Circle of Life' http://127.0.0.1:3003/
//! tower-htdigest add users.htdigest http-auth@example.org Rafiki   # while it runs
//! curl --digest -u 'Rafiki:Mandrill' http://127.0.0.1:3003/
//! ```
//!
//! The file may be the one Apache or nginx already uses (`AuthUserFile`): lines of other
//! realms are ignored. It is watched, and reloaded on `SIGHUP` too; a broken, emptied or
//! deleted file keeps the users loaded before (see the log).
//!
//! Environment: `HTDIGEST_FILE` (default `users.htdigest`), `HTDIGEST_REALM` (default
//! `http-auth@example.org`), `ADDR` (default `127.0.0.1:3003`), `RUST_LOG`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tower_digest_auth::credentials::htdigest::HtdigestFile;
use tower_digest_auth::{AuthenticatedUser, DigestLayer};

/// The realm, unless `HTDIGEST_REALM` names another: it must be the realm of the file's
/// lines, since every `HA1` hashes it in.
pub const REALM: &str = "http-auth@example.org";

/// The app: `/` greets the authenticated user.
///
/// # Panics
/// Never in practice: the layer's configuration is fixed and valid.
pub fn app(users: HtdigestFile) -> Router {
    let realm = users.realm().to_owned();
    let digest = DigestLayer::builder(realm, users)
        .build()
        .expect("valid digest configuration");
    Router::new().route("/", get(whoami)).layer(digest)
}

/// Serves [`app`] on `listener`, giving the layer each connection's peer address.
///
/// # Errors
/// When the server fails.
pub async fn serve(listener: tokio::net::TcpListener, users: HtdigestFile) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(users).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn whoami(user: AuthenticatedUser) -> String {
    format!("Hello, {}!\n", user.username())
}

/// Reloads the file on each `SIGHUP`, for deployments that signal rather than rely on
/// the watcher (a file on a network share, say, where change events may not arrive).
fn reload_on_sighup(users: HtdigestFile) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match users.reload() {
                Ok(now) => tracing::info!(users = now.len(), "reloaded on SIGHUP"),
                Err(error) => tracing::warn!(%error, "SIGHUP: keeping the users loaded before"),
            }
        }
    });
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let path = std::env::var("HTDIGEST_FILE").unwrap_or_else(|_| "users.htdigest".to_owned());
    let realm = std::env::var("HTDIGEST_REALM").unwrap_or_else(|_| REALM.to_owned());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3003".to_owned());

    // Fails at start on a missing or broken file: better than serving nobody.
    let users = HtdigestFile::watch(&path, realm)?;
    reload_on_sighup(users.clone())?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!(
        "serving the {} users of {path} (realm {}) on http://{local}",
        users.len(),
        users.realm()
    );
    serve(listener, users).await?;
    Ok(())
}
