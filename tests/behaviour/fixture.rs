//! The service under test, and one-line helpers that build what a client sends and describe
//! what it gets.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt, service_fn};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::nonce::MemoryNonceStore;
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};

use crate::common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, params, request};

pub(crate) type Inner =
    tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;
pub(crate) type Builder = tower_digest_auth::DigestLayerBuilder<MemoryCredentials>;

/// The page every case asks for, unless it says otherwise.
pub(crate) const PAGE: &str = "/dir/index.html";

/// The protected app: answers with the authenticated user's name.
pub(crate) fn inner() -> Inner {
    Inner::new(service_fn(|request: Request<String>| async move {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .expect("the layer passes the user on");
        Ok::<_, Infallible>(Response::new(format!(
            "hello {} via {}",
            user.username(),
            user.algorithm()
        )))
    }))
}

pub(crate) fn users() -> MemoryCredentials {
    MemoryCredentials::new(REALM, [(USER, PASSWORD)])
}

/// The layer around `inner()`, as one cloneable service.
pub(crate) fn app<L>(layer: &L) -> Inner
where
    L: tower::Layer<Inner>,
    L::Service: Service<Request<String>, Response = Response<String>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as Service<Request<String>>>::Future: Send + 'static,
{
    Inner::new(tower::Layer::layer(layer, inner()))
}

/// A case of a table: the behaviour, the request built from fresh challenges, and what it
/// gets (as `describe` writes it).
pub(crate) type Case = (&'static str, fn(&Offered) -> Request<String>, &'static str);

/// The two challenges of one 401 from the default configuration.
pub(crate) struct Offered {
    pub(crate) sha: Challenge,
    pub(crate) md5: Challenge,
}

pub(crate) struct Fixture {
    pub(crate) service: Inner,
    pub(crate) clock: ManualClock,
    pub(crate) nonces: MemoryNonceStore,
}

pub(crate) fn fixture_with(configure: impl FnOnce(Builder) -> Builder) -> Fixture {
    fixture_in(MemoryNonceStore::new(), configure)
}

pub(crate) fn fixture_in(
    nonces: MemoryNonceStore,
    configure: impl FnOnce(Builder) -> Builder,
) -> Fixture {
    let clock = ManualClock::new();
    let layer = configure(DigestLayer::builder(REALM, users()).clock(clock.clone()))
        .nonce_store(nonces.clone())
        .build()
        .unwrap();
    Fixture {
        service: app(&layer),
        clock,
        nonces,
    }
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(|builder| builder)
}

/// A service built elsewhere, with a clock and nonce store it does not use.
pub(crate) fn fixture_around(service: Inner) -> Fixture {
    Fixture {
        service,
        clock: ManualClock::new(),
        nonces: MemoryNonceStore::new(),
    }
}

impl Fixture {
    pub(crate) async fn send(&self, request: Request<String>) -> Response<String> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    /// What `request` gets, as `describe` writes it.
    pub(crate) async fn got(&self, request: Request<String>) -> String {
        describe(&self.send(request).await)
    }

