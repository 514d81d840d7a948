//! Authorization after authentication: `AuthorizeLayer` inside `DigestLayer`, the optional
//! login mode and `Option<AuthenticatedUser>`, driven with `oneshot`.

#![allow(missing_docs)]

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Answer, PASSWORD, REALM, USER, challenges, request};
use http::header::WWW_AUTHENTICATE;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_digest_auth::authorize::{AuthorizeLayer, Authorizer, MemoryPermissions, Permissions};
use tower_digest_auth::rejection::Rejection;
use tower_digest_auth::{Algorithm, AuthenticatedUser, DigestLayer, MemoryCredentials};

const ADMIN: &str = "Rafiki";
const ADMIN_PASSWORD: &str = "Mandrill";

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// Mufasa without roles, Rafiki with `admin`.
fn users() -> MemoryCredentials {
    let mut users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    users.insert_with_roles(ADMIN, ADMIN_PASSWORD, ["admin"]);
    users
}

fn digest() -> DigestLayer<MemoryCredentials> {
    DigestLayer::builder(REALM, users()).build().unwrap()
}

/// The protected app: greets the user, and counts its calls.
fn app(calls: &Arc<AtomicUsize>) -> Inner {
    let calls = Arc::clone(calls);
    tower::util::BoxCloneSyncService::new(service_fn(move |request: Request<String>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let user = request.extensions().get::<AuthenticatedUser>().cloned();
        async move {
            let name = user.map_or_else(|| "nobody".to_owned(), |u| u.username().to_owned());
            Ok::<_, Infallible>(Response::new(format!("hello {name}")))
        }
    }))
}

/// `DigestLayer` outside, `authorize` inside, around [`app`].
fn protected<L>(authorize: L, calls: &Arc<AtomicUsize>) -> Inner
where
    L: Layer<Inner>,
    L::Service: Service<Request<String>, Response = Response<String>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as Service<Request<String>>>::Future: Send,
{
    let service = ServiceBuilder::new()
        .layer(digest())
        .layer(authorize)
        .service(app(calls));
    tower::util::BoxCloneSyncService::new(service)
}

/// A full handshake on `/`: a request without credentials (which must be challenged),
/// then one answering the first challenge as `username`.
async fn login(service: &Inner, username: &str, password: &str) -> Response<String> {
    let first = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(first.headers()).remove(0);
    let header = Answer::get("/")
        .username(username)
        .password(password)
        .header(&challenge);
    service
        .clone()
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap()
}

