//! A [`CredentialStore`] over a `rusqlite` database that holds HA1s, never passwords.
//!
//! ```text
//! cargo run --example database -- register Mufasa 'Circle of Life'
//! cargo run --example database -- serve
//! curl --digest -u 'Mufasa:Circle of Life' http://127.0.0.1:3002/
//! ```
//!
//! Digest only needs `HA1 = H(username:realm:password)`, so registration hashes the
//! password and stores the result. An HA1 is still a secret: anyone holding it can log in
//! as that user in that realm, so guard the database file like a password database.
//!
//! `register <user>` without a password reads it from the first line of standard input,
//! which keeps it out of the shell history and the process list.
//!
//! Environment: `DATABASE` (default `users.db`, created on first use), `ADDR` (default
//! `127.0.0.1:3002`), `RUST_LOG`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::routing::get;
use rusqlite::{Connection, OptionalExtension, params};
use tower_digest_auth::{AuthenticatedUser, CredentialStore, DigestLayer, Ha1, HashFunction};

/// The realm users register in. It is part of every HA1: changing it means every user
/// registers again.
pub const REALM: &str = "http-auth@example.org";

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

/// Why the store could not answer. The layer logs it and answers 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: the file is unreadable, the table is missing, and so on.
    #[error("user database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored HA1 is not hex of the right length (the message does not show it).
    #[error("user database holds a corrupt HA1: {0}")]
    CorruptHa1(#[from] tower_digest_auth::InvalidHa1),
    /// The blocking task running the query panicked.
    #[error("user database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Users' HA1s in a `rusqlite` database file.
///
/// Clones share one connection behind a mutex: a lookup is a single primary-key read, so
/// they queue briefly at most (a connection pool is the next step if they contend).
/// Lookups run on tokio's blocking thread pool, because rusqlite blocks the calling
/// thread on file I/O.
#[derive(Debug, Clone)]
pub struct SqliteCredentials {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteCredentials {
    /// Opens the database at `path`, creating the file and the `users` table if needed.
    ///
    /// # Errors
    /// When the file cannot be opened or the table cannot be created.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteCredentials {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Adds `username` to [`REALM`], or changes their password, storing one HA1 per hash
    /// function and nothing else.
    ///
    /// This blocks on the database: call it outside the async runtime or through
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    /// When writing to the database fails; then nothing is changed.
    pub fn register(&self, username: &str, password: &str) -> Result<(), StoreError> {
        let mut connection = self.lock();
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

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held leaves nothing half-done: SQLite rolls back an
        // unfinished transaction when it is dropped. So a poisoned lock is still usable.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        let store = self.clone();
        let (username, realm) = (username.to_owned(), realm.to_owned());
        // Querying on the async worker thread would stall every other request it runs.
        let hex = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .prepare_cached(
                    "SELECT ha1 FROM users WHERE username = ?1 AND realm = ?2 AND algorithm = ?3",
                )?
                .query_row(params![username, realm, hash.name()], |row| {
                    row.get::<_, String>(0)
                })
                .optional()
        })
        .await??;
        // No row is an unknown user: `None`, which the layer answers like a wrong password.
        Ok(hex.map(|hex| Ha1::from_hex(hash, &hex)).transpose()?)
    }
}

/// The application: `/` answers with the name of the authenticated user.
///
/// # Panics
/// Never in practice: the layer's configuration is fixed and valid.
pub fn app(store: SqliteCredentials) -> Router {
    let digest = DigestLayer::builder(REALM, store)
        .build()
        .expect("valid digest configuration");
    Router::new().route("/", get(whoami)).layer(digest)
}

/// Serves [`app`] on `listener`, giving the layer each connection's peer address.
///
/// # Errors
/// When the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: SqliteCredentials,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(store).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn whoami(user: AuthenticatedUser) -> String {
    format!("Hello, {}!\n", user.username())
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
            let store = SqliteCredentials::open(&path)?;
            let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".to_owned());
            // Registration needs no runtime; only serving does.
            tokio::runtime::Runtime::new()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(&addr).await?;
                let local = listener.local_addr()?;
                println!("serving users of {path} on http://{local}");
                println!("try: curl --digest -u 'Mufasa:Circle of Life' http://{local}/");
                serve(listener, store).await
            })?;
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    Ok(())
}
