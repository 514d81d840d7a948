//! `userhash` (RFC 7616 section 3.4.4): hashed usernames, through `oneshot` with the
//! suite's own client and over a socket with curl.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, h, param, params, request};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::userhash;
use tower_digest_auth::{
    AuthenticatedUser, CredentialStore, DigestLayer, DigestLayerBuilder, Ha1, MemoryCredentials,
};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

fn inner() -> Inner {
    Inner::new(service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(format!("hello {}", user.username())))
    }))
}

fn service<C: CredentialStore>(builder: DigestLayerBuilder<C>) -> Inner {
    Inner::new(tower::Layer::layer(&builder.build().unwrap(), inner()))
}

fn users() -> MemoryCredentials {
    MemoryCredentials::new(REALM, [(USER, PASSWORD)])
}

async fn challenge(service: &Inner, algorithm: &str) -> (Challenge, Response<String>) {
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(response.headers())
        .into_iter()
        .find(|c| c.algorithm == algorithm)
        .unwrap();
    (challenge, response)
}

async fn send(service: &Inner, header: &str) -> Response<String> {
    service
        .clone()
        .oneshot(request("GET", "/", Some(header)))
        .await
        .unwrap()
}

#[tokio::test]
async fn off_by_default_a_hashed_username_is_400_and_not_offered() {
    let service = service(DigestLayer::builder(REALM, users()));
    let (challenge, response) = challenge(&service, "SHA-256").await;
    assert!(!challenge.userhash);
    for line in response.headers().get_all("www-authenticate") {
        assert!(!line.to_str().unwrap().contains("userhash"), "{line:?}");
    }
    let header = Answer::get("/").hashed_username().header(&challenge);
    let response = send(&service, &header).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_hashed_username_authenticates_as_the_real_user_with_every_algorithm() {
    for algorithm in ["SHA-256", "MD5", "SHA-512-256", "SHA-256-sess"] {
        let service = service(
            DigestLayer::builder(REALM, users())
                .userhash(true)
                .algorithms([algorithm.parse().unwrap()]),
        );
        let (challenge, _) = challenge(&service, algorithm).await;
        assert!(challenge.userhash, "the challenge says userhash=true");
        let answer = Answer::get("/").hashed_username();
        let header = answer.header(&challenge);
        assert!(
            !header.contains(USER),
            "the name stays off the wire: {header}"
        );
        let response = send(&service, &header).await;
        assert_eq!(response.status(), StatusCode::OK, "{algorithm}: {header}");
        assert_eq!(response.body(), "hello Mufasa");
        let info = params(response.headers()["authentication-info"].to_str().unwrap());
        assert_eq!(
            param(&info, "rspauth"),
            Some(answer.rspauth(&challenge).as_str())
        );
    }
}

#[tokio::test]
async fn uppercase_hex_userhash_is_accepted() {
    let service = service(DigestLayer::builder(REALM, users()).userhash(true));
    let (challenge, _) = challenge(&service, "SHA-256").await;
    let answer = Answer::get("/").hashed_username();
    let hashed = answer.username_param(&challenge);
    let header = answer
        .header(&challenge)
        .replace(&hashed, &hashed.to_ascii_uppercase());
    assert_eq!(send(&service, &header).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_usernames_keep_working_when_userhash_is_on() {
    let service = service(DigestLayer::builder(REALM, users()).userhash(true));
    let (challenge, _) = challenge(&service, "SHA-256").await;
    let response = send(&service, &Answer::get("/").header(&challenge)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "hello Mufasa");
}

#[tokio::test]
async fn malformed_hashed_usernames_are_400() {
    let service = service(DigestLayer::builder(REALM, users()).userhash(true));
    let (challenge, _) = challenge(&service, "SHA-256").await;
    // The plain name with userhash=true: not a digest.
    let header = Answer::get("/")
        .header(&challenge)
        .replace(", userhash=true", "")
        + ", userhash=true";
    let response = send(&service, &header).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.body(),
        "a hashed username must be a digest of the algorithm"
    );
    // An MD5-length hash answered with SHA-256.
    let md5 = h("MD5", format!("{USER}:{REALM}").as_bytes());
    let answer = Answer::get("/").hashed_username();
    let header = answer
        .header(&challenge)
        .replace(&answer.username_param(&challenge), &md5);
    assert_eq!(
        send(&service, &header).await.status(),
        StatusCode::BAD_REQUEST
    );
    // username* cannot be hashed.
    let header = Answer::get("/").header(&challenge).replace(
        r#"username="Mufasa""#,
        r"username*=UTF-8''Mufasa, userhash=true",
    );
    assert_eq!(
        send(&service, &header).await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// Counts the store calls, to show that an unknown hash costs what a wrong password does.
#[derive(Clone)]
struct Counting {
    inner: MemoryCredentials,
    calls: Arc<AtomicUsize>,
}

impl CredentialStore for Counting {
    type Error = Infallible;

    async fn ha1(&self, u: &str, r: &str, hash: HashFunction) -> Result<Option<Ha1>, Infallible> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.ha1(u, r, hash).await
    }

    async fn username_for_hash(
        &self,
        hashed: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<String>, Infallible> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.username_for_hash(hashed, realm, hash).await
    }
}

#[tokio::test]
async fn an_unknown_userhash_and_a_wrong_password_answer_alike_after_the_same_store_work() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: users(),
        calls: calls.clone(),
    };
    let service = service(DigestLayer::builder(REALM, store).userhash(true));
    let mut answers = Vec::new();
    for answer in [
        Answer::get("/").hashed_username().password("wrong"),
        Answer::get("/").hashed_username().username("Scar"),
    ] {
        let (challenge, _) = challenge(&service, "SHA-256").await;
        calls.store(0, Ordering::SeqCst);
        let response = send(&service, &answer.header(&challenge)).await;
        let work = calls.load(Ordering::SeqCst);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let mut headers = response.headers().clone();
        headers.remove("www-authenticate");
        let fresh: Vec<_> = challenges(response.headers())
            .into_iter()
            .map(|c| (c.algorithm, c.qop, c.stale, c.userhash))
            .collect();
        answers.push((format!("{headers:?}"), fresh, response.into_body(), work));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].3, 2, "username_for_hash, then credential");
}

