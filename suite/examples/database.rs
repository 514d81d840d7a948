//! A [`CredentialStore`] over a `rusqlite` database that holds HA1s, never passwords,
//! read through a connection pool and a cache: the shape to copy for your own database.
//!
//! ```text
//! cargo run --features cache --example database -- register Mufasa 'Circle of Life'
//! cargo run --features cache --example database -- serve
//! curl --digest -u 'Mufasa:Circle of Life' http://127.0.0.1:3002/
//! curl --digest -u 'Mufasa:Circle of Life' -X PUT --data-binary 'Hakuna Matata' \
//!     http://127.0.0.1:3002/password
//! ```
//!
//! Digest only needs `HA1 = H(username:realm:password)`, so registration hashes the
//! password and stores the result. An HA1 is still a secret: anyone holding it can log in
//! as that user in that realm, so guard the database file like a password database.
//!
//! Lookups go through [`CachedCredentials`]: a user who keeps sending requests costs one
//! query per minute instead of one per request. The price is that a change made behind
//! the server's back (the `register` command run while the server is up, a manual
//! `UPDATE`) is seen up to [`CACHE_TTL`] late. Changes made through the server
//! (`PUT /password`) invalidate the cache entry and take effect at once.
//!
//! `register <user>` without a password reads it from the first line of standard input,
//! which keeps it out of the shell history and the process list.
//!
//! Routes: `GET /` greets the authenticated user; `PUT /password` sets the authenticated
//! user's password to the request body (1 to 1024 bytes of UTF-8).
//!
//! Environment: `DATABASE` (default `users.db`, created on first use), `ADDR` (default
//! `127.0.0.1:3002`), `CACHE` (`off` to query the database on every request, for
//! comparison), `RUST_LOG`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{OptionalExtension, params};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::cached::CachedCredentials;
use tower_digest_auth::{AuthenticatedUser, Credential, CredentialStore, DigestLayer, Ha1};

/// The realm users register in. It is part of every HA1: changing it means every user
/// registers again.
pub const REALM: &str = "http-auth@example.org";

/// How long a looked-up user is trusted without asking the database again: the longest
/// a change made outside the server goes unnoticed.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// How many users (times hash functions, plus recently tried unknown names) the cache
/// holds.
pub const CACHE_CAPACITY: u64 = 10_000;

/// Database connections in the pool. Readers of the file do not block each other, so
/// lookups that miss the cache run in parallel up to this many; more than the machine's
/// cores buys little.
pub const POOL_SIZE: u32 = 8;

/// Every hash function gets an HA1 at registration, because it cannot be computed later
/// without the password: offering another algorithm then needs no re-registration.
const HASH_FUNCTIONS: [HashFunction; 3] = [
    HashFunction::Md5,
    HashFunction::Sha256,
    HashFunction::Sha512_256,
];

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS users (
        username  TEXT NOT NULL,
        realm     TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        ha1       TEXT NOT NULL,
        PRIMARY KEY (username, realm, algorithm)
    )";

/// The longest password `PUT /password` takes, in bytes.
const MAX_PASSWORD_LEN: usize = 1024;

