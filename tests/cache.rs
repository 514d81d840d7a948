//! `CachedCredentials` behind the layer: what clients see with the cache on.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, request};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::credentials::cached::CachedCredentials;
use tower_digest_auth::{
    AuthenticatedUser, ConfigError, Credential, CredentialStore, DigestLayer, DigestLayerBuilder,
    MemoryCredentials,
};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// Users whose passwords can change, which counts its lookups and can be made to fail.
#[derive(Default)]
struct Users {
    memory: RwLock<MemoryCredentials>,
    lookups: AtomicUsize,
    down: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("the user database is down")]
struct Down;

impl Users {
    fn new() -> Arc<Self> {
        let mut users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
        users.insert_with_roles("Rafiki", "Mandrill", ["admin"]);
        Arc::new(Users {
            memory: RwLock::new(users),
            ..Users::default()
        })
    }

    fn set_password(&self, user: &str, password: &str) {
        self.memory.write().unwrap().insert(user, password);
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl CredentialStore for Users {
    type Error = Down;

    async fn ha1(
        &self,
        _: &str,
        _: &str,
        _: HashFunction,
    ) -> Result<Option<tower_digest_auth::Ha1>, Down> {
        unreachable!("the layer asks for the credential")
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, Down> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(Down);
        }
        let users = self.memory.read().unwrap().clone();
        Ok(users.credential(username, realm, hash).await.unwrap())
    }

    async fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<String>, Down> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let users = self.memory.read().unwrap().clone();
        Ok(users
            .username_for_hash(userhash, realm, hash)
            .await
            .unwrap())
    }

    fn serves_realm(&self, realm: &str) -> Option<bool> {
        self.memory.read().unwrap().serves_realm(realm)
    }
}

struct Fixture {
    service: Inner,
    users: Arc<Users>,
    cache: CachedCredentials<Arc<Users>>,
    clock: ManualClock,
}

type Builder = DigestLayerBuilder<CachedCredentials<Arc<Users>>>;

/// The layer over a cache (60 s) over `Users`, layer and cache on one manual clock.
fn fixture() -> Fixture {
    fixture_with(|builder| builder)
}

/// [`fixture`], with `configure` applied to the layer's builder.
fn fixture_with(configure: impl FnOnce(Builder) -> Builder) -> Fixture {
    let clock = ManualClock::new();
    let users = Users::new();
    let cache = CachedCredentials::builder(Arc::clone(&users))
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let builder = DigestLayer::builder(REALM, cache.clone()).clock(clock.clone());
    let layer = configure(builder).build().unwrap();
    let inner = service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "{} {:?}",
            user.username(),
            user.roles()
        )))
    });
    Fixture {
        service: Inner::new(tower::Layer::layer(&layer, inner)),
        users,
        cache,
        clock,
    }
}

impl Fixture {
    async fn get(&self, authorization: Option<&str>) -> Response<String> {
        let request = request("GET", "/dir/index.html", authorization);
        self.service.clone().oneshot(request).await.unwrap()
    }

    async fn challenge(&self) -> Challenge {
        let response = self.get(None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        challenges(response.headers()).remove(0)
    }

    /// A fresh handshake answered as `user` with `password`.
    async fn login(&self, user: &str, password: &str) -> Response<String> {
        let challenge = self.challenge().await;
        let answer = Answer::get("/dir/index.html")
            .username(user)
            .password(password)
            .header(&challenge);
        self.get(Some(&answer)).await
    }

    /// A fresh handshake answered as `user` with `password`, the name sent as its
    /// `userhash`.
    async fn login_hashed(&self, user: &str, password: &str) -> Response<String> {
        let challenge = self.challenge().await;
        assert!(challenge.userhash, "the challenge offers userhash");
        let answer = Answer::get("/dir/index.html")
            .username(user)
            .password(password)
            .hashed_username()
            .header(&challenge);
        self.get(Some(&answer)).await
    }
}

/// Status, headers and body, with the nonces blanked out.
fn without_nonces(response: &Response<String>) -> (StatusCode, String, Vec<String>, String) {
    let mut headers = response.headers().clone();
    headers.remove("www-authenticate");
    let challenges = challenges(response.headers())
        .into_iter()
        .map(|c| {
            format!(
                "{:?}",
                Challenge {
                    nonce: String::new(),
                    ..c
                }
            )
        })
        .collect();
    (
        response.status(),
        format!("{headers:?}"),
        challenges,
        response.body().clone(),
    )
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_alike_on_miss_and_on_hit() {
    let f = fixture();
    let mut answers = Vec::new();
    // First round: both are misses; second round: both are hits (negative and positive).
    for round in 0..2 {
        let wrong = f.login(USER, "Circle of Death").await;
        let unknown = f.login("Scar", PASSWORD).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            without_nonces(&wrong),
            without_nonces(&unknown),
            "round {round}"
        );
        answers.push(without_nonces(&wrong));
        // Each of the two took the same path to the store: one lookup each, then none.
        assert_eq!(f.users.lookups(), 2, "round {round}");
    }
    assert_eq!(answers[0], answers[1], "a hit answers as a miss does");
}

#[tokio::test]
async fn a_cached_user_authenticates_without_a_store_lookup_and_keeps_roles() {
    let f = fixture();
    for _ in 0..3 {
        let response = f.login("Rafiki", "Mandrill").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), r#"Rafiki ["admin"]"#);
    }
    assert_eq!(f.users.lookups(), 1);
}

#[tokio::test]
async fn a_changed_password_is_seen_after_invalidate() {
    let f = fixture();
    assert_eq!(f.login(USER, PASSWORD).await.status(), StatusCode::OK);
    f.users.set_password(USER, "Hakuna Matata");
    // The trade-off: until invalidated (or the TTL passes), the old answer stands.
    assert_eq!(f.login(USER, PASSWORD).await.status(), StatusCode::OK);

    f.cache.invalidate(USER);
    assert_eq!(
        f.login(USER, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.login(USER, "Hakuna Matata").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_changed_password_is_seen_once_the_ttl_passes_on_the_layer_clock() {
    let f = fixture();
    assert_eq!(f.login(USER, PASSWORD).await.status(), StatusCode::OK);
    f.users.set_password(USER, "Hakuna Matata");
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(f.login(USER, PASSWORD).await.status(), StatusCode::OK);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(
        f.login(USER, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.login(USER, "Hakuna Matata").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_store_failure_is_500_every_time_and_then_recovers() {
    let f = fixture();
    f.users.down.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let response = f.login(USER, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(challenges(response.headers()).is_empty());
    }
    assert_eq!(f.users.lookups(), 2, "the failure was not cached");
    f.users.down.store(false, Ordering::SeqCst);
    assert_eq!(f.login(USER, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_userhash_login_through_the_cache_succeeds_and_is_cached() {
    let f = fixture_with(|builder| builder.userhash(true));
    for _ in 0..3 {
        let response = f.login_hashed("Rafiki", "Mandrill").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), r#"Rafiki ["admin"]"#);
    }
    // One lookup of the hash, one of the user it names; then both come from the cache.
    assert_eq!(f.users.lookups(), 2);
    let wrong = f.login_hashed("Rafiki", "Baboon").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn a_realm_typo_between_the_layer_and_a_cached_store_is_refused_at_build() {
    let cache = CachedCredentials::new(MemoryCredentials::new(REALM, [(USER, PASSWORD)]));
    let typo = REALM.replace(".org", ".com");
    let error = DigestLayer::builder(typo.as_str(), cache.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::RealmNotServed { realm } if *realm == typo),
        "{error}"
    );
    assert!(DigestLayer::builder(REALM, cache).build().is_ok());
}
