//! An axum server with Digest-protected routes: `cargo run --example server`.
//!
//! Realm `http-auth@example.org`, two users: `Mufasa` with password `Circle of Life` (the
//! RFC 7616 example user) and `Rafiki` with password `Mandrill`, who has the `admin` role.
//! `GET /` is public; `GET`/`POST /dir/index.html` and `GET /api/whoami` need
//! authentication; `GET /admin` needs the `admin` role: 200 (a body naming the user) for
//! Rafiki, 403 for Mufasa, 401 with challenges for everyone else.
//!
//! Environment: `ADDR` (default `127.0.0.1:3000`), `NONCE_LIFETIME_SECS` (default 1800),
//! `ALGORITHMS` (comma list in challenge order, default `SHA-256,MD5`), `AUTH=off` to
//! serve the same routes without the layer (the benchmarks' baseline; `/admin` then fails
//! closed with a 500, as its authorizer finds no user), `RUST_LOG`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, AuthorizeLayer, DigestLayer, MemoryCredentials,
};

/// The realm, user and password of the example.
pub const REALM: &str = "http-auth@example.org";
/// The example user's name.
pub const USERNAME: &str = "Mufasa";
/// The example user's password.
pub const PASSWORD: &str = "Circle of Life";
/// The admin user's name; only this user has [`ADMIN_ROLE`].
pub const ADMIN_USERNAME: &str = "Rafiki";
/// The admin user's password.
pub const ADMIN_PASSWORD: &str = "Mandrill";
/// The role `/admin` requires.
pub const ADMIN_ROLE: &str = "admin";
/// The body of `/dir/index.html`.
pub const INDEX_BODY: &str = "<!doctype html><title>index</title><p>You are in.</p>\n";

/// What varies between runs of the example (and between tests).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a nonce is accepted.
    pub nonce_lifetime: Duration,
    /// The algorithms offered, in challenge order.
    pub algorithms: Vec<Algorithm>,
    /// Whether the protected routes are protected (off only for benchmark baselines).
    pub auth: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            nonce_lifetime: tower_digest_auth::DEFAULT_NONCE_LIFETIME,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            auth: true,
        }
    }
}

impl ServerOptions {
    /// Reads `NONCE_LIFETIME_SECS`, `ALGORITHMS` and `AUTH` from the environment.
    ///
    /// # Errors
    /// A message naming the variable that does not parse.
    pub fn from_env() -> Result<Self, String> {
        let mut options = ServerOptions::default();
        if let Ok(secs) = std::env::var("NONCE_LIFETIME_SECS") {
            let secs: u64 = secs
                .parse()
                .map_err(|_| format!("NONCE_LIFETIME_SECS is not a number: {secs:?}"))?;
            options.nonce_lifetime = Duration::from_secs(secs);
        }
        if let Ok(list) = std::env::var("ALGORITHMS") {
            options.algorithms = list
                .split(',')
                .map(|name| {
                    Algorithm::from_name(name.trim().as_bytes())
                        .ok_or_else(|| format!("ALGORITHMS: unknown algorithm {name:?}"))
                })
                .collect::<Result<_, _>>()?;
        }
        options.auth = std::env::var("AUTH").map_or(true, |auth| auth != "off");
        Ok(options)
    }
}

/// The application: public `/`, protected `/dir/index.html` and `/api/whoami`, and
/// `/admin` for users with the admin role.
///
/// # Panics
/// If `options` is not a valid layer configuration (no algorithms, zero lifetime).
pub fn app(options: ServerOptions) -> Router {
    // The authorize layer goes on first, so it runs inside the digest layer and sees the
    // authenticated user.
    let admin = Router::new()
        .route("/admin", get(admin))
        .route_layer(AuthorizeLayer::role(ADMIN_ROLE));
    let protected = Router::new()
        .route("/dir/index.html", get(index).post(echo))
        .route("/api/whoami", get(whoami))
        .merge(admin);
    let protected = if options.auth {
        let mut users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
        users.insert_with_roles(ADMIN_USERNAME, ADMIN_PASSWORD, [ADMIN_ROLE]);
        let layer = DigestLayer::builder(REALM, users)
            .algorithms(options.algorithms)
            .nonce_lifetime(options.nonce_lifetime)
            .build()
            .expect("valid digest configuration");
        // route_layer: only the routes above are protected; unknown paths stay 404.
        protected.route_layer(layer)
    } else {
        protected
    };
    Router::new().route("/", get(home)).merge(protected)
}

/// Serves [`app`] on `listener`, giving the layer each connection's peer address.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: ServerOptions,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(options).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn home() -> &'static str {
    "Public page. Try /dir/index.html or /api/whoami as Mufasa / Circle of Life.\n"
}

async fn index() -> axum::response::Html<&'static str> {
    axum::response::Html(INDEX_BODY)
}

async fn echo(user: AuthenticatedUser, body: String) -> String {
    format!("{} posted {} bytes\n", user.username(), body.len())
}

async fn whoami(user: AuthenticatedUser) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "username": user.username() }))
}

async fn admin(user: AuthenticatedUser) -> String {
    format!("Welcome, {}: you are an admin.\n", user.username())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let options = ServerOptions::from_env()?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local}");
    println!(
        "try: curl --digest -u '{USERNAME}:{PASSWORD}' http://{local}/api/whoami{}",
        if options.auth {
            ""
        } else {
            "   (AUTH=off: no authentication)"
        }
    );
    serve(listener, options).await?;
    Ok(())
}
