//! The client under test and what it needs around it: hyper-util's legacy client behind
//! `DigestClientLayer`, with a recorder between the two that sees every exchange on the wire
//! (so a test can count the 401s and read the headers the client sent); a connector that
//! sends everything to a forward proxy; server processes that stop on drop.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_digest_auth::client::DigestClientLayer;

/// The user every server here knows (the RFC 7616 example user).
pub const USERNAME: &str = "Mufasa";
pub const PASSWORD: &str = "Circle of Life";
pub const WRONG_PASSWORD: &str = "Circle of Strife";
pub const REALM: &str = "http-auth@example.org";

/// The request body type: clonable, so the layer can send a request again.
pub type Body = Full<Bytes>;

/// One exchange between the Digest layer and the server, as the recorder saw it.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The request target as the client wrote it.
    pub uri: String,
    /// `Authorization` or `Proxy-Authorization`, whichever the request carried.
    pub credentials: Option<String>,
    pub status: u16,
    /// Every `WWW-Authenticate` and `Proxy-Authenticate` line of the answer.
    pub challenges: Vec<String>,
    /// `Authentication-Info` or `Proxy-Authentication-Info`.
    pub info: Option<String>,
}

impl Exchange {
    /// A parameter of the credentials the client sent (panics when it sent none).
    pub fn sent(&self, name: &str) -> String {
        let credentials = self
            .credentials
            .as_deref()
            .unwrap_or_else(|| panic!("no credentials in {self:#?}"));
        params(credentials)
            .remove(name)
            .unwrap_or_else(|| panic!("no {name} in {credentials}"))
    }

    /// A 401 or 407 whose challenges say `stale=true`.
    pub fn is_stale(&self) -> bool {
        self.challenges.iter().any(|challenge| {
            params(challenge)
                .get("stale")
                .is_some_and(|stale| stale.eq_ignore_ascii_case("true"))
        })
    }

    /// A 401 or 407 (with or without `stale`).
    pub fn is_challenge(&self) -> bool {
        matches!(self.status, 401 | 407)
    }
}

/// The `name=value` parameters of a Digest header (quoted values unquoted), names in
/// lower case. Enough for headers these servers and the layer write.
pub fn params(header: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = header.trim_start();
    if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case("digest") {
        rest = &rest[6..];
    }
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => text.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => text.push(c),
                }
            }
            value = text;
            rest = &quoted[end..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.insert(name, value);
    }
    out
}

/// What the recorder has seen, in order.
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<Vec<Exchange>>>);

impl Recording {
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// A layer that records each exchange of the service it wraps.
#[derive(Clone)]
pub struct RecordLayer(pub Recording);

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record {
            inner,
            recording: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Record<S> {
    inner: S,
    recording: Recording,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> Service<Request<B>> for Record<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let uri = request.uri().to_string();
        let credentials = first(
            request.headers(),
            &[header::AUTHORIZATION, header::PROXY_AUTHORIZATION],
        );
        let recording = self.recording.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let headers = response.headers();
            let challenges = [header::WWW_AUTHENTICATE, header::PROXY_AUTHENTICATE]
                .iter()
                .flat_map(|name| headers.get_all(name))
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect();
            let info = first(
                headers,
                &[
                    HeaderName::from_static("authentication-info"),
                    HeaderName::from_static("proxy-authentication-info"),
                ],
            );
            recording.0.lock().unwrap().push(Exchange {
                uri,
                credentials,
                status: response.status().as_u16(),
                challenges,
                info,
            });
            Ok(response)
        })
    }
}

fn first(headers: &HeaderMap, names: &[HeaderName]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(name))
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// hyper-util's legacy client as the layer wraps it: `DigestClientLayer` over the recorder
/// over the client.
pub fn client_with<C>(connector: C, username: &str, password: &str) -> (Tested<C>, Recording)
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let recording = Recording::default();
    let http = Client::builder(TokioExecutor::new()).build::<_, Body>(connector);
    let service = ServiceBuilder::new()
        .layer(DigestClientLayer::new(username, password))
        .layer(RecordLayer(recording.clone()))
        .service(http);
    (service, recording)
}

/// The client for a server reached directly.
pub fn client(username: &str, password: &str) -> (Tested<HttpConnector>, Recording) {
    client_with(HttpConnector::new(), username, password)
}

/// The client for everything through the forward proxy at `proxy`.
pub fn proxy_client(
    proxy: SocketAddr,
    username: &str,
    password: &str,
) -> (Tested<ViaProxy>, Recording) {
    client_with(ViaProxy(proxy), username, password)
}

/// The stack under test over connector `C`.
pub type Tested<C> = tower_digest_auth::client::DigestClient<Record<Client<C, Body>>>;

/// A finished request: status and body.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub body: String,
}

