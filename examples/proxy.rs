//! A forward HTTP proxy behind Digest proxy authentication: `cargo run --example proxy`.
//!
//! Realm `http-auth@example.org`, one user `Mufasa` with password `Circle of Life`. The
//! layer runs in proxy mode ([`AuthMode::Proxy`]): a request without valid
//! `Proxy-Authorization` gets `407 Proxy Authentication Required` with one
//! `Proxy-Authenticate` challenge per algorithm; a success carries
//! `Proxy-Authentication-Info`, and the proxy's credentials never reach the next hop.
//!
//! What it forwards, once the client has authenticated:
//! - absolute-form `GET` and `POST` requests (`GET http://127.0.0.1:8080/x HTTP/1.1`, what
//!   clients send to a proxy) to **loopback targets only**: `127.0.0.0/8`, `[::1]` (also
//!   written as IPv4-mapped `[::ffff:127.0.0.1]`) and `localhost`. The host must be one of
//!   these literally; no name is ever resolved, so `127.0.0.1.nip.io`, userinfo tricks
//!   (`http://127.0.0.1@example.org/`) and numeric forms like `2130706433` are refused.
//!   Everything else (another host, `https://`, an origin-form request) gets **403**, so
//!   this example can never become an open proxy;
//! - any other method, `CONNECT` included (https through the proxy), gets **405** with
//!   `Allow: GET, POST`: the layer authenticates a `CONNECT` against its `host:port`
//!   (what clients sign for it), but tunnels are more than an example should carry.
//!
//! Hop-by-hop headers (`Connection` and those it names, `Keep-Alive`, `Proxy-Connection`,
//! `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authorization`,
//! `Proxy-Authenticate`) are removed both ways. Bodies are bounded: 1 MiB from the client
//! (413 beyond), 8 MiB from the target (502 beyond); a target that does not connect in 5 s
//! or answer in 30 s is a 502, as is one that fails.
//!
//! Environment: `ADDR` (default `127.0.0.1:3128`), `RUST_LOG`.
//!
//! Try: `curl --proxy-digest -U 'Mufasa:Circle of Life' -x http://127.0.0.1:3128
//! http://127.0.0.1:3000/` (with anything listening on port 3000, such as
//! `cargo run --example server`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::Scheme;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_digest_auth::{AuthMode, DigestLayer, MemoryCredentials, PeerAddr};

/// The realm of the example.
pub const REALM: &str = "http-auth@example.org";
/// The example user's name.
pub const USERNAME: &str = "Mufasa";
/// The example user's password.
pub const PASSWORD: &str = "Circle of Life";

/// The largest request body forwarded.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// The largest response body relayed.
pub const MAX_RESPONSE_BODY: usize = 8 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that trickles a request head in must not hold a task forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// Serves the proxy on `listener`, one task per connection.
///
/// # Errors
/// When accepting a connection fails.
///
/// # Panics
/// Never in practice: the layer's configuration is fixed and valid.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
    // One layer for all connections: they share the nonce key and the replay record.
    let digest = DigestLayer::builder(REALM, users)
        .mode(AuthMode::Proxy)
        .build()
        .expect("valid digest configuration");

    loop {
        let (stream, peer) = listener.accept().await?;
        let service = ServiceBuilder::new()
            // Nonces are bound to the client's address: without it, every request is a 500.
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                request
            })
            .layer(digest.clone())
            .service_fn(forward);
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
        });
    }
}

/// Runs behind the layer, so only for authenticated clients: forwards allowed requests.
async fn forward(request: Request<Incoming>) -> Result<Response<Body>, std::convert::Infallible> {
    if request.method() != Method::GET && request.method() != Method::POST {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "this proxy forwards GET and POST only (no CONNECT tunnels)\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return Ok(response);
    }
    let Some(target) = loopback_target(request.uri()) else {
        tracing::info!(target = %request.uri(), "refused: not an http:// loopback target");
        return Ok(text(
            StatusCode::FORBIDDEN,
            "this proxy forwards only to http:// loopback targets (127.0.0.0/8, [::1], localhost)\n",
        ));
    };
    Ok(relay(request, target)
        .await
        .unwrap_or_else(|(status, message)| text(status, message)))
}

/// The address to connect to, if `uri` is an absolute `http://` URI whose host is
/// literally a loopback address or `localhost`. No name is resolved: a name that
/// resolves to loopback today may not tomorrow, and the check must be the connection.
pub fn loopback_target(uri: &Uri) -> Option<SocketAddr> {
    if uri.scheme() != Some(&Scheme::HTTP) {
        return None;
    }
    let authority = uri.authority()?;
    // `http` reads `user@host` as userinfo and host; refuse userinfo outright.
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        Ipv4Addr::LOCALHOST.into()
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<Ipv6Addr>().ok()?.into()
    } else {
        host.parse::<Ipv4Addr>().ok()?.into()
    };
    // `::ffff:127.0.0.1` is IPv4 loopback; `Ipv6Addr::is_loopback` alone says no.
    if !ip.to_canonical().is_loopback() {
        return None;
    }
    Some(SocketAddr::new(ip, authority.port_u16().unwrap_or(80)))
}

/// Sends the request to `target` in origin form and relays the answer.
async fn relay(
    request: Request<Incoming>,
    target: SocketAddr,
) -> Result<Response<Body>, (StatusCode, &'static str)> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over 1 MiB, or unreadable\n",
            )
        })?
        .to_bytes();

    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut outgoing = Request::new(Full::new(body));
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = path.parse().map_err(|_| bad_gateway())?;
    *outgoing.headers_mut() = parts.headers;
    remove_hop_by_hop(outgoing.headers_mut());
    let host = parts
        .uri
        .authority()
        .map(http::uri::Authority::as_str)
        .unwrap_or_default();
    let host = HeaderValue::from_str(host).map_err(|_| bad_gateway())?;
    outgoing.headers_mut().insert(header::HOST, host);

    let exchange = async {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
            .await
            .ok()?
            .ok()?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(connection);
        let response = sender.send_request(outgoing).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BODY).collect().await.ok()?;
        Some((parts, body.to_bytes()))
    };
    let Ok(Some((mut parts, body))) = tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await else {
        tracing::info!(%target, "target failed, timed out, or sent over 8 MiB");
        return Err(bad_gateway());
    };
    remove_hop_by_hop(&mut parts.headers);
    // This hop's HTTP version, whatever the target spoke.
    parts.version = http::Version::default();
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn bad_gateway() -> (StatusCode, &'static str) {
    (StatusCode::BAD_GATEWAY, "the target failed\n")
}

/// Headers meant for one connection only (RFC 9110 section 7.6.1), the ones the
/// `Connection` header names, and this proxy's own authentication.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
}

fn text(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3128".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("proxy listening on http://{local}");
    println!(
        "try: curl --proxy-digest -U '{USERNAME}:{PASSWORD}' -x http://{local} http://127.0.0.1:3000/"
    );
    serve(listener).await?;
    Ok(())
}
