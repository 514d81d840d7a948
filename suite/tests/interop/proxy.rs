//! `examples/proxy.rs` with the JDK's Digest proxy authentication (`HttpURLConnection`
//! through an HTTP proxy, credentials from an `Authenticator`), run as the single-file
//! program `interop/ProxyClient.java`, in front of a recording origin. The JDK signs the
//! absolute-form target (`uri="http://127.0.0.1:PORT/..."`), where curl (`tests/proxy_example.rs`)
//! signs only the path: the layer accepts both, as the target the client sent.

use std::net::SocketAddr;
use std::time::Duration;

use crate::origin::Origin;
use crate::proxy_example;
use crate::support::{
    PASSWORD, Report, USERNAME, WRONG_PASSWORD, field, interop_file, parse_reports, run_client_ok,
};

async fn start_proxy() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy_example::serve(listener));
    addr
}

/// `java ProxyClient.java HOST PORT URL USER PASSWORD [POST_BODY]`: one report.
async fn java_through(proxy: SocketAddr, url: &str, password: &str, post: Option<&str>) -> Report {
    let script = interop_file("ProxyClient.java");
    let (proxy_host, proxy_port) = (proxy.ip().to_string(), proxy.port().to_string());
    let mut args = vec![
        script.as_str(),
        &proxy_host,
        &proxy_port,
        url,
        USERNAME,
        password,
    ];
    args.extend(post);
    // The first run compiles the source in memory: give it time on a busy machine.
    let output = run_client_ok("java", &args, Duration::from_secs(120)).await;
    parse_reports(&output.stdout).remove(0)
}

fn assert_authenticated(report: &Report) {
    assert_eq!(field(report, "status"), "200", "{report:#?}");
    assert_eq!(
        field(report, "asked"),
        "PROXY digest;",
        "asked once, for the proxy"
    );
    let info = crate::digest::parse_params(field(report, "proxy_authentication_info"));
    assert_eq!(info["qop"], "auth", "{info:?}");
    assert_eq!(info["nc"], "00000001");
    assert!(info["rspauth"].len() == 64 && info["rspauth"].bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test]
async fn java_authenticates_to_the_proxy_with_digest_and_reaches_the_origin() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let report = java_through(proxy, &origin.url("/dir/index.html?a=1"), PASSWORD, None).await;
    assert_authenticated(&report);
    assert_eq!(
        field(&report, "body"),
        "origin saw GET /dir/index.html?a=1 body="
    );

    let report = java_through(proxy, &origin.url("/form"), PASSWORD, Some("a=1")).await;
    assert_authenticated(&report);
    assert_eq!(field(&report, "body"), "origin saw POST /form body=a=1");

    let received = origin.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    for request in &received {
        assert!(
            request.headers.get("proxy-authorization").is_none(),
            "{request:#?}"
        );
    }
}

#[tokio::test]
async fn java_with_a_wrong_password_gets_407_and_nothing_is_forwarded() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let report = java_through(proxy, &origin.url("/"), WRONG_PASSWORD, None).await;
    assert_eq!(field(&report, "status"), "407", "{report:#?}");
    assert!(field(&report, "asked").starts_with("PROXY digest;"));
    assert_eq!(field(&report, "body"), "authentication required");
    assert!(origin.received().is_empty());
}

#[tokio::test]
async fn java_to_a_non_loopback_target_gets_403() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let url = format!("http://example.org:{}/", origin.addr.port());
    let report = java_through(proxy, &url, PASSWORD, None).await;
    assert_eq!(field(&report, "status"), "403", "{report:#?}");
    assert_eq!(
        field(&report, "asked"),
        "PROXY digest;",
        "authenticated first"
    );
    assert!(origin.received().is_empty());
}
