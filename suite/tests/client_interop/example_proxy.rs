//! The layer as a proxy's client, against `examples/proxy.rs` (this crate's layer in proxy
//! mode: `407`, `Proxy-Authenticate`, `Proxy-Authentication-Info`) in front of a recording
//! origin; and against a man in the middle this test controls, which relays the example
//! server's answers with one digit of `rspauth` changed.

use std::net::{Ipv4Addr, SocketAddr};

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::Response;
use http::HeaderValue;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_digest_auth::client::Error as ClientError;

use crate::origin::Origin;
use crate::proxy_example;
use crate::server::ServerOptions;
use crate::support::{
    PASSWORD, USERNAME, WRONG_PASSWORD, assert_nonce_reused, assert_one_refused_answer, client,
    get, get_ok, params, proxy_client,
};

async fn start_proxy() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy_example::serve(listener));
    addr
}

#[tokio::test]
async fn logs_in_to_the_example_proxy_and_reuses_its_nonce() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let (mut client, recording) = proxy_client(proxy, USERNAME, PASSWORD);
    for path in ["/a", "/b", "/c"] {
        let body = get_ok(&mut client, &origin.url(path)).await;
        assert_eq!(body, format!("origin saw GET {path} body="));
    }
    assert_nonce_reused(&recording, 3);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges[0].status, 407);
    for answer in &exchanges[1..] {
        // The proxy proved it knows the password on each success; the layer checked it.
        let info = answer.info.as_deref().expect("Proxy-Authentication-Info");
        assert_eq!(params(info)["rspauth"].len(), 64, "{info}");
        // The target is the absolute URI the client sent to the proxy.
        assert_eq!(answer.sent("uri"), answer.uri);
    }
    let received = origin.received();
    assert_eq!(received.len(), 3, "{received:#?}");
    assert!(
        received
            .iter()
            .all(|r| r.headers.get("proxy-authorization").is_none())
    );
}

#[tokio::test]
async fn hands_back_the_example_proxys_final_407_for_a_wrong_password() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let (mut client, recording) = proxy_client(proxy, USERNAME, WRONG_PASSWORD);
    let fetched = get(&mut client, &origin.url("/"))
        .await
        .expect("a refusal is a response, not an error");
    assert_eq!(fetched.status, 407, "{fetched:?}");
    assert_one_refused_answer(&recording, 407);
    assert!(origin.received().is_empty());
}

/// A reverse proxy to `upstream` that changes the first digit of every `rspauth` it relays.
async fn start_tampering_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(tamper).with_state(upstream);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn tamper(State(upstream): State<SocketAddr>, request: Request) -> Response {
    let client: Client<HttpConnector, AxumBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().unwrap().as_str();
    parts.uri = format!("http://{upstream}{path}").parse().unwrap();
    let response = client
        .request(Request::from_parts(parts, body))
        .await
        .expect("the example server answers");
    let (mut parts, body) = response.into_parts();
    if let Some(info) = parts.headers.get("authentication-info") {
        let changed = change_rspauth(info.to_str().unwrap());
        parts.headers.insert(
            "authentication-info",
            HeaderValue::from_str(&changed).unwrap(),
        );
    }
    Response::from_parts(parts, AxumBody::new(body))
}

/// `rspauth="8..."` becomes `rspauth="9..."` (and any other first digit another one).
fn change_rspauth(info: &str) -> String {
    let at = info
        .find("rspauth=\"")
        .expect("rspauth in Authentication-Info")
        + 9;
    let digit = info.as_bytes()[at];
    let other = if digit == b'0' { '1' } else { '0' };
    format!("{}{other}{}", &info[..at], &info[at + 1..])
}

#[tokio::test]
async fn reports_a_tampered_rspauth_as_an_error() {
    let server = crate::example_server::start(ServerOptions::default()).await;
    let tampering = start_tampering_proxy(server).await;

    // Through the untouched server first: the same request succeeds.
    let (mut direct, _) = client(USERNAME, PASSWORD);
    get_ok(&mut direct, &format!("http://{server}/dir/index.html")).await;

    let (mut client, recording) = client(USERNAME, PASSWORD);
    let url = format!("http://{tampering}/dir/index.html");
    let error = get(&mut client, &url)
        .await
        .expect_err("an rspauth that does not match is an error");
    assert!(matches!(error, ClientError::RspauthMismatch), "{error:?}");
    // The server did accept the credentials: only the proof on the way back was wrong.
    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert_eq!(exchanges[1].status, 200);
}
