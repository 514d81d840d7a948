//! Possible attacks are logged as events carrying the client IP, and never a secret.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, request, request_from};
use http::{Request, Response};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::{DigestLayer, Ha1, MemoryCredentials};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// A subscriber at `level` for this thread, writing here.
    fn install(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(level)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[tokio::test]
async fn attacks_are_logged_with_the_client_ip_and_no_secret() {
    let (captured, _guard) = Captured::install(tracing::Level::DEBUG);

    let layer = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .build()
        .unwrap();
    let service = tower::Layer::layer(
        &layer,
        service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    );
    let send = |request: Request<String>| service.clone().oneshot(request);
    let challenge = challenges(send(request("GET", "/a", None)).await.unwrap().headers()).remove(0);

    let good = Answer::get("/a").header(&challenge);
    let cases: Vec<(&str, Request<String>)> = vec![
        (
            "failed password",
            request(
                "GET",
                "/a",
                Some(&Answer::get("/a").password("nope").header(&challenge)),
            ),
        ),
        ("replayed nonce count", {
            send(request("GET", "/a", Some(&good))).await.unwrap();
            request("GET", "/a", Some(&good))
        }),
        (
            "another client address",
            request_from("198.51.100.9:1".parse().unwrap(), "GET", "/a", Some(&good)),
        ),
        (
            "forged",
            request(
                "GET",
                "/a",
                Some(&Answer::get("/a").header(&Challenge {
                    nonce: "AAAA".repeat(17),
                    ..challenge.clone()
                })),
            ),
        ),
        ("uri does not match", request("GET", "/b", Some(&good))),
    ];
    for (event, request) in cases {
        let ip = request
            .extensions()
            .get::<tower_digest_auth::PeerAddr>()
            .unwrap()
            .0
            .ip()
            .to_string();
        send(request).await.unwrap();
        let log = captured.take();
        let line = log
            .lines()
            .find(|line| line.contains(event))
            .unwrap_or_else(|| panic!("no {event:?} event in {log:?}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains(&format!("client_ip={ip}")), "{line}");
        let ha1 = Ha1::from_password(HashFunction::Sha256, USER, REALM, PASSWORD);
        assert!(
            !log.contains(PASSWORD) && !log.contains(ha1.expose_hex()),
            "{log}"
        );
    }
}

/// A client behind a trusted proxy can make the forwarding header unusable; that is its
/// own 400, logged at info with the proxy's address, never an error that pages someone.
/// Only a request with no address at all (a server set up wrong) is an error.
#[tokio::test]
async fn an_unusable_forwarding_header_is_logged_at_info_and_no_address_at_error() {
    let (captured, _guard) = Captured::install(tracing::Level::DEBUG);

    let service = behind_trusted_proxies();
    let mut bad = request_from("10.0.0.7:1".parse().unwrap(), "GET", "/a", None);
    bad.headers_mut()
        .insert("x-forwarded-for", "203.0.113.5, garbage".parse().unwrap());
    let response = service.clone().oneshot(bad).await.unwrap();
    assert_eq!(response.status(), 400);
    let log = captured.take();
    let line = log
        .lines()
        .find(|line| line.contains("unusable forwarding header"))
        .unwrap_or_else(|| panic!("no event in {log:?}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("proxy_ip=10.0.0.7"), "{line}");
    assert!(line.contains("not an address"), "{line}");
    assert!(!log.contains("ERROR"), "{log}");

    // No peer address at all: its own message, explained with the fix the first time,
    // one short line after that.
    let nowhere = || Request::get("/a").body(String::new()).unwrap();
    let response = service.clone().oneshot(nowhere()).await.unwrap();
    assert_eq!(response.status(), 500);
    let log = captured.take();
    assert!(
        log.contains("ERROR") && log.contains("no client address in the request"),
        "{log}"
    );
    assert!(log.contains("into_make_service_with_connect_info"), "{log}");
    assert!(log.contains("PeerAddr"), "{log}");
    assert!(
        !log.contains("trusted prox"),
        "not blamed on proxies: {log}"
    );
    let response = service.oneshot(nowhere()).await.unwrap();
    assert_eq!(response.status(), 500);
    let log = captured.take();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("see the first such error"), "{log}");
}

/// A trusted proxy that sends no forwarding header at all: the reason says so, instead
/// of blaming `ConnectInfo` or the proxy configuration.
#[tokio::test]
async fn a_trusted_proxy_without_a_forwarding_header_is_told_apart() {
    let (captured, _guard) = Captured::install(tracing::Level::DEBUG);
    let service = behind_trusted_proxies();
    let from_proxy = request_from("10.0.0.7:1".parse().unwrap(), "GET", "/a", None);
    let response = service.oneshot(from_proxy).await.unwrap();
    assert_eq!(response.status(), 400);
    let log = captured.take();
    assert!(log.contains("unusable forwarding header"), "{log}");
    assert!(
        !log.contains("ConnectInfo") && !log.contains("ERROR"),
        "{log}"
    );
}

/// A store outage fails every request; the log gets one error per ten seconds (by the
/// layer's clock), and the next one says how many were held back.
#[tokio::test]
async fn a_store_outage_is_logged_without_flooding() {
    #[derive(Debug, thiserror::Error)]
    #[error("database is down")]
    struct Down;
    struct Failing;
    impl tower_digest_auth::CredentialStore for Failing {
        type Error = Down;
        async fn ha1(&self, _: &str, _: &str, _: HashFunction) -> Result<Option<Ha1>, Down> {
            Err(Down)
        }
    }
    let (captured, _guard) = Captured::install(tracing::Level::INFO);
    let clock = tower_digest_auth::clock::ManualClock::new();
    let layer = DigestLayer::builder(REALM, Failing)
        .clock(clock.clone())
        .build()
        .unwrap();
    let service = tower::Layer::layer(
        &layer,
        service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    );
    let send = |nc: u32| {
        let service = service.clone();
        async move {
            let response = service
                .clone()
                .oneshot(request("GET", "/", None))
                .await
                .unwrap();
            let challenge = challenges(response.headers()).remove(0);
            let header = Answer::get("/").nc(nc).header(&challenge);
            let response = service
                .oneshot(request("GET", "/", Some(&header)))
                .await
                .unwrap();
            assert_eq!(response.status(), 500);
        }
    };
    for nc in 1..=5 {
        send(nc).await;
    }
    let log = captured.take();
    assert_eq!(
        log.matches("credential store failed").count(),
        1,
        "one line for five failures: {log}"
    );
    assert!(
        log.contains("database is down") && log.contains("suppressed=0"),
        "{log}"
    );
    clock.advance(std::time::Duration::from_secs(11));
    send(6).await;
    let log = captured.take();
    assert_eq!(log.matches("credential store failed").count(), 1, "{log}");
    assert!(log.contains("suppressed=4"), "the held-back count: {log}");
}

/// A layer that trusts proxies in 10.0.0.0/8 to write `X-Forwarded-For`, around an app
/// that answers 200.
fn behind_trusted_proxies()
-> impl tower::Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone {
    let layer = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .client_ip(tower_digest_auth::ClientIpSource::XForwardedFor(vec![
            "10.0.0.0/8".parse().unwrap(),
        ]))
        .build()
        .unwrap();
    tower::Layer::layer(
        &layer,
        service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    )
}
