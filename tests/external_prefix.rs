//! Behind a reverse proxy that strips a path prefix (`/app/x` outside, `/x` inside), driven
//! with `oneshot`, then over sockets with curl through a small prefix-stripping reverse
//! proxy: the client signs the outside path, the layer puts the prefix back for the `uri`
//! check, and nothing else loosens.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use common::{Answer, PASSWORD, REALM, USER, challenges, request_from};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::{
    AuthenticatedUser, ClientIpSource, ConfigError, DigestLayer, DigestLayerBuilder,
    MemoryCredentials,
};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The inner target: what the proxy sends for the client's `/app/dir/index.html`.
const INNER: &str = "/dir/index.html";
const OUTSIDE: &str = "/app/dir/index.html";

fn app() -> Inner {
    Inner::new(service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "{} at {}",
            user.username(),
            request.uri()
        )))
    }))
}

fn service(
    configure: impl FnOnce(
        DigestLayerBuilder<MemoryCredentials>,
    ) -> DigestLayerBuilder<MemoryCredentials>,
) -> Inner {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .unwrap();
    Inner::new(tower::Layer::layer(&layer, app()))
}

/// The reverse proxy's address, and a client behind it.
fn proxy_peer() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}
const CLIENT: &str = "203.0.113.9";

fn trusting_the_proxy() -> ClientIpSource {
    ClientIpSource::XForwardedFor(vec!["10.0.0.0/8".parse().unwrap()])
}

