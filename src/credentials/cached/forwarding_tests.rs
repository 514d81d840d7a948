//! Every [`CredentialStore`] method called through a wrapper reaches the store behind it,
//! and the `userhash` answers the cache keeps follow its rules.
//!
//! The guard against a method added to the trait later and not passed on has two halves:
//! - `Recorder` implements every method itself (no default body), records each call and
//!   answers something no default would; `each_wrapper_passes_every_method_to_the_store`
//!   calls every method through each wrapper and compares the set of methods that reached
//!   the recorder with the trait's methods, read from the trait's source (embedded at
//!   compile time), so a method that is not called, or not passed on, fails it;
//! - `every_impl_defines_every_method_of_the_trait` reads the wrappers' and the recorder's
//!   `impl` blocks from the same sources and fails if one of them relies on a default body.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Mutex;

use super::*;
use crate::clock::ManualClock;

const REALM: &str = "realm";
const SHA256: HashFunction = HashFunction::Sha256;

/// A store that implements every method of [`CredentialStore`], none by its default body,
/// records each call, and answers with values that name the method that gave them.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn record(&self, method: &'static str) {
        self.calls.lock().unwrap().push(method);
    }

    /// The methods called since the last `take`, in order.
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn count(&self, method: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|m| **m == method)
            .count()
    }
}

fn ha1_from(method: &str, username: &str, realm: &str, hash: HashFunction) -> Ha1 {
    Ha1::from_password(hash, username, realm, method)
}

impl CredentialStore for Recorder {
    type Error = Infallible;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, Infallible> {
        self.record("ha1");
        Ok(Some(ha1_from("ha1", username, realm, hash)))
    }

    async fn username_for_hash(
        &self,
        userhash: &str,
        _realm: &str,
        _hash: HashFunction,
    ) -> Result<Option<String>, Infallible> {
        self.record("username_for_hash");
        Ok(Some(format!("named by {userhash}")))
    }

