//! An axum server with Digest-protected routes: `cargo run --example server`.
//!
//! Realm `http-auth@example.org`, two users: `Mufasa` with password `Circle of Life` (the
//! RFC 7616 example user) and `Rafiki` with password `Mandrill`, who has the `admin` role.
//! `GET /` is public; `GET`/`POST /dir/index.html` and `GET /api/whoami` need
//! authentication; `GET /admin` needs the `admin` role: 200 (a body naming the user) for
//! Rafiki, 403 for Mufasa, 401 with challenges for everyone else. `GET /logout` (protected)
//! ends the caller's login: 401 with fresh challenges (not stale), and every later request
//! on the nonce it answered gets 401 without `stale`, so a browser asks again.
//!
//! Environment: `ADDR` (default `127.0.0.1:3000`) and `RUST_LOG`.
//!
//! Basic beside Digest: `BASIC=on` accepts (and offers) Basic only on requests that came
//! over TLS, so this plain-HTTP server never does; the TLS example (`suite/examples/tls.rs`)
//! marks its requests and honours it. `BASIC=insecure` accepts Basic over plain HTTP too,
//! for local tries: the password then crosses the network readable. Unset: Digest only.
//! Any other value stops the server at start. A Basic user's `GET /logout` ends nothing
//! (Basic has no login) and answers the same 401, which makes a browser forget the
//! password it sent.
//!
//! Several instances: `NONCE_KEY` (the nonce key as hex, at least 64 hex digits, e.g.
//! from `openssl rand -hex 32`; default a random key per process) and `REDIS_URL`
//! (`redis://127.0.0.1:6379/`, `rediss://` for TLS, or a comma list of a Redis
//! Cluster's nodes; it holds the nonces' replay state and the failed-login counts;
//! default both in memory). `REDIS_URL` needs the `redis` feature:
//! `cargo run --example server --features redis` (`redis-tls` for `rediss://`).
//! Instances with the same `NONCE_KEY` and `REDIS_URL` behave as one server.
//!
//! For tests and benchmarks only: `NONCE_LIFETIME_SECS` (default 1800), `ALGORITHMS`
//! (comma list in challenge order, default `SHA-256,MD5`), `USERHASH=on` to offer
//! `userhash=true` (clients may then send a hashed username), and `AUTH=off` to serve the
//! same routes without the layer (the benchmarks' baseline; `/admin` then fails closed
//! with a 500, as its authorizer finds no user).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_digest_auth::authorize::AuthorizeLayer;
use tower_digest_auth::basic::BasicAuth;
use tower_digest_auth::nonce::{NonceKeyHexError, NonceStore};
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, DigestLayer, EndLoginError, MemoryCredentials, NonceKey,
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
    /// Whether the challenges offer `userhash=true` (`USERHASH=on`).
    pub userhash: bool,
    /// The nonce key shared by every instance (`NONCE_KEY`); random per process if unset.
    pub nonce_key: Option<NonceKey>,
    /// The Redis holding the replay state and the failed-login counts of every instance
    /// (`REDIS_URL`); the in-memory stores if unset.
    pub redis_url: Option<String>,
    /// Basic beside Digest (`BASIC`): off, over TLS only (`on`), or also over plain HTTP
    /// (`insecure`).
    pub basic: BasicAuth,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            nonce_lifetime: tower_digest_auth::nonce::DEFAULT_NONCE_LIFETIME,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            auth: true,
            userhash: false,
            nonce_key: None,
            redis_url: None,
            basic: BasicAuth::Off,
        }
    }
}

impl ServerOptions {
    /// Reads `NONCE_LIFETIME_SECS`, `ALGORITHMS`, `USERHASH`, `AUTH`, `NONCE_KEY`,
    /// `REDIS_URL` and `BASIC` from the environment.
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
        options.userhash = match std::env::var("USERHASH").as_deref() {
            Err(_) | Ok("off") => false,
            Ok("on") => true,
            Ok(other) => return Err(format!("USERHASH must be on or off, got {other:?}")),
        };
        if let Ok(hex) = std::env::var("NONCE_KEY") {
            options.nonce_key = Some(nonce_key_from_hex(&hex)?);
        }
        if let Some(value) = std::env::var_os("BASIC") {
            options.basic = basic_from_env(&value.to_string_lossy())?;
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            if !cfg!(feature = "redis") {
                return Err(format!(
                    "REDIS_URL is set but this build has no Redis support: \
                     run `cargo run --example server --features redis`{}",
                    if url.starts_with("rediss:") {
                        " (redis-tls for rediss://)"
                    } else {
                        ""
                    }
                ));
            }
            options.redis_url = Some(url);
        }
        Ok(options)
    }
}

/// The `BASIC` setting: `on` (Basic over TLS only) or `insecure` (also over plain HTTP).
///
/// # Errors
/// A message naming the values it takes.
pub fn basic_from_env(value: &str) -> Result<BasicAuth, String> {
    match value {
        "on" => Ok(BasicAuth::OverTls),
        "insecure" => Ok(BasicAuth::AlsoPlainHttp),
        other => Err(format!(
            "BASIC must be `on` (Basic beside Digest over TLS only) or `insecure` (also over \
             plain HTTP), or unset for Digest only; got {other:?}"
        )),
    }
}