// Collects what the log says on this test's thread, for the tests that check a log line.
//
// One global subscriber writes each event to a buffer of the thread that emitted it (each
// test runs on its own thread, with a current-thread runtime). A global subscriber, not a
// per-test `set_default`: with those, a callsite first reached while another test's
// subscriber (or none) was the only one could cache an interest that skips this test's.
thread_local! {
    static LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct ThreadLog;

impl std::io::Write for ThreadLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.with(|log| log.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes sure the global subscriber is in place and starts this thread's log afresh.
fn start_log_capture() {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadLog)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
    LOG.with(|log| log.borrow_mut().clear());
}

/// What this thread logged since [`start_log_capture`].
fn captured_log() -> String {
    LOG.with(|log| String::from_utf8(log.borrow().clone()).unwrap())
}

#[tokio::test]
async fn a_user_the_authorizer_accepts_reaches_the_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(AuthorizeLayer::role("admin"), &calls);
    let response = login(&service, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "hello Rafiki");
    assert!(response.headers().contains_key("authentication-info"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_authenticated_user_the_authorizer_refuses_gets_403_without_a_challenge() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(AuthorizeLayer::role("admin"), &calls);
    start_log_capture();
    let response = login(&service, USER, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(response.body(), "forbidden");
    // The user did authenticate: the server still proves it knows the password.
    assert!(response.headers().contains_key("authentication-info"));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the app never ran");
    let log = captured_log();
    assert!(
        log.contains("authorization: user refused") && log.contains("Mufasa"),
        "{log}"
    );
}

#[tokio::test]
async fn a_request_without_valid_credentials_gets_the_digest_401_and_no_authorizer_call() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(
        AuthorizeLayer::predicate(move |_: &AuthenticatedUser| {
            counter.fetch_add(1, Ordering::SeqCst);
            true
        }),
        &calls,
    );
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let offered: Vec<_> = challenges(response.headers())
        .into_iter()
        .map(|c| c.algorithm)
        .collect();
    assert_eq!(offered, ["SHA-256", "MD5"]);

    let wrong = login(&service, ADMIN, "Baboon").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(wrong.headers()).len(), 2);
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[derive(Debug, thiserror::Error)]
#[error("permission database is down")]
struct DbDown;

#[tokio::test]
async fn an_authorizer_error_is_a_500_and_is_logged() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(
        AuthorizeLayer::async_predicate(|_: AuthenticatedUser| async { Err::<bool, _>(DbDown) }),
        &calls,
    );
    start_log_capture();
    let response = login(&service, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(response.body(), "internal server error");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let log = captured_log();
    let line = log
        .lines()
        .find(|line| line.contains("authorizer failed"))
        .unwrap_or_else(|| panic!("no log line: {log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("permission database is down"), "{line}");
    assert!(line.contains("Rafiki"), "{line}");
}

#[tokio::test]
async fn a_permission_store_error_is_a_500() {
    struct Failing;
    impl Permissions for Failing {
        type Error = DbDown;
        async fn has_permission(&self, _: &AuthenticatedUser, _: &str) -> Result<bool, DbDown> {
            Err(DbDown)
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(AuthorizeLayer::permission(Failing, "anything"), &calls);
    let response = login(&service, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// One rejection function for both layers; it even adds a `WWW-Authenticate` of its own,
/// which the 401 replaces with the digest challenges and the 403 must not carry.
fn json_rejection(rejection: &Rejection, _request: &http::request::Parts) -> Response<String> {
    Response::builder()
        .status(rejection.status())
        .header("content-type", "application/json")
        .header(WWW_AUTHENTICATE, "Basic realm=\"oops\"")
        .body(format!(r#"{{"error":"{}"}}"#, rejection.public_message()))
        .unwrap()
}

#[tokio::test]
async fn one_custom_rejection_response_shapes_the_401_and_the_403() {
    let calls = Arc::new(AtomicUsize::new(0));
    let digest = DigestLayer::builder(REALM, users())
        .rejection_response(json_rejection)
        .build()
        .unwrap();
    let authorize = AuthorizeLayer::role("admin").rejection_response(json_rejection);
    let service = tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(digest)
            .layer(authorize)
            .service(app(&calls)),
    );

    let unauthenticated = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(
        unauthenticated.body(),
        r#"{"error":"authentication required"}"#
    );
    assert_eq!(challenges(unauthenticated.headers()).len(), 2);

    let forbidden = login(&service, USER, PASSWORD).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(forbidden.body(), r#"{"error":"forbidden"}"#);
    assert_eq!(forbidden.headers()["content-type"], "application/json");
    assert!(forbidden.headers().get(WWW_AUTHENTICATE).is_none());

    let allowed = login(&service, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.body(), "hello Rafiki");
}

#[tokio::test]
async fn an_authorizer_outside_the_digest_layer_fails_closed_with_a_500() {
    let calls = Arc::new(AtomicUsize::new(0));
    start_log_capture();

    // Wrong order: the authorizer runs before anyone is authenticated.
    let inverted = tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(AuthorizeLayer::predicate(|_: &AuthenticatedUser| true))
            .layer(digest())
            .service(app(&calls)),
    );
    let response = inverted
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());

    // No digest layer at all.
    let bare = AuthorizeLayer::predicate(|_: &AuthenticatedUser| true).layer(app(&calls));
    let response = bare.oneshot(request("GET", "/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the app never ran");
    let log = captured_log();
    assert_eq!(
        log.matches("AuthorizeLayer must sit inside DigestLayer")
            .count(),
        2,
        "{log}"
    );
}

#[tokio::test]
async fn a_sync_predicate_decides_on_the_user() {
    let calls = Arc::new(AtomicUsize::new(0));
    // The opposite of the role check: only a user without roles named Mufasa.
    let service = protected(
        AuthorizeLayer::predicate(|user: &AuthenticatedUser| {
            user.username() == "Mufasa" && user.roles().is_empty()
        }),
        &calls,
    );
    assert_eq!(
        login(&service, USER, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&service, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_async_predicate_decides_on_every_request() {
    let subscribers = Arc::new(tokio::sync::RwLock::new(HashSet::<String>::new()));
    let lookup = Arc::clone(&subscribers);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = protected(
        AuthorizeLayer::async_predicate(move |user: AuthenticatedUser| {
            let lookup = Arc::clone(&lookup);
            async move {
                tokio::task::yield_now().await;
                Ok::<_, Infallible>(lookup.read().await.contains(user.username()))
            }
        }),
        &calls,
    );
    assert_eq!(
        login(&service, USER, PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
    subscribers.write().await.insert(USER.to_owned());
    assert_eq!(
        login(&service, USER, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&service, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn memory_permissions_grant_through_roles_and_to_single_users() {
    let permissions = Arc::new(
        MemoryPermissions::new()
            .grant_role("admin", ["reports:read", "users:write"])
            .grant_user(USER, ["reports:read"]),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let reports = protected(
        AuthorizeLayer::permission(Arc::clone(&permissions), "reports:read"),
        &calls,
    );
    let users_admin = protected(
        AuthorizeLayer::permission(permissions, "users:write"),
        &calls,
    );
    let status = |response: Response<String>| response.status();
    assert_eq!(
        status(login(&reports, USER, PASSWORD).await),
        StatusCode::OK
    );
    assert_eq!(
        status(login(&reports, ADMIN, ADMIN_PASSWORD).await),
        StatusCode::OK
    );
    assert_eq!(
        status(login(&users_admin, ADMIN, ADMIN_PASSWORD).await),
        StatusCode::OK
    );
    assert_eq!(
        status(login(&users_admin, USER, PASSWORD).await),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_custom_authorizer_and_a_handmade_user_work_without_a_digest_layer_in_unit_tests() {
    struct AllowList(Vec<&'static str>);
    impl Authorizer for AllowList {
        type Error = Infallible;
        async fn authorize(&self, user: &AuthenticatedUser) -> Result<bool, Infallible> {
            Ok(self.0.contains(&user.username()))
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let service = AuthorizeLayer::new(AllowList(vec!["Nala"])).layer(app(&calls));
    let as_user = |name: &str| {
        let mut request = request("GET", "/", None);
        request
            .extensions_mut()
            .insert(AuthenticatedUser::new(name, REALM, Algorithm::Sha256));
        request
    };
    let nala = service.clone().oneshot(as_user("Nala")).await.unwrap();
    assert_eq!(nala.status(), StatusCode::OK);
    assert_eq!(nala.body(), "hello Nala");
    let scar = service.oneshot(as_user("Scar")).await.unwrap();
    assert_eq!(scar.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_authorize_service_calls_the_inner_service_it_polled_ready() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service = AuthorizeLayer::role("admin").layer(mock);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    handle.allow(0);
    assert!(service.poll_ready(&mut cx).is_pending());
    handle.allow(1);
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut admin = request("GET", "/", None);
    admin
        .extensions_mut()
        .insert(AuthenticatedUser::new(ADMIN, REALM, Algorithm::Sha256).with_roles(["admin"]));
    let call = tokio::spawn(service.call(admin));
    // A call on a clone that was never polled ready would not reach the mock.
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), handle.next_request());
    let (seen, send) = next
        .await
        .expect("the inner service was called")
        .expect("inner got the request");
    assert_eq!(
        seen.extensions()
            .get::<AuthenticatedUser>()
            .unwrap()
            .username(),
        ADMIN
    );
    send.send_response(Response::new("from the mock".to_owned()));
    assert_eq!(call.await.unwrap().unwrap().body(), "from the mock");
}

mod optional_login {
    use axum::Router;
    use axum::routing::get;

    use super::*;

    async fn home(user: Option<AuthenticatedUser>) -> String {
        match user {
            Some(user) => format!("welcome back, {}", user.username()),
            None => "hello, stranger".to_owned(),
        }
    }

    /// A handler that decides for itself that it needs a login.
    async fn account(user: Option<AuthenticatedUser>) -> Result<String, StatusCode> {
        user.map(|user| format!("account of {}", user.username()))
            .ok_or(StatusCode::UNAUTHORIZED)
    }

    async fn whoami(user: AuthenticatedUser) -> String {
        user.username().to_owned()
    }

    fn router(allow_anonymous: bool) -> Router {
        let layer = DigestLayer::builder(REALM, users())
            .allow_anonymous(allow_anonymous)
            .build()
            .unwrap();
        let admin = Router::new()
            .route("/admin", get(home))
            .route_layer(AuthorizeLayer::role("admin"));
        Router::new()
            .route("/", get(home))
            .route("/account", get(account))
            .route("/whoami", get(whoami))
            .merge(admin)
            .route_layer(layer)
    }

    async fn send(router: &Router, uri: &str, authorization: Option<&str>) -> Response<String> {
        let response = router
            .clone()
            .oneshot(request("GET", uri, authorization))
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        Response::from_parts(parts, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_option_extractor_is_none_without_credentials_and_the_user_with_them() {
        let router = router(true);
        let anonymous = send(&router, "/", None).await;
        assert_eq!(anonymous.status(), StatusCode::OK);
        assert_eq!(anonymous.body(), "hello, stranger");
        // The challenges ride along, so a client can log in from this very answer.
        let challenge = challenges(anonymous.headers()).remove(0);
        assert_eq!(challenge.algorithm, "SHA-256");

        let header = Answer::get("/").header(&challenge);
        let known = send(&router, "/", Some(&header)).await;
        assert_eq!(known.status(), StatusCode::OK);
        assert_eq!(known.body(), "welcome back, Mufasa");
        assert!(known.headers().get(WWW_AUTHENTICATE).is_none());
        assert!(known.headers().contains_key("authentication-info"));
    }

    #[tokio::test]
    async fn credentials_that_are_sent_are_still_checked() {
        let router = router(true);
        let challenge = challenges(send(&router, "/", None).await.headers()).remove(0);
        let wrong = Answer::get("/").password("Scar").header(&challenge);
        let response = send(&router, "/", Some(&wrong)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.body(), "authentication required");
        let malformed = send(&router, "/", Some("Digest username=")).await;
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_handler_that_answers_401_gets_the_challenges() {
        let router = router(true);
        let response = send(&router, "/account", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/account").header(&challenge);
        let response = send(&router, "/account", Some(&header)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "account of Mufasa");
    }

    #[tokio::test]
    async fn a_handler_that_takes_the_user_asks_anonymous_requests_to_log_in() {
        let router = router(true);
        let response = send(&router, "/whoami", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.body(), "authentication required");
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/whoami").header(&challenge);
        let response = send(&router, "/whoami", Some(&header)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "Mufasa");
    }

    #[tokio::test]
    async fn an_authorizer_under_optional_login_asks_anonymous_requests_to_log_in() {
        let router = router(true);
        let response = send(&router, "/admin", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = challenges(response.headers()).remove(0);
        let mufasa = Answer::get("/admin").header(&challenge);
        assert_eq!(
            send(&router, "/admin", Some(&mufasa)).await.status(),
            StatusCode::FORBIDDEN
        );
        let rafiki = Answer::get("/admin")
            .nc(2)
            .username(ADMIN)
            .password(ADMIN_PASSWORD)
            .header(&challenge);
        let response = send(&router, "/admin", Some(&rafiki)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "welcome back, Rafiki");
    }

    #[tokio::test]
    async fn without_allow_anonymous_the_optional_route_is_still_challenged() {
        let router = router(false);
        let response = send(&router, "/", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.body(), "authentication required");
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/").header(&challenge);
        assert_eq!(
            send(&router, "/", Some(&header)).await.body(),
            "welcome back, Mufasa"
        );
    }
}