    /// The challenges of a fresh 401, in the order offered.
    pub(crate) async fn challenges(&self) -> Vec<Challenge> {
        let response = self.send(request("GET", PAGE, None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        challenges(response.headers())
    }

    /// The first challenge of a fresh 401.
    pub(crate) async fn challenge(&self) -> Challenge {
        self.challenges().await.remove(0)
    }

    /// The default configuration's two challenges, by algorithm.
    pub(crate) async fn offered(&self) -> Offered {
        let [sha, md5]: [Challenge; 2] = self.challenges().await.try_into().unwrap();
        assert_eq!((&*sha.algorithm, &*md5.algorithm), ("SHA-256", "MD5"));
        Offered { sha, md5 }
    }

    /// Runs each case against challenges of its own, so no case sees another's nonce.
    pub(crate) async fn check(&self, cases: &[Case]) {
        for (behaviour, send, expected) in cases {
            let request = send(&self.offered().await);
            assert_eq!(self.got(request).await, *expected, "{behaviour}");
        }
    }

    /// Answers a fresh challenge correctly, checks it is let in, and returns the header.
    pub(crate) async fn log_in(&self) -> String {
        let header = answer(&self.challenge().await);
        assert_eq!(self.got(get(&header)).await, "200 hello Mufasa via SHA-256");
        header
    }

    /// Answers `challenge` for `PAGE` with each `nc` in turn, checking what each gets.
    pub(crate) async fn counts(&self, challenge: &Challenge, script: &[(u32, &str)]) {
        for (nc, expected) in script {
            let header = Answer::get(PAGE).nc(*nc).header(challenge);
            assert_eq!(self.got(get(header)).await, *expected, "nc {nc}");
        }
    }

    /// Sends the same header from `copies` tasks at once; how many were let through.
    pub(crate) async fn race(&self, header: &str, copies: usize) -> usize {
        let tasks: Vec<_> = (0..copies)
            .map(|_| {
                let service = self.service.clone();
                let request = get(header);
                tokio::spawn(async move { service.oneshot(request).await.unwrap().status() })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += usize::from(task.await.unwrap() == StatusCode::OK);
        }
        accepted
    }
}

/// A response in one line: the status, then the body of a 200 or 400; a 401 says whether it
/// carries one fresh challenge per default algorithm or only stale ones. Anything else the
/// behaviour table does not allow (a 400 or 500 with a challenge, a mixed 401) prints as such.
pub(crate) fn describe(response: &Response<String>) -> String {
    let status = response.status();
    let challenges = challenges(response.headers());
    let any_challenge = response.headers().contains_key("www-authenticate");
    match status {
        StatusCode::OK => format!("200 {}", response.body()),
        StatusCode::UNAUTHORIZED if challenges.len() == 2 && challenges.iter().all(|c| c.stale) => {
            "401 stale".into()
        }
        StatusCode::UNAUTHORIZED
            if challenges.len() == 2 && challenges.iter().all(|c| !c.stale) =>
        {
            "401".into()
        }
        StatusCode::BAD_REQUEST if !any_challenge => format!("400 {}", response.body()),
        StatusCode::INTERNAL_SERVER_ERROR if !any_challenge => "500".into(),
        _ => format!("{status} {challenges:?} {}", response.body()),
    }
}

pub(crate) fn get(header: impl AsRef<str>) -> Request<String> {
    get_at(PAGE, header)
}

pub(crate) fn get_at(uri: &str, header: impl AsRef<str>) -> Request<String> {
    request("GET", uri, Some(header.as_ref()))
}

/// A correct answer to `challenge` for `GET PAGE`.
pub(crate) fn answer(challenge: &Challenge) -> String {
    Answer::get(PAGE).header(challenge)
}

/// A correct answer with one field dropped.
pub(crate) fn without(challenge: &Challenge, name: &str) -> String {
    edit_field(&answer(challenge), name, None)
}

/// A correct answer with one field replaced.
pub(crate) fn with(challenge: &Challenge, name: &str, value: &str) -> String {
    edit_field(&answer(challenge), name, Some(value))
}

/// A copy of `challenge` with another nonce.
pub(crate) fn with_nonce(challenge: &Challenge, nonce: String) -> Challenge {
    Challenge {
        nonce,
        ..challenge.clone()
    }
}

/// Replaces (or drops) one `name=value` of an Authorization header.
pub(crate) fn edit_field(header: &str, name: &str, value: Option<&str>) -> String {
    let body = header.strip_prefix("Digest ").unwrap();
    let mut parts: Vec<String> = Vec::new();
    for (n, v) in params(body) {
        if n == name {
            if let Some(value) = value {
                parts.push(format!(r#"{n}="{value}""#));
            }
        } else {
            parts.push(format!(r#"{n}="{v}""#));
        }
    }
    format!("Digest {}", parts.join(", "))
}

/// The nonce with one character flipped: a forgery the MAC must catch.
pub(crate) fn forged(nonce: &str) -> String {
    let mut bytes = nonce.as_bytes().to_vec();
    bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// An RFC 2069 answer: no qop, nc or cnonce.
pub(crate) fn rfc2069(challenge: &Challenge) -> String {
    let nonce = &challenge.nonce;
    let response = "0".repeat(32);
    format!(
        r#"Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{PAGE}", response="{response}""#
    )
}