/// A store that knows HA1s but no hashes: the default `username_for_hash`.
struct HashBlind(MemoryCredentials);

impl CredentialStore for HashBlind {
    type Error = Infallible;

    async fn ha1(&self, u: &str, r: &str, hash: HashFunction) -> Result<Option<Ha1>, Infallible> {
        self.0.ha1(u, r, hash).await
    }
}

#[tokio::test]
async fn a_store_that_cannot_map_hashes_fails_closed_with_401() {
    let service = service(DigestLayer::builder(REALM, HashBlind(users())).userhash(true));
    let (first, _) = challenge(&service, "SHA-256").await;
    let response = send(&service, &Answer::get("/").hashed_username().header(&first)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenges(response.headers())[0].stale);
    // The same store still serves plain usernames.
    let (second, _) = challenge(&service, "SHA-256").await;
    let response = send(&service, &Answer::get("/").header(&second)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn the_public_helper_matches_the_independent_client() {
    for (name, hash) in [
        ("MD5", HashFunction::Md5),
        ("SHA-256", HashFunction::Sha256),
        ("SHA-512-256", HashFunction::Sha512_256),
    ] {
        assert_eq!(
            userhash(hash, USER, REALM),
            h(name, format!("{USER}:{REALM}").as_bytes())
        );
    }
}

// ---- over a socket, with curl ----

async fn whoami(user: AuthenticatedUser) -> String {
    user.username().to_owned()
}

async fn serve(userhash: bool) -> SocketAddr {
    let layer = DigestLayer::builder(REALM, users())
        .userhash(userhash)
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/whoami", axum::routing::get(whoami))
        .layer(layer);
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

/// `curl --digest -v`: the status, the body and every `Authorization` it sent.
async fn curl(url: &str, password: &str) -> (u16, String, Vec<String>) {
    let user = format!("{USER}:{password}");
    let output = tokio::process::Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--verbose",
            "--digest",
            "--noproxy",
            "*",
        ])
        .args(["--max-time", "20", "--user", &user])
        .args(["--write-out", "\nHTTP_CODE=%{http_code}", url])
        .output()
        .await
        .expect("curl runs (tests/interop-setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (body, code) = stdout.rsplit_once("\nHTTP_CODE=").expect("curl's status");
    let sent = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("> Authorization: "))
        .map(str::to_owned)
        .collect();
    (code.trim().parse().unwrap(), body.to_owned(), sent)
}

#[tokio::test]
async fn curl_logs_in_with_a_hashed_username() {
    let addr = serve(true).await;
    let (status, body, sent) = curl(&format!("http://{addr}/whoami"), PASSWORD).await;
    assert_eq!(status, 200, "{sent:?}");
    assert_eq!(body, USER, "the handler sees the real name");
    let sent = params(sent.last().unwrap().strip_prefix("Digest ").unwrap());
    assert_eq!(param(&sent, "userhash"), Some("true"), "{sent:?}");
    let algorithm = param(&sent, "algorithm").unwrap();
    assert_eq!(
        param(&sent, "username"),
        Some(h(algorithm, format!("{USER}:{REALM}").as_bytes()).as_str()),
        "curl sent H(username:realm)"
    );
    let (status, _, _) = curl(&format!("http://{addr}/whoami"), "wrong").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn curl_sends_its_plain_username_when_userhash_is_not_offered() {
    let addr = serve(false).await;
    let (status, body, sent) = curl(&format!("http://{addr}/whoami"), PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body, USER);
    let sent = params(sent.last().unwrap().strip_prefix("Digest ").unwrap());
    assert_eq!(param(&sent, "username"), Some(USER));
    assert_eq!(param(&sent, "userhash"), None);
}