/// A nonce key from hex (what `openssl rand -hex 32` prints), at least 256 bits.
///
/// # Errors
/// A message saying what is wrong, never echoing the secret.
pub fn nonce_key_from_hex(hex: &str) -> Result<NonceKey, String> {
    NonceKey::from_hex(1, hex).map_err(|error| match error {
        NonceKeyHexError::TooShort { digits, .. } => {
            format!("NONCE_KEY must have at least 64 hex digits (256 bits), got {digits}")
        }
        _ => "NONCE_KEY must be hex digits (e.g. from `openssl rand -hex 32`)".to_owned(),
    })
}

/// The application: public `/`, protected `/dir/index.html` and `/api/whoami`, and
/// `/admin` for users with the admin role.
///
/// # Panics
/// If `options` is not a valid layer configuration (no algorithms, zero lifetime, a
/// `redis_url` that is not a Redis URL or without the `redis` feature).
pub fn app(options: ServerOptions) -> Router {
    // The authorize layer goes on first, so it runs inside the digest layer and sees the
    // authenticated user.
    let admin = Router::new()
        .route("/admin", get(admin))
        .route_layer(AuthorizeLayer::role(ADMIN_ROLE));
    let protected = Router::new()
        .route("/dir/index.html", get(index).post(echo))
        .route("/api/whoami", get(whoami))
        .route("/logout", get(logout))
        .merge(admin);
    let protected = match (options.auth, options.redis_url.clone()) {
        (false, _) => protected,
        (true, None) => protect(
            protected,
            options,
            tower_digest_auth::nonce::MemoryNonceStore::new(),
            tower_digest_auth::throttle::MemoryFailureStore::new(),
        ),
        #[cfg(feature = "redis")]
        (true, Some(url)) => {
            use tower_digest_auth::nonce::RedisNonceStore;
            use tower_digest_auth::throttle::RedisFailureStore;
            let cluster = url.contains(',');
            let nodes = || url.split(',').map(str::trim);
            let nonces = if cluster {
                RedisNonceStore::from_cluster_urls(nodes())
            } else {
                RedisNonceStore::from_url(&url)
            }
            .expect("REDIS_URL is a Redis URL")
            // Connects on first use: the server starts (and answers 500 to authenticated
            // requests) while Redis is down, and recovers when it appears.
            .build();
            // Connect now, so the first nonces already carry Redis's generation (issued
            // before, they would be answered stale once).
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let nonces = nonces.clone();
                runtime.spawn(async move {
                    if let Err(error) = nonces.connect().await {
                        tracing::warn!(%error, "redis not reachable yet; connecting on first use");
                    }
                });
            }
            // Failed logins count in the same Redis, so every instance shares one budget.
            let failures = if cluster {
                RedisFailureStore::from_cluster_urls(nodes())
            } else {
                RedisFailureStore::from_url(&url)
            }
            .expect("REDIS_URL is a Redis URL")
            .build();
            protect(protected, options, nonces, failures)
        }
        #[cfg(not(feature = "redis"))]
        (true, Some(_)) => panic!("REDIS_URL needs the redis feature"),
    };
    Router::new().route("/", get(home)).merge(protected)
}

fn protect<N: NonceStore>(
    routes: Router,
    options: ServerOptions,
    nonces: N,
    failures: impl tower_digest_auth::throttle::FailureStore,
) -> Router {
    let mut users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
    users.insert_with_roles(ADMIN_USERNAME, ADMIN_PASSWORD, [ADMIN_ROLE]);
    let mut builder = DigestLayer::builder(REALM, users)
        .algorithms(options.algorithms)
        .nonce_lifetime(options.nonce_lifetime)
        .userhash(options.userhash)
        .nonce_store(nonces)
        .throttle_store(failures)
        .basic(options.basic);
    if let Some(key) = options.nonce_key {
        builder = builder.nonce_key(key);
    }
    let layer = builder.build().expect("valid digest configuration");
    // route_layer: only the routes above are protected; unknown paths stay 404.
    routes.route_layer(layer)
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

/// Ends this client's login and answers 401: the layer adds fresh challenges, and a browser
/// drops the credentials it holds and asks again. A Basic user has no login to end; the
/// 401 is all a logout can be for it.
async fn logout(user: AuthenticatedUser) -> (axum::http::StatusCode, &'static str) {
    match user.end_login().await {
        Ok(()) | Err(EndLoginError::Basic) => {
            (axum::http::StatusCode::UNAUTHORIZED, "Logged out.\n")
        }
        Err(error) => {
            tracing::error!(%error, "logout failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Logout failed.\n",
            )
        }
    }
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
    if let Some(url) = &options.redis_url {
        // A URL may carry a password: print each node without its credentials.
        let nodes: Vec<&str> = url
            .split(',')
            .map(|node| node.rsplit('@').next().unwrap_or(node).trim())
            .collect();
        println!("nonce store: redis at {}", nodes.join(", "));
        println!("failed-login store: redis at {}", nodes.join(", "));
    }
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
    match options.basic {
        BasicAuth::AlsoPlainHttp => println!(
            "BASIC=insecure: Basic over plain HTTP too (passwords cross the network readable): \
             curl --basic -u '{USERNAME}:{PASSWORD}' http://{local}/api/whoami"
        ),
        BasicAuth::OverTls => println!(
            "BASIC=on: Basic only over TLS, which this server does not speak: \
             see the tls example"
        ),
        _ => {}
    }
    serve(listener, options).await?;
    Ok(())
}