/// A request as the proxy forwards it: from `peer`, for `target`, with `headers`.
fn forwarded(
    peer: SocketAddr,
    target: &str,
    authorization: Option<&str>,
    headers: &[(&str, &str)],
) -> Request<String> {
    let mut request = request_from(peer, "GET", target, authorization);
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

/// Gets a challenge, then answers it signing `signed` for the inner `target`.
async fn login(
    service: &Inner,
    peer: SocketAddr,
    signed: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response<String> {
    let response = service
        .clone()
        .oneshot(forwarded(peer, target, None, headers))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get(signed).header(&challenge);
    service
        .clone()
        .oneshot(forwarded(peer, target, Some(&header), headers))
        .await
        .unwrap()
}

fn assert_uri_mismatch(response: &Response<String>) {
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "{}",
        response.body()
    );
    assert_eq!(response.body(), "uri does not match the request target");
}

#[tokio::test]
async fn a_client_signing_the_outside_path_authenticates_with_the_prefix() {
    let peer = common::client_addr();
    let with = service(|builder| builder.external_prefix("/app"));
    let response = login(&with, peer, OUTSIDE, INNER, &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(response.body(), "Mufasa at /dir/index.html");

    // The same client without the prefix configured: the 400 a new user meets.
    let without = service(|builder| builder);
    assert_uri_mismatch(&login(&without, peer, OUTSIDE, INNER, &[]).await);
}

#[tokio::test]
async fn the_prefix_loosens_nothing_else() {
    let peer = common::client_addr();
    let with = service(|builder| builder.external_prefix("/app/"));
    for (signed, target) in [
        // Another outside path.
        ("/app/other", INNER),
        // The inner path: not what a client behind the proxy saw.
        (INNER, INNER),
        // Another prefix, or the prefix twice (it is taken off once).
        ("/api/dir/index.html", INNER),
        ("/app/app/dir/index.html", INNER),
        // The query is signed too.
        ("/app/dir/index.html?a=2", "/dir/index.html?a=1"),
        ("/app/dir/index.html", "/dir/index.html?a=1"),
    ] {
        assert_uri_mismatch(&login(&with, peer, signed, target, &[]).await);
    }
    for (signed, target) in [
        ("/app/dir/index.html?a=1", "/dir/index.html?a=1"),
        ("/app/", "/"),
        // Proxies send the bare prefix to the inner root.
        ("/app", "/"),
        ("http://example.org/app/dir/index.html", INNER),
    ] {
        let response = login(&with, peer, signed, target, &[("host", "example.org")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{signed} for {target}");
    }
}

#[tokio::test]
async fn x_forwarded_prefix_is_read_from_a_trusted_proxy_only() {
    let via_proxy = [("x-forwarded-for", CLIENT), ("x-forwarded-prefix", "/app")];
    let service = service(|builder| {
        builder
            .client_ip(trusting_the_proxy())
            .forwarded_prefix(true)
    });
    let response = login(&service, proxy_peer(), OUTSIDE, INNER, &via_proxy).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());

    // A client connecting directly with its own header: ignored, it must sign its target.
    let direct: SocketAddr = format!("{CLIENT}:5000").parse().unwrap();
    let own_header = [("x-forwarded-prefix", "/app")];
    assert_uri_mismatch(&login(&service, direct, OUTSIDE, INNER, &own_header).await);
    let response = login(&service, direct, INNER, INNER, &own_header).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Trusted proxy, but reading the header was not asked for.
    let not_opted_in = service_trusting(false);
    assert_uri_mismatch(&login(&not_opted_in, proxy_peer(), OUTSIDE, INNER, &via_proxy).await);
}

fn service_trusting(forwarded_prefix: bool) -> Inner {
    service(|builder| {
        builder
            .client_ip(trusting_the_proxy())
            .forwarded_prefix(forwarded_prefix)
    })
}

#[tokio::test]
async fn x_forwarded_prefix_replaces_the_configured_prefix() {
    let service = service(|builder| {
        builder
            .client_ip(trusting_the_proxy())
            .forwarded_prefix(true)
            .external_prefix("/app")
    });
    let headers = [
        ("x-forwarded-for", CLIENT),
        ("x-forwarded-prefix", "/other/"),
    ];
    let response = login(
        &service,
        proxy_peer(),
        "/other/dir/index.html",
        INNER,
        &headers,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_uri_mismatch(&login(&service, proxy_peer(), OUTSIDE, INNER, &headers).await);
    // Without the header, the configured prefix.
    let headers = [("x-forwarded-for", CLIENT)];
    let response = login(&service, proxy_peer(), OUTSIDE, INNER, &headers).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unusable_x_forwarded_prefix_from_a_trusted_proxy_is_400() {
    let service = service_trusting(true);
    for bad in [
        &[("x-forwarded-prefix", "app")][..],
        &[("x-forwarded-prefix", "/a,/b")],
        &[("x-forwarded-prefix", "/a?x")],
        &[("x-forwarded-prefix", "/a"), ("x-forwarded-prefix", "/b")],
    ] {
        let mut headers = vec![("x-forwarded-for", CLIENT)];
        headers.extend_from_slice(bad);
        let response = login(&service, proxy_peer(), OUTSIDE, INNER, &headers).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(
            response.body(),
            "X-Forwarded-Prefix must be one path of visible ASCII without ',', '?' or '#'"
        );
    }
}

#[test]
fn a_prefix_that_is_not_a_path_is_refused_at_build() {
    for bad in ["app", "/app?x=1", "/a b", "/a\n"] {
        let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
        let result = DigestLayer::builder(REALM, users)
            .external_prefix(bad)
            .build();
        assert!(matches!(result, Err(ConfigError::InvalidPrefix)), "{bad:?}");
    }
}

// ---- over sockets: curl --digest through a reverse proxy that strips `/app` ----

/// A reverse proxy on a loopback port that forwards `/app/...` to `inner` as `/...`,
/// appending the client to `X-Forwarded-For` and, with `send_prefix`, saying
/// `X-Forwarded-Prefix: /app` (as Traefik's `StripPrefix` does).
async fn start_reverse_proxy(inner: SocketAddr, send_prefix: bool) -> SocketAddr {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;

    let handler = move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request<Body>| async move {
        let (mut parts, body) = request.into_parts();
        let outside = parts.uri.path_and_query().unwrap().as_str().to_owned();
        let Some(inside) = outside.strip_prefix("/app") else {
            return Response::builder().status(404).body(Body::empty()).unwrap();
        };
        let inside = if inside.is_empty() || inside.starts_with('?') {
            format!("/{inside}")
        } else {
            inside.to_owned()
        };
        parts.uri = inside.parse().unwrap();
        parts
            .headers
            .append("x-forwarded-for", peer.ip().to_string().parse().unwrap());
        if send_prefix {
            parts
                .headers
                .insert("x-forwarded-prefix", "/app".parse().unwrap());
        }
        let body = body.collect().await.unwrap().to_bytes();
        let stream = tokio::net::TcpStream::connect(inner).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = Request::from_parts(parts, http_body_util::Full::new(body));
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Response::from_parts(parts, Body::from(body))
    };
    let app = axum::Router::new().fallback(handler);
    serve(app).await
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The protected inner service, behind a layer that `configure` finishes.
async fn start_inner(
    configure: impl FnOnce(
        DigestLayerBuilder<MemoryCredentials>,
    ) -> DigestLayerBuilder<MemoryCredentials>,
) -> SocketAddr {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/dir/index.html",
            axum::routing::get(|user: AuthenticatedUser| async move {
                format!("hello {}", user.username())
            }),
        )
        .layer(layer);
    serve(app).await
}

/// `curl --digest` of `url`: the final status, the body and the `uri` curl signed.
async fn curl_digest(url: &str) -> (u16, String, String) {
    let mut command = tokio::process::Command::new("curl");
    command
        .args(["--silent", "--show-error", "--verbose", "--noproxy", "*"])
        .args(["--max-time", "20", "--write-out", "\n%{http_code}"])
        .args(["--digest", "--user", &format!("{USER}:{PASSWORD}"), url])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("curl finished in time")
        .expect("curl runs (installed by tests/interop-setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    let signed = stderr
        .lines()
        .rev()
        .filter_map(|line| line.strip_prefix("> Authorization: Digest "))
        .map(|header| {
            common::param(&common::params(header), "uri")
                .unwrap()
                .to_owned()
        })
        .next()
        .unwrap_or_else(|| panic!("curl sent no Digest answer:\n{stderr}"));
    (status.parse().unwrap(), body.to_owned(), signed)
}

#[tokio::test]
async fn curl_behind_a_prefix_stripping_proxy_signs_the_outside_path_and_gets_in() {
    let inner = start_inner(|builder| builder.external_prefix("/app")).await;
    let proxy = start_reverse_proxy(inner, false).await;
    let (status, body, signed) =
        curl_digest(&format!("http://{proxy}/app/dir/index.html?x=1")).await;
    assert_eq!(signed, "/app/dir/index.html?x=1");
    assert_eq!((status, body.as_str()), (200, "hello Mufasa"));

    // What a new user meets without the prefix configured.
    let inner = start_inner(|builder| builder).await;
    let proxy = start_reverse_proxy(inner, false).await;
    let (status, body, _) = curl_digest(&format!("http://{proxy}/app/dir/index.html")).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "uri does not match the request target")
    );
}

#[tokio::test]
async fn curl_behind_a_trusted_proxy_sending_x_forwarded_prefix_gets_in() {
    let inner = start_inner(|builder| {
        builder
            .client_ip(ClientIpSource::XForwardedFor(vec![
                "127.0.0.1".parse().unwrap(),
            ]))
            .forwarded_prefix(true)
    })
    .await;
    let proxy = start_reverse_proxy(inner, true).await;
    let (status, body, signed) = curl_digest(&format!("http://{proxy}/app/dir/index.html")).await;
    assert_eq!(signed, "/app/dir/index.html");
    assert_eq!((status, body.as_str()), (200, "hello Mufasa"));
}
