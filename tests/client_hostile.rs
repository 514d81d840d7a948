//! The Digest client against servers that misbehave: huge, malformed, endless or
//! unanswerable challenges, headers that are not UTF-8, a server that never stops
//! challenging, and the older or rarer forms a real server may use (no `qop`, only
//! `auth-int`). Each server here is a function from the request to a canned response; the
//! ones that check an answer compute it with `common`'s independent hashing.

#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{h, param, params};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_digest_auth::client::{ChallengeError, DigestClientLayer, Error};

/// A server answering each request with `respond(request, how many came before)`.
fn server<F>(
    respond: F,
) -> (
    impl Service<Request<String>, Response = Response<String>, Error = std::io::Error, Future: Send>
    + Clone
    + Send
    + 'static,
    Arc<AtomicUsize>,
)
where
    F: Fn(&Request<String>, usize) -> Result<Response<String>, std::io::Error>
        + Send
        + Sync
        + 'static,
{
    let sent = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let counter = Arc::clone(&sent);
    let service = service_fn(move |request: Request<String>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let response = respond(&request, n);
        async move { response }
    });
    (service, sent)
}

fn challenge_response(values: &[&[u8]]) -> Response<String> {
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    for value in values {
        let value = HeaderValue::from_bytes(value).unwrap();
        response.headers_mut().append(WWW_AUTHENTICATE, value);
    }
    response
}

/// What one request through the client gets from a server that always sends `values`,
/// and how many requests the server saw.
async fn against(values: Vec<Vec<u8>>) -> (Result<StatusCode, Error>, usize) {
    let (inner, sent) = server(move |_, _| {
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        Ok(challenge_response(&values))
    });
    let client = DigestClientLayer::new("Mufasa", "Circle of Life").layer(inner);
    let request = Request::get("http://device.example/cgi")
        .body(String::new())
        .unwrap();
    let result = client
        .oneshot(request)
        .await
        .map(|response| response.status());
    (result, sent.load(Ordering::SeqCst))
}

fn challenge_error(result: &Result<StatusCode, Error>) -> Option<ChallengeError> {
    match result {
        Err(Error::Challenge(error)) => Some(*error),
        _ => None,
    }
}