/// Why the store could not answer. The layer logs it and answers 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: the file is unreadable, the table is missing, and so on.
    #[error("user database: {0}")]
    Database(#[from] rusqlite::Error),
    /// No pooled connection could be had in time, or a new one could not be opened.
    #[error("user database pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A stored HA1 is not hex of the right length (the message does not show it).
    #[error("user database holds a corrupt HA1: {0}")]
    CorruptHa1(#[from] tower_digest_auth::credentials::InvalidHa1),
    /// The blocking task running the query panicked.
    #[error("user database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Users' HA1s in a `rusqlite` database file, read through a pool of connections.
///
/// Clones share the pool. Lookups run on tokio's blocking thread pool, because rusqlite
/// blocks the calling thread on file I/O; each takes a connection from the pool for one
/// primary-key read.
#[derive(Debug, Clone)]
pub struct SqliteCredentials {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl SqliteCredentials {
    /// Opens the database at `path`, creating the file and the `users` table if needed.
    ///
    /// # Errors
    /// When the file cannot be opened or the table cannot be created.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        // A writer (registration) locks the file briefly; readers wait for it rather
        // than fail at once.
        let manager = SqliteConnectionManager::file(path)
            .with_init(|connection| connection.busy_timeout(Duration::from_secs(5)));
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            // A request waits at most this long for a connection, then gets a 500.
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        pool.get()?.execute_batch(SCHEMA)?;
        Ok(SqliteCredentials { pool })
    }

    /// Adds `username` to [`REALM`], or changes their password, storing one HA1 per hash
    /// function and nothing else.
    ///
    /// This blocks on the database: call it outside the async runtime or through
    /// `tokio::task::spawn_blocking`. A running server caches lookups: change passwords
    /// through [`Users::set_password`], which tells the cache.
    ///
    /// # Errors
    /// When writing to the database fails; then nothing is changed.
    pub fn register(&self, username: &str, password: &str) -> Result<(), StoreError> {
        let mut connection = self.pool.get()?;
        // One transaction, so a user never ends up with HA1s from two different passwords.
        let transaction = connection.transaction()?;
        for hash in HASH_FUNCTIONS {
            let ha1 = Ha1::from_password(hash, username, REALM, password);
            transaction.execute(
                "INSERT OR REPLACE INTO users (username, realm, algorithm, ha1)
                 VALUES (?1, ?2, ?3, ?4)",
                params![username, REALM, hash.name(), ha1.expose_hex()],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }
}

impl CredentialStore for SqliteCredentials {
    type Error = StoreError;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, StoreError> {
        let pool = self.pool.clone();
        let (username, realm) = (username.to_owned(), realm.to_owned());
        // Querying on the async worker thread would stall every other request it runs.
        let hex = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            Ok(pool
                .get()?
                .prepare_cached(
                    "SELECT ha1 FROM users WHERE username = ?1 AND realm = ?2 AND algorithm = ?3",
                )?
                .query_row(params![username, realm, hash.name()], |row| {
                    row.get::<_, String>(0)
                })
                .optional()?)
        })
        .await??;
        // No row is an unknown user: `None`, which the layer answers like a wrong password.
        Ok(hex.map(|hex| Ha1::from_hex(hash, &hex)).transpose()?)
    }
}

/// The users as the server sees them: the database, read through a cache (unless it is
/// turned off), and the one place that changes passwords, so the cache always hears of it.
#[derive(Debug, Clone)]
pub struct Users {
    database: SqliteCredentials,
    cache: Option<CachedCredentials<SqliteCredentials>>,
}

impl Users {
    /// Lookups through a cache of [`CACHE_CAPACITY`] entries kept for [`CACHE_TTL`].
    pub fn cached(database: SqliteCredentials) -> Self {
        let cache = CachedCredentials::builder(database.clone())
            .max_capacity(CACHE_CAPACITY)
            .ttl(CACHE_TTL)
            .build();
        Users {
            database,
            cache: Some(cache),
        }
    }

    /// Every lookup asks the database (`CACHE=off`), to compare.
    pub fn uncached(database: SqliteCredentials) -> Self {
        Users {
            database,
            cache: None,
        }
    }

    /// Changes `username`'s password in the database, then drops what the cache knows of
    /// them, so the next request is checked against the new password.
    ///
    /// # Errors
    /// When writing to the database fails; then nothing is changed.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), StoreError> {
        let database = self.database.clone();
        let (user, password) = (username.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || database.register(&user, &password)).await??;
        // After the write: a lookup that read the old row while it was under way is not
        // trusted either (see `CachedCredentials::invalidate`).
        if let Some(cache) = &self.cache {
            cache.invalidate(username);
        }
        Ok(())
    }
}

impl CredentialStore for Users {
    type Error = StoreError;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, StoreError> {
        match &self.cache {
            Some(cache) => cache.ha1(username, realm, hash).await,
            None => self.database.ha1(username, realm, hash).await,
        }
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, StoreError> {
        match &self.cache {
            Some(cache) => cache.credential(username, realm, hash).await,
            None => self.database.credential(username, realm, hash).await,
        }
    }
}

/// The application: `GET /` answers with the name of the authenticated user, `PUT
/// /password` changes their password.
///
/// # Panics
/// Never in practice: the layer's configuration is fixed and valid.
pub fn app(users: Users) -> Router {
    let digest = DigestLayer::builder(REALM, users.clone())
        .build()
        .expect("valid digest configuration");
    Router::new()
        .route("/", get(whoami))
        .route("/password", put(change_password))
        .with_state(users)
        .layer(digest)
}

/// Serves [`app`] on `listener`, giving the layer each connection's peer address.
///
/// # Errors
/// When the server fails.
pub async fn serve(listener: tokio::net::TcpListener, users: Users) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(users).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn whoami(user: AuthenticatedUser) -> String {
    format!("Hello, {}!\n", user.username())
}

/// Sets the authenticated user's password to the request body. The layer has checked
/// the old password already: that is what authenticated the request.
async fn change_password(
    State(users): State<Users>,
    user: AuthenticatedUser,
    password: String,
) -> (StatusCode, &'static str) {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be the new password, 1 to 1024 bytes\n",
        );
    }
    match users.set_password(user.username(), &password).await {
        Ok(()) => (StatusCode::OK, "password changed\n"),
        Err(error) => {
            tracing::error!(%error, "changing a password failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "password not changed\n")
        }
    }
}

const USAGE: &str = "usage: database register <username> [<password>] | database serve";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let path = std::env::var("DATABASE").unwrap_or_else(|_| "users.db".to_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["register", username] => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            SqliteCredentials::open(&path)?.register(username, password)?;
            println!("registered {username} in {path}");
        }
        ["register", username, password] => {
            SqliteCredentials::open(&path)?.register(username, password)?;
            println!("registered {username} in {path}");
        }
        ["serve"] => {
            let database = SqliteCredentials::open(&path)?;
            let users = match std::env::var("CACHE").as_deref() {
                Ok("off") => Users::uncached(database),
                Ok("on") | Err(_) => Users::cached(database),
                Ok(other) => return Err(format!("CACHE={other}: expected on or off").into()),
            };
            let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".to_owned());
            // Registration needs no runtime; only serving does.
            tokio::runtime::Runtime::new()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(&addr).await?;
                let local = listener.local_addr()?;
                println!("serving users of {path} on http://{local}");
                println!("try: curl --digest -u 'Mufasa:Circle of Life' http://{local}/");
                serve(listener, users).await
            })?;
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    Ok(())
}