    fn serves_realm(&self, realm: &str) -> Option<bool> {
        self.record("serves_realm");
        Some(realm == REALM)
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, Infallible> {
        self.record("credential");
        let ha1 = ha1_from("credential", username, realm, hash);
        Ok(Some(Credential::new(ha1).with_roles(["from credential"])))
    }
}

/// Calls every method of the trait once through `store`, checking that each answer is
/// the recorder's own.
async fn call_every_method(store: &impl CredentialStore<Error = Infallible>) {
    let ha1 = store.ha1("Mufasa", REALM, SHA256).await.unwrap();
    assert_eq!(ha1, Some(ha1_from("ha1", "Mufasa", REALM, SHA256)));
    let name = store.username_for_hash("abc", REALM, SHA256).await.unwrap();
    assert_eq!(name.as_deref(), Some("named by abc"));
    assert_eq!(store.serves_realm("a typo"), Some(false));
    let credential = store.credential("Mufasa", REALM, SHA256).await.unwrap();
    let credential = credential.expect("the recorder knows everyone");
    assert_eq!(
        credential.ha1(),
        &ha1_from("credential", "Mufasa", REALM, SHA256)
    );
    assert_eq!(credential.roles(), [Arc::from("from credential")]);
}

/// The names of the methods in the block that starts with `header` in `source` (up to the
/// first line that is a lone `}`), doc comments and comments left out.
fn methods_in(source: &str, header: &str) -> BTreeSet<String> {
    let start = source
        .find(header)
        .unwrap_or_else(|| panic!("{header:?} not found"));
    let block = &source[start..];
    let block = &block[..block.find("\n}\n").expect("the block's closing brace")];
    block
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let rest = line
                .strip_prefix("async fn ")
                .or_else(|| line.strip_prefix("fn "))?;
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

/// The methods of `CredentialStore`, read from its source.
fn trait_methods() -> BTreeSet<String> {
    let methods = methods_in(include_str!("../mod.rs"), "\npub trait CredentialStore: ");
    // The parse itself is checked: these four exist today.
    for known in ["ha1", "username_for_hash", "serves_realm", "credential"] {
        assert!(methods.contains(known), "{known} missing from {methods:?}");
    }
    methods
}

/// Calls every method through `store` and checks that every method of the trait, and
/// nothing else, reached the recorder.
async fn check(
    wrapper: &str,
    store: &impl CredentialStore<Error = Infallible>,
    recorder: &Recorder,
) {
    recorder.take();
    call_every_method(store).await;
    let reached: BTreeSet<String> = recorder.take().into_iter().map(str::to_owned).collect();
    assert_eq!(
        reached,
        trait_methods(),
        "{wrapper}: the methods that reached the store are not the trait's (a method not \
         passed on, or one call_every_method does not call)"
    );
}

#[tokio::test]
async fn each_wrapper_passes_every_method_to_the_store() {
    let recorder = Arc::new(Recorder::default());
    check("Arc", &Arc::clone(&recorder), &recorder).await;
    // A new cache each time, so that every lookup is a miss.
    let cached = || CachedCredentials::new(Arc::clone(&recorder));
    check("CachedCredentials", &cached(), &recorder).await;
    // And nested, each way round.
    check("Arc<CachedCredentials>", &Arc::new(cached()), &recorder).await;
    let twice = CachedCredentials::new(CachedCredentials::new(Arc::clone(&recorder)));
    check("CachedCredentials<CachedCredentials>", &twice, &recorder).await;
}

#[test]
fn every_impl_defines_every_method_of_the_trait() {
    let methods = trait_methods();
    let impls = [
        (
            include_str!("../mod.rs"),
            "impl<T: CredentialStore> CredentialStore for std::sync::Arc<T> {",
        ),
        (
            include_str!("../cached.rs"),
            "impl<S: CredentialStore> CredentialStore for CachedCredentials<S> {",
        ),
        // Without a default body anywhere, the recorder answers every call itself.
        (
            include_str!("forwarding_tests.rs"),
            "\nimpl CredentialStore for Recorder {",
        ),
    ];
    for (source, header) in impls {
        assert_eq!(methods_in(source, header), methods, "{header}");
    }
}

fn cached(recorder: &Arc<Recorder>, clock: &ManualClock) -> CachedCredentials<Arc<Recorder>> {
    CachedCredentials::builder(Arc::clone(recorder))
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
}

async fn name_for(users: &CachedCredentials<Arc<Recorder>>, userhash: &str) -> Option<String> {
    users
        .username_for_hash(userhash, REALM, SHA256)
        .await
        .unwrap()
}

#[tokio::test]
async fn userhash_answers_are_cached_until_the_ttl_passes() {
    let recorder = Arc::new(Recorder::default());
    let clock = ManualClock::new();
    let users = cached(&recorder, &clock);
    for _ in 0..3 {
        assert_eq!(
            name_for(&users, "abc").await.as_deref(),
            Some("named by abc")
        );
    }
    assert_eq!(recorder.count("username_for_hash"), 1);
    // Each hash function and realm is its own entry.
    users
        .username_for_hash("abc", REALM, HashFunction::Md5)
        .await
        .unwrap();
    users
        .username_for_hash("abc", "other", SHA256)
        .await
        .unwrap();
    assert_eq!(recorder.count("username_for_hash"), 3);

    clock.advance(Duration::from_secs(59));
    name_for(&users, "abc").await;
    assert_eq!(recorder.count("username_for_hash"), 3);
    clock.advance(Duration::from_secs(1));
    name_for(&users, "abc").await;
    assert_eq!(recorder.count("username_for_hash"), 4);
}

#[tokio::test]
async fn invalidate_and_clear_forget_every_userhash_answer() {
    let recorder = Arc::new(Recorder::default());
    let users = cached(&recorder, &ManualClock::new());
    name_for(&users, "abc").await;
    name_for(&users, "abc").await;
    assert_eq!(recorder.count("username_for_hash"), 1);
    // Any user: which one a hash names is only known to the store.
    users.invalidate("someone else");
    name_for(&users, "abc").await;
    assert_eq!(recorder.count("username_for_hash"), 2);
    users.clear();
    name_for(&users, "abc").await;
    assert_eq!(recorder.count("username_for_hash"), 3);
}

#[tokio::test]
async fn overlong_userhashes_are_asked_every_time_and_not_kept() {
    let recorder = Arc::new(Recorder::default());
    let users = cached(&recorder, &ManualClock::new());
    let long = "a".repeat(MAX_CACHED_NAME_LEN + 1);
    name_for(&users, &long).await;
    name_for(&users, &long).await;
    assert_eq!(recorder.count("username_for_hash"), 2);
    users.inner.cache.run_pending_tasks().await;
    assert_eq!(users.entry_count(), 0);
}

#[tokio::test]
async fn ha1_credential_and_userhash_answers_are_kept_apart() {
    let recorder = Arc::new(Recorder::default());
    let users = cached(&recorder, &ManualClock::new());
    for _ in 0..2 {
        // The same name through each method: each asks the store once, answers its own.
        call_every_method(&users).await;
        let ha1 = users.ha1("abc", REALM, SHA256).await.unwrap();
        assert_eq!(ha1, Some(ha1_from("ha1", "abc", REALM, SHA256)));
        let credential = users.credential("abc", REALM, SHA256).await.unwrap();
        assert_eq!(
            credential.unwrap().ha1(),
            &ha1_from("credential", "abc", REALM, SHA256)
        );
    }
    for method in ["ha1", "credential"] {
        assert_eq!(recorder.count(method), 2, "{method}");
    }
    assert_eq!(recorder.count("username_for_hash"), 1);
}