/// `GET url` through `service`; the body read whole.
pub async fn get<S>(service: &mut S, url: &str) -> Result<Fetched, S::Error>
where
    S: Service<Request<Body>, Response = Response<Incoming>>,
{
    let request = Request::get(url).body(Body::default()).unwrap();
    let response = service.ready().await?.call(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok(Fetched {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Like [`get`], and the request must succeed at the HTTP level too.
pub async fn get_ok<S>(service: &mut S, url: &str) -> String
where
    S: Service<Request<Body>, Response = Response<Incoming>>,
    S::Error: std::fmt::Debug,
{
    let fetched = get(service, url)
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error:?}"));
    assert_eq!(fetched.status, 200, "GET {url}: {fetched:?}");
    fetched.body
}

/// Asserts that requests after the first login met no challenge, and went out on the
/// first login's nonce with `nc` counting up from 2.
pub fn assert_nonce_reused(recording: &Recording, requests: usize) {
    let exchanges = recording.exchanges();
    assert_eq!(
        exchanges.len(),
        requests + 1,
        "one challenge in all: {exchanges:#?}"
    );
    assert!(exchanges[0].is_challenge(), "{exchanges:#?}");
    let nonce = exchanges[1].sent("nonce");
    for (i, exchange) in exchanges[1..].iter().enumerate() {
        assert_eq!(exchange.status, 200, "{exchanges:#?}");
        assert_eq!(exchange.sent("nonce"), nonce, "{exchanges:#?}");
        assert_eq!(
            exchange.sent("nc"),
            format!("{:08x}", i + 1),
            "{exchanges:#?}"
        );
    }
}

/// Asserts a wrong password's end: the first request met a challenge, the one answer
/// with the credentials met the final refusal, and nothing more was sent.
pub fn assert_one_refused_answer(recording: &Recording, status: u16) {
    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert!(exchanges[0].credentials.is_none(), "{exchanges:#?}");
    assert!(exchanges[1].credentials.is_some(), "{exchanges:#?}");
    assert!(
        exchanges
            .iter()
            .all(|e| e.status == status && !e.is_stale()),
        "{exchanges:#?}"
    );
}

/// A connector that opens every connection to a forward proxy and tells the client so,
/// which then writes absolute-form request targets (`GET http://host:port/path`).
#[derive(Clone, Copy, Debug)]
pub struct ViaProxy(pub SocketAddr);

impl Service<Uri> for ViaProxy {
    type Response = ProxyConnection;
    type Error = std::io::Error;
    type Future = BoxFuture<ProxyConnection, std::io::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _target: Uri) -> Self::Future {
        let proxy = self.0;
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(proxy).await?;
            Ok(ProxyConnection(TokioIo::new(stream)))
        })
    }
}

/// A connection to a forward proxy.
pub struct ProxyConnection(TokioIo<tokio::net::TcpStream>);

impl Connection for ProxyConnection {
    fn connected(&self) -> Connected {
        Connected::new().proxy(true)
    }
}

impl hyper::rt::Read for ProxyConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxyConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A directory under the system temp dir, removed on drop. World-readable, since Apache's
/// and Squid's workers drop root for `www-data` and `proxy`.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-digest-client-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755);
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` (parent directories made), readable by all.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        let parent = path.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let mut dir = parent;
        while dir != self.0 {
            set_mode(dir, 0o755);
            dir = dir.parent().unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        set_mode(&path, 0o644);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A free loopback port (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether this process runs as root: Apache and Squid then need a user to drop to.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// A server process in a process group of its own (Apache signals its whole group on
/// shutdown), stopped with its group on drop.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// SIGTERM, or SIGKILL for a server whose clean exit only costs time.
    stop_signal: &'static str,
}

impl Daemon {
    /// Starts `command` and waits until it accepts connections on `port`.
    pub fn start(name: &'static str, mut command: Command, port: u16, log: PathBuf) -> Daemon {
        use std::os::unix::process::CommandExt as _;
        let child = command
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {name} ({e}): run bash tests/client-interop-setup.sh")
            });
        let mut daemon = Daemon {
            name,
            child,
            log,
            stop_signal: "-TERM",
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("{name} exited ({status}): {}", daemon.log());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on port {port} within 20 s: {}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        daemon
    }

    /// Stops the server with SIGKILL: for one that holds nothing worth a clean exit and
    /// takes seconds over it.
    pub fn kill_when_dropped(mut self) -> Self {
        self.stop_signal = "-KILL";
        self
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            // Quiet: once the group is gone, `kill` only says so.
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal(self.stop_signal);
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("{} ignored SIGTERM for 5 s; killing it", self.name);
        }
        // Whatever is left of the group (helpers, workers still closing).
        signal("-KILL");
        let _ = self.child.wait();
    }
}
