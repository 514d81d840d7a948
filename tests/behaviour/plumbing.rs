//! Configuration and plumbing: the rejection hook, trusted proxies, the inner service's errors
//! and readiness, refused configurations, and what a credential store hands the handler.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::rejection::Rejection;
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, ClientIpSource, CredentialStore, DigestLayer, Ha1,
    MemoryCredentials,
};

use crate::common::{self, Answer, PASSWORD, REALM, USER, challenges, request};
use crate::fixture::{
    Builder, Inner, PAGE, answer, app, describe, fixture_around, fixture_with, get, users,
};

#[tokio::test]
async fn custom_rejection_response_still_gets_challenges() {
    let layer = DigestLayer::builder(REALM, users())
        .rejection_response(|rejection: &Rejection, request: &http::request::Parts| {
            let body = if request.headers.contains_key("x-wants-html") {
                format!("<p>{rejection}</p>")
            } else {
                format!(r#"{{"error":"{}"}}"#, rejection.public_message())
            };
            let response = Response::builder().status(rejection.status());
            response
                .header("content-type", "application/json")
                .body(body)
                .unwrap()
        })
        .build()
        .unwrap();
    let f = fixture_around(app(&layer));
    let response = f.send(request("GET", "/", None)).await;
    assert_eq!(describe(&response), "401");
    assert_eq!(response.body(), r#"{"error":"authentication required"}"#);
    // The hook sees the request, so it can answer by what the client accepts.
    let mut html = request("GET", "/", None);
    html.headers_mut()
        .insert("x-wants-html", http::HeaderValue::from_static("1"));
    let response = f.send(html).await;
    assert_eq!(describe(&response), "401");
    assert_eq!(response.body(), "<p>authentication required</p>");
    let got = f.got(get("Digest x=\"")).await;
    assert_eq!(got, r#"400 {"error":"unterminated quoted string"}"#);
}

#[tokio::test]
async fn trusted_proxy_supplies_the_client_address() {
    let proxies = ClientIpSource::XForwardedFor(vec!["10.0.0.0/8".parse().unwrap()]);
    let f = fixture_with(|b| b.client_ip(proxies));
    let via_proxy = |client: &str, authorization: Option<&str>| {
        let proxy = "10.0.0.1:80".parse().unwrap();
        let mut request = common::request_from(proxy, "GET", PAGE, authorization);
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        request
    };
    let response = f.send(via_proxy("203.0.113.5", None)).await;
    let header = answer(&challenges(response.headers()).remove(0));
    // Bound to the real client: from another one, a right answer is stale (never 200).
    let other = f.got(via_proxy("203.0.113.6", Some(&header))).await;
    assert_eq!(other, "401 stale", "bound to the real client");
    let same = f.got(via_proxy("203.0.113.5", Some(&header))).await;
    assert_eq!(same, "200 hello Mufasa via SHA-256");
}

#[tokio::test]
async fn inner_errors_pass_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Boom;
    let layer = DigestLayer::builder(REALM, users()).build().unwrap();
    let failing = service_fn(|_: Request<String>| async { Err::<Response<String>, _>(Boom) });
    let service = tower::Layer::layer(&layer, failing);
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let header = Answer::get("/").header(&challenges(response.headers()).remove(0));
    let error = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap_err();
    assert_eq!(error, Boom);
}

#[tokio::test]
async fn the_service_calls_the_inner_service_it_polled_ready() {
    let layer = DigestLayer::builder(REALM, users()).build().unwrap();
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service = tower::Layer::layer(&layer, mock);
    handle.allow(0);
    assert!(
        poll_ready_now(&mut service).is_pending(),
        "readiness comes from the inner"
    );
    handle.allow(1);
    assert!(poll_ready_now(&mut service).is_ready());
    // A challenge is answered by the layer alone; the inner never sees it.
    let response = service.call(request("GET", "/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let header = Answer::get("/").header(&challenges(response.headers()).remove(0));
    handle.allow(1);
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let call = tokio::spawn(service.call(request("GET", "/", Some(&header))));
    let (seen, send) = handle.next_request().await.expect("inner got the request");
    assert!(seen.extensions().get::<AuthenticatedUser>().is_some());
    send.send_response(Response::new("from the mock".to_owned()));
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.body(), "from the mock");
    assert!(response.headers().contains_key("authentication-info"));
}

fn poll_ready_now<S: Service<Request<String>>>(service: &mut S) -> std::task::Poll<()>
where
    S::Error: std::fmt::Debug,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    service.poll_ready(&mut cx).map(|ready| ready.unwrap())
}

/// A change to the default builder.
type Configure = fn(Builder) -> Builder;

#[test]
fn invalid_configurations_are_refused() {
    let cases: [(Configure, &str); 5] = [
        (|b| b.algorithms([]), "NoAlgorithms"),
        (
            |b| b.algorithms([Algorithm::Md5, Algorithm::Md5]),
            "DuplicateAlgorithm(Md5)",
        ),
        (|b| b.nonce_lifetime(Duration::ZERO), "LifetimeTooShort"),
        (|b| b.nonce_lifetime(Duration::MAX), "LifetimeTooLong"),
        (|b| b.opaque("a\nb"), "InvalidText(\"opaque\")"),
    ];
    for (configure, expected) in cases {
        let error = configure(DigestLayer::builder(REALM, users()))
            .build()
            .err();
        assert_eq!(format!("{:?}", error.expect(expected)), expected);
    }
    let error = DigestLayer::builder("", users()).build().err();
    assert_eq!(
        format!("{:?}", error.expect("an empty realm")),
        "InvalidText(\"realm\")"
    );
}

/// A realm typo between the store and the layer would look like every password being
/// wrong; the builder catches it instead.
#[test]
fn a_realm_the_credential_store_does_not_serve_is_refused_at_build() {
    let typo = DigestLayer::builder("http-auth@example.com", users()).build();
    let error = typo.map(|_| ()).unwrap_err();
    assert!(
        matches!(&error, tower_digest_auth::ConfigError::RealmNotServed { realm } if realm == "http-auth@example.com"),
        "{error:?}"
    );
    assert!(error.to_string().contains("same realm"), "{error}");
}

/// What the store returns with the HA1 reaches the handler: no second lookup needed.
#[tokio::test]
async fn roles_and_data_from_the_credential_store_reach_the_authenticated_user() {
    #[derive(Debug, PartialEq)]
    struct Account(u64);
    struct WithAccounts(MemoryCredentials);
    impl CredentialStore for WithAccounts {
        type Error = Infallible;
        async fn ha1(&self, u: &str, r: &str, h: HashFunction) -> Result<Option<Ha1>, Infallible> {
            self.0.ha1(u, r, h).await
        }
        async fn credential(
            &self,
            u: &str,
            r: &str,
            h: HashFunction,
        ) -> Result<Option<tower_digest_auth::Credential>, Infallible> {
            let found = self.0.credential(u, r, h).await?;
            Ok(found.map(|credential| credential.with_data(Account(42))))
        }
    }
    let mut users = MemoryCredentials::new(REALM, [("nobody", "x")]);
    users.insert_with_roles(USER, PASSWORD, ["admin", "keeper"]);
    let layer = DigestLayer::builder(REALM, WithAccounts(users))
        .build()
        .unwrap();
    let service = tower::Layer::layer(
        &layer,
        service_fn(|request: Request<String>| async move {
            let user = request.extensions().get::<AuthenticatedUser>().unwrap();
            let (roles, account) = (user.roles(), user.data::<Account>());
            let no_string = user.data::<String>().is_none();
            Ok::<_, Infallible>(Response::new(format!("{roles:?} {account:?} {no_string}")))
        }),
    );
    let f = fixture_around(Inner::new(service));
    let response = f.send(get(answer(&f.challenge().await))).await;
    assert_eq!(
        describe(&response),
        r#"200 ["admin", "keeper"] Some(Account(42)) true"#
    );
}