#[tokio::test]
async fn unanswerable_challenges_are_clear_errors_after_one_request() {
    let huge = format!(r#"Digest realm="{}", nonce="n""#, "a".repeat(17 * 1024));
    let thousand = format!("{}Digest realm=r, nonce=n", "Bearer x, ".repeat(1000));
    let cases: Vec<(Vec<Vec<u8>>, ChallengeError)> = vec![
        (
            vec![
                br#"Digest realm="r", algorithm=SHA-1, nonce="n", qop="auth""#.to_vec(),
                br#"Digest realm="r", algorithm=SHA3-256, nonce="n", qop="auth""#.to_vec(),
            ],
            ChallengeError::Unsupported("an algorithm this client does not know"),
        ),
        (
            vec![br#"Digest realm="r", nonce="n", qop="auth-conf""#.to_vec()],
            ChallengeError::Unsupported("no qop this client knows (auth, auth-int)"),
        ),
        (vec![huge.into_bytes()], ChallengeError::TooLong),
        (
            vec![thousand.into_bytes()],
            ChallengeError::TooManyChallenges,
        ),
        (
            vec![b"Bearer".to_vec(); 1000],
            ChallengeError::TooManyChallenges,
        ),
        (
            vec![b"Digest realm=\"caf\xe9\", nonce=\"n\"".to_vec()],
            ChallengeError::NotUtf8,
        ),
        (
            vec![br#"Digest nonce="n", realm="r"#.to_vec()],
            ChallengeError::Malformed("unterminated quoted string"),
        ),
        (
            vec![br#"Digest realm="r" nonce="n""#.to_vec()],
            ChallengeError::Malformed("expected ',' after a parameter"),
        ),
        (
            vec![format!("Digest {}", "x=1, ".repeat(40)).into_bytes()],
            ChallengeError::Malformed("too many parameters in a challenge"),
        ),
    ];
    for (values, expected) in cases {
        let shown = String::from_utf8_lossy(&values[0])
            .chars()
            .take(60)
            .collect::<String>();
        let (result, sent) = against(values).await;
        assert_eq!(
            challenge_error(&result),
            Some(expected),
            "{shown}: {result:?}"
        );
        assert_eq!(sent, 1, "{shown}");
    }
}

#[tokio::test]
async fn a_401_without_a_digest_challenge_is_returned_as_it_is() {
    for values in [
        vec![],
        vec![br#"Basic realm="device""#.to_vec()],
        vec![b"Bearer, Negotiate".to_vec()],
    ] {
        let (result, sent) = against(values).await;
        assert_eq!((result.unwrap(), sent), (StatusCode::UNAUTHORIZED, 1));
    }
    // Sanity: `against` does answer a usable challenge (then gets the same 401 again).
    let usable = vec![br#"Digest realm="r", nonce="n", qop="auth""#.to_vec()];
    let (result, sent) = against(usable).await;
    assert_eq!((result.unwrap(), sent), (StatusCode::UNAUTHORIZED, 2));
}

#[tokio::test]
async fn a_server_that_challenges_forever_gets_at_most_three_requests() {
    let (inner, sent) = server(|_, n| {
        let value = format!(r#"Digest realm="r", nonce="n{n}", qop="auth", stale=true"#);
        Ok(challenge_response(&[value.as_bytes()]))
    });
    let client = DigestClientLayer::new("u", "p").layer(inner);
    let response = client
        .oneshot(Request::get("/").body(String::new()).unwrap())
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sent.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn arbitrary_challenge_bytes_never_panic() {
    // A deterministic sweep over short headers built from the bytes that matter.
    let alphabet = b"Digest realm=\"a\\,qop=auth-int SHA-256 stale=true\xff\t";
    for seed in 0usize..20_000 {
        let mut value = b"Digest ".to_vec();
        let mut n = seed.wrapping_mul(2_654_435_761);
        for _ in 0..(seed % 40) {
            value.push(alphabet[n % alphabet.len()]);
            n = n / alphabet.len() + seed;
        }
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            let _ = tower_digest_auth::client::Challenge::strongest([&value]);
        }
    }
}

#[tokio::test]
async fn a_server_without_qop_is_answered_in_the_rfc_2069_form() {
    let (inner, sent) = server(|request, _| {
        let Some(sent) = request.headers().get(AUTHORIZATION) else {
            return Ok(challenge_response(&[
                br#"Digest realm="old", nonce="abc", opaque="o""#,
            ]));
        };
        let p = params(sent.to_str().unwrap().strip_prefix("Digest ").unwrap());
        let ha1 = h("MD5", b"Mufasa:old:Circle of Life");
        let ha2 = h("MD5", b"GET:/cgi");
        let expected = h("MD5", format!("{ha1}:abc:{ha2}").as_bytes());
        let ok = param(&p, "response") == Some(expected.as_str())
            && param(&p, "nc").is_none()
            && param(&p, "opaque") == Some("o");
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        Ok(Response::builder()
            .status(status)
            .body(String::new())
            .unwrap())
    });
    let client = DigestClientLayer::new("Mufasa", "Circle of Life").layer(inner);
    let response = client
        .oneshot(Request::get("/cgi").body(String::new()).unwrap())
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_eq!(sent.load(Ordering::SeqCst), 2);
}

/// A server offering only `qop=auth-int`, which checks the answer over the body it got.
fn auth_int_server()
-> impl Service<Request<String>, Response = Response<String>, Error = std::io::Error, Future: Send>
+ Clone
+ Send
+ 'static {
    server(|request, _| {
        let Some(sent) = request.headers().get(AUTHORIZATION) else {
            let offer = br#"Digest realm="r", nonce="xyz", algorithm=SHA-256, qop="auth-int""#;
            return Ok(challenge_response(&[offer]));
        };
        let p = params(sent.to_str().unwrap().strip_prefix("Digest ").unwrap());
        let (nc, cnonce) = (param(&p, "nc").unwrap(), param(&p, "cnonce").unwrap());
        let ha1 = h("SHA-256", b"u:r:p");
        let body_hash = h("SHA-256", request.body().as_bytes());
        let ha2 = h("SHA-256", format!("POST:/upload:{body_hash}").as_bytes());
        let expected = h(
            "SHA-256",
            format!("{ha1}:xyz:{nc}:{cnonce}:auth-int:{ha2}").as_bytes(),
        );
        let ok = param(&p, "response") == Some(expected.as_str())
            && param(&p, "qop") == Some("auth-int");
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        Ok(Response::builder()
            .status(status)
            .body(String::new())
            .unwrap())
    })
    .0
}

#[tokio::test]
async fn an_auth_int_only_server_gets_the_body_hashed() {
    let client = DigestClientLayer::new("u", "p").layer(auth_int_server());
    let request = |body: String| Request::post("/upload").body(body).unwrap();
    let response = client.clone().oneshot(request("hello".into())).await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    // The remembered session hashes each request's own body.
    let response = client.clone().oneshot(request("another body".into())).await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    // Beyond the limit: an error, not an unbounded read.
    let large = "x".repeat(1024 * 1024 + 1);
    assert!(matches!(
        client.oneshot(request(large)).await,
        Err(Error::Body(_))
    ));
}

#[tokio::test]
async fn a_malformed_authentication_info_is_an_error() {
    let (inner, _) = server(|request, _| {
        if request.headers().get(AUTHORIZATION).is_none() {
            return Ok(challenge_response(&[
                br#"Digest realm="r", nonce="n", qop="auth""#,
            ]));
        }
        let info = HeaderValue::from_static(r#"rspauth="unterminated"#);
        Ok(Response::builder()
            .header("authentication-info", info)
            .body(String::new())
            .unwrap())
    });
    let client = DigestClientLayer::new("u", "p").layer(inner);
    let response = client
        .oneshot(Request::get("/").body(String::new()).unwrap())
        .await;
    assert!(
        matches!(response, Err(Error::MalformedInfo(_))),
        "{response:?}"
    );
}

#[tokio::test]
async fn the_inner_services_error_is_carried() {
    let (inner, _) = server(|_, _| Err(std::io::Error::other("connection refused")));
    let client = DigestClientLayer::new("u", "p").layer(inner);
    let error = client
        .oneshot(Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap_err();
    let Error::Inner(inner) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        inner.downcast_ref::<std::io::Error>().unwrap().to_string(),
        "connection refused"
    );
    assert!(std::error::Error::source(&error).is_some());
}
