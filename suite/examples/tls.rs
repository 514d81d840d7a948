//! The example server's routes over HTTPS, HTTP/1.1 and HTTP/2: `cargo run --example tls`.
//!
//! Same realm, user (`Mufasa` / `Circle of Life`) and routes as `examples/server.rs`. Each
//! connection is a TLS handshake (rustls) offering ALPN `h2` and `http/1.1`, then hyper-util's
//! automatic builder, which serves whichever protocol the client speaks.
//!
//! The layer binds nonces to the client's IP, so the peer address must reach it: with a
//! hand-written accept loop nothing puts it there, and each request gets axum's
//! `ConnectInfo<SocketAddr>` inserted here (a [`PeerAddr`](tower_digest_auth::PeerAddr)
//! would do as well). Without it the layer answers 500.
//!
//! Over HTTP/2 the request target reaches the layer in absolute form
//! (`https://127.0.0.1:3443/api/whoami`, from the `:scheme`, `:authority` and `:path`
//! pseudo-headers) and there is usually no `Host` header, while clients sign only the path:
//! the layer compares the path and query, so nothing needs configuring.
//!
//! Environment:
//! - `ADDR`: where to listen (default `127.0.0.1:3443`).
//! - `TLS_CERT` and `TLS_KEY`: PEM files, the certificate chain and its private key. Both or
//!   neither: without them a self-signed certificate for `localhost`, `127.0.0.1` and `::1`
//!   is generated at start and written (certificate only) to `TLS_CERT_OUT` (default
//!   `tower-digest-auth-tls-example.pem` in the temporary directory), for
//!   `curl --cacert` or a browser to trust.
//! - `NONCE_LIFETIME_SECS`, `ALGORITHMS`, `USERHASH`, `AUTH`, `RUST_LOG`: as for
//!   `examples/server.rs`.
//! - `BASIC`: as for `examples/server.rs`. Every request here carries a
//!   [`TlsConnection`](tower_digest_auth::basic::TlsConnection), so `BASIC=on` takes Basic
//!   beside Digest: `curl --cacert ... --basic -u 'Rafiki:Mandrill' https://localhost:3443/admin`.
//!
//! Try: `curl --cacert /tmp/tower-digest-auth-tls-example.pem --http2 --digest
//! -u 'Mufasa:Circle of Life' https://localhost:3443/api/whoami`.
//!
//! Plain-text HTTP/2 (h2c) is the `server` example's business: it serves h2c with prior
//! knowledge; an HTTP/1.1 request asking for `Upgrade: h2c` gets an ordinary HTTP/1.1
//! answer (RFC 9113 deprecates that upgrade). curl 7.88 cannot send a second request on an
//! h2c prior-knowledge connection, so `curl --http2-prior-knowledge --digest` stops at the
//! first 401 against any server; see the README's "TLS and HTTP/2" section.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_digest_auth::basic::{BasicAuth, TlsConnection};

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/server.rs"]
mod server;

pub use server::{PASSWORD, ServerOptions, USERNAME, app};

/// A client that connects and never finishes its handshake must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Nor one that trickles a request head in (hyper enforces this only when given a timer).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its key, ready for [`tls_config`].
#[derive(Debug)]
pub struct Identity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`; its PEM
    /// text is returned too, for clients to trust.
    ///
    /// # Errors
    /// When key generation or signing fails.
    pub fn self_signed() -> Result<(Identity, String), rcgen::Error> {
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let certified = rcgen::generate_simple_self_signed(names)?;
        let pem = certified.cert.pem();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let identity = Identity {
            chain: vec![certified.cert.der().clone()],
            key: key.into(),
        };
        Ok((identity, pem))
    }

    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// When a file cannot be read or holds no certificate or key.
    pub fn from_pem_files(
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Identity, rustls::pki_types::pem::Error> {
        let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(rustls::pki_types::pem::Error::NoItemsFound);
        }
        let key = PrivateKeyDer::from_pem_file(key)?;
        Ok(Identity { chain, key })
    }
}

/// The server side of TLS: ring as the crypto provider, TLS 1.2 and 1.3, and ALPN offering
/// HTTP/2 first. Without `h2` in the ALPN list, browsers and curl stay on HTTP/1.1.
///
/// # Errors
/// When the key does not match the certificate or is of an unsupported kind.
pub fn tls_config(identity: Identity) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener`, one task per connection, each request carrying its
/// connection's peer address and the [`TlsConnection`] mark (which `BASIC=on` needs).
///
/// # Errors
/// When accepting a connection fails.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%error, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // What axum::serve does for `into_make_service_with_connect_info`, by hand, and
            // the word only this loop can give: the request came over TLS.
            let service = app.map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(TlsConnection);
                request
            });
            // HTTP/1.1 or HTTP/2, told apart by the connection preface (which matches the
            // protocol ALPN chose, since clients follow it).
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await;
            if let Err(error) = connection {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
        });
    }
}

/// Where a generated certificate goes when `TLS_CERT_OUT` is not set.
pub fn default_cert_out() -> PathBuf {
    std::env::temp_dir().join("tower-digest-auth-tls-example.pem")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3443".to_owned());
    let options = ServerOptions::from_env()?;
    let (identity, ca_file) = match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => (Identity::from_pem_files(&cert, key)?, PathBuf::from(cert)),
        (None, None) => {
            let (identity, pem) = Identity::self_signed()?;
            let out = std::env::var_os("TLS_CERT_OUT").map_or_else(default_cert_out, PathBuf::from);
            std::fs::write(&out, pem)?;
            println!("self-signed certificate written to {}", out.display());
            (identity, out)
        }
        _ => return Err("set both TLS_CERT and TLS_KEY, or neither".into()),
    };
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("listening on https://{local} (HTTP/1.1 and HTTP/2)");
    println!(
        "try: curl --cacert {} --http2 --digest -u '{USERNAME}:{PASSWORD}' https://{local}/api/whoami",
        ca_file.display()
    );
    if options.basic != BasicAuth::Off {
        println!(
            "Basic too: curl --cacert {} --basic -u '{USERNAME}:{PASSWORD}' https://{local}/api/whoami",
            ca_file.display()
        );
    }
    serve_tls(listener, tls_config(identity)?, app(options)).await?;
    Ok(())
}
