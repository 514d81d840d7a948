//! The cache alone, in front of a store that counts, fails and waits on demand.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use tokio::sync::Semaphore;

use super::*;
use crate::clock::ManualClock;

const REALM: &str = "realm";
const MD5: HashFunction = HashFunction::Md5;

/// A store that counts its lookups, can fail on demand, and can hold each lookup
/// (after it has read its answer) until the test lets it go.
#[derive(Default)]
struct TestStore {
    users: Mutex<HashMap<String, String>>,
    lookups: AtomicUsize,
    fail: AtomicBool,
    gate: Option<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("the store is down")]
struct Down;

impl TestStore {
    fn with(users: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(TestStore::with_users(users))
    }

    fn gated(users: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(TestStore {
            gate: Some(Semaphore::new(0)),
            ..TestStore::with_users(users)
        })
    }

    fn with_users(users: &[(&str, &str)]) -> Self {
        let users = users
            .iter()
            .map(|(user, password)| ((*user).to_owned(), (*password).to_owned()))
            .collect();
        TestStore {
            users: Mutex::new(users),
            ..TestStore::default()
        }
    }

    fn set_password(&self, user: &str, password: &str) {
        let mut users = self.users.lock().unwrap();
        users.insert(user.to_owned(), password.to_owned());
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl CredentialStore for TestStore {
    type Error = Down;

    async fn ha1(&self, user: &str, realm: &str, hash: HashFunction) -> Result<Option<Ha1>, Down> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = if self.fail.load(Ordering::SeqCst) {
            Err(Down)
        } else {
            let password = self.users.lock().unwrap().get(user).cloned();
            Ok(password.map(|password| Ha1::from_password(hash, user, realm, &password)))
        };
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        answer
    }
}

/// What the store answers for a known user, as the cache should hand it on.
#[allow(clippy::unnecessary_wraps)]
fn ha1(user: &str, password: &str) -> Option<Ha1> {
    Some(Ha1::from_password(MD5, user, REALM, password))
}

fn cached(store: &Arc<TestStore>, clock: &ManualClock) -> CachedCredentials<Arc<TestStore>> {
    CachedCredentials::builder(Arc::clone(store))
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
}

async fn lookup(users: &CachedCredentials<Arc<TestStore>>, user: &str) -> Option<Ha1> {
    users.ha1(user, REALM, MD5).await.unwrap()
}

#[tokio::test]
async fn a_hit_answers_without_asking_the_store() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );
    assert_eq!(store.lookups(), 1);
    // `credential` is passed to the store's own `credential` (which may load more than
    // `ha1` does), and cached apart.
    for _ in 0..2 {
        let credential = users.credential("Mufasa", REALM, MD5).await.unwrap();
        assert_eq!(
            credential.map(|c| c.ha1().clone()),
            ha1("Mufasa", "Circle of Life")
        );
    }
    assert_eq!(store.lookups(), 2);
}

#[tokio::test]
async fn each_user_realm_and_hash_function_is_its_own_entry() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life"), ("Rafiki", "Mandrill")]);
    let users = cached(&store, &ManualClock::new());
    lookup(&users, "Mufasa").await;
    assert_eq!(lookup(&users, "Rafiki").await, ha1("Rafiki", "Mandrill"));
    let sha256 = users
        .ha1("Mufasa", REALM, HashFunction::Sha256)
        .await
        .unwrap();
    assert_eq!(
        sha256,
        Some(Ha1::from_password(
            HashFunction::Sha256,
            "Mufasa",
            REALM,
            "Circle of Life"
        ))
    );
    let other_realm = users.ha1("Mufasa", "other", MD5).await.unwrap();
    assert_eq!(
        other_realm,
        Some(Ha1::from_password(MD5, "Mufasa", "other", "Circle of Life"))
    );
    assert_eq!(store.lookups(), 4);
}

#[tokio::test]
async fn unknown_users_are_cached_too() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    assert_eq!(lookup(&users, "Scar").await, None);
    assert_eq!(lookup(&users, "Scar").await, None);
    assert_eq!(store.lookups(), 1);
}

#[tokio::test]
async fn entries_expire_after_the_ttl_by_the_given_clock() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let clock = ManualClock::new();
    let users = cached(&store, &clock);
    lookup(&users, "Mufasa").await;
    lookup(&users, "Scar").await;
    store.set_password("Mufasa", "Hakuna Matata");
    store.set_password("Scar", "Long live the king");

    clock.advance(Duration::from_secs(59));
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );
    assert_eq!(lookup(&users, "Scar").await, None);
    assert_eq!(store.lookups(), 2);

    clock.advance(Duration::from_secs(1));
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Hakuna Matata")
    );
    assert_eq!(
        lookup(&users, "Scar").await,
        ha1("Scar", "Long live the king")
    );
    assert_eq!(store.lookups(), 4);
    // The new answers are cached again, from their own lookup time.
    lookup(&users, "Mufasa").await;
    assert_eq!(store.lookups(), 4);
}

#[tokio::test]
async fn a_zero_ttl_caches_nothing() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = CachedCredentials::builder(Arc::clone(&store))
        .ttl(Duration::ZERO)
        .build();
    lookup(&users, "Mufasa").await;
    lookup(&users, "Mufasa").await;
    assert_eq!(store.lookups(), 2);
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let store = TestStore::with(&[]);
    let users = CachedCredentials::builder(Arc::clone(&store))
        .max_capacity(50)
        .build();
    for i in 0..1000 {
        lookup(&users, &format!("user{i}")).await;
    }
    users.inner.cache.run_pending_tasks().await;
    assert!(users.entry_count() <= 50, "{} entries", users.entry_count());
    assert!(users.entry_count() > 0);
}

#[tokio::test]
async fn a_flood_of_unknown_names_does_not_evict_a_busy_user() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = CachedCredentials::builder(Arc::clone(&store))
        .max_capacity(100)
        .build();
    // Mufasa logs in once for every ten names of a flood, each name tried once: far
    // more distinct names than the cache holds.
    let flood = 5000;
    for i in 0..flood {
        if i % 10 == 0 {
            assert_eq!(
                lookup(&users, "Mufasa").await,
                ha1("Mufasa", "Circle of Life")
            );
        }
        lookup(&users, &format!("nobody{i}")).await;
        if i % 100 == 0 {
            users.inner.cache.run_pending_tasks().await;
        }
    }
    users.inner.cache.run_pending_tasks().await;
    // One lookup per flood name, and Mufasa's first: Mufasa never had to be asked again.
    assert_eq!(
        store.lookups(),
        flood + 1,
        "Mufasa was evicted by the flood"
    );
    assert!(users.entry_count() <= 100);
}

#[tokio::test]
async fn invalidate_makes_the_next_lookup_ask_the_store() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life"), ("Rafiki", "Mandrill")]);
    let users = cached(&store, &ManualClock::new());
    lookup(&users, "Mufasa").await;
    lookup(&users, "Rafiki").await;
    store.set_password("Mufasa", "Hakuna Matata");
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );

    users.clone().invalidate("Mufasa");
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Hakuna Matata")
    );
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Hakuna Matata")
    );
    assert_eq!(store.lookups(), 3);
    // Every hash function's entry goes, not only the one asked last.
    users
        .ha1("Rafiki", REALM, HashFunction::Sha256)
        .await
        .unwrap();
    store.set_password("Rafiki", "Baboon");
    users.invalidate("Rafiki");
    assert_eq!(lookup(&users, "Rafiki").await, ha1("Rafiki", "Baboon"));
    let sha256 = users
        .ha1("Rafiki", REALM, HashFunction::Sha256)
        .await
        .unwrap();
    assert_eq!(
        sha256,
        Some(Ha1::from_password(
            HashFunction::Sha256,
            "Rafiki",
            REALM,
            "Baboon"
        ))
    );
}

#[tokio::test]
async fn an_invalidation_during_a_lookup_is_not_lost() {
    let store = TestStore::gated(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    // The lookup reads the old password, then is held before it answers.
    let first = tokio::spawn({
        let users = users.clone();
        async move { lookup(&users, "Mufasa").await }
    });
    while store.lookups() == 0 {
        tokio::task::yield_now().await;
    }
    store.set_password("Mufasa", "Hakuna Matata");
    users.invalidate("Mufasa");
    store.gate.as_ref().unwrap().add_permits(1);
    assert_eq!(first.await.unwrap(), ha1("Mufasa", "Circle of Life"));

    store.gate.as_ref().unwrap().add_permits(1);
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Hakuna Matata")
    );
    assert_eq!(store.lookups(), 2);
}

#[tokio::test]
async fn clear_forgets_everyone() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    lookup(&users, "Mufasa").await;
    lookup(&users, "Scar").await;
    store.set_password("Mufasa", "Hakuna Matata");
    store.set_password("Scar", "Long live the king");
    users.clear();
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Hakuna Matata")
    );
    assert_eq!(
        lookup(&users, "Scar").await,
        ha1("Scar", "Long live the king")
    );
    assert_eq!(store.lookups(), 4);
}

#[tokio::test]
async fn errors_are_passed_on_and_never_cached() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    store.fail.store(true, Ordering::SeqCst);
    assert!(users.ha1("Mufasa", REALM, MD5).await.is_err());
    assert!(users.ha1("Mufasa", REALM, MD5).await.is_err());
    assert_eq!(store.lookups(), 2);
    store.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );
    assert_eq!(store.lookups(), 3);
    assert_eq!(
        lookup(&users, "Mufasa").await,
        ha1("Mufasa", "Circle of Life")
    );
    assert_eq!(store.lookups(), 3);
}

#[tokio::test]
async fn a_failed_refresh_keeps_failing_rather_than_serving_the_expired_answer() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let clock = ManualClock::new();
    let users = cached(&store, &clock);
    lookup(&users, "Mufasa").await;
    clock.advance(Duration::from_secs(60));
    store.fail.store(true, Ordering::SeqCst);
    assert!(users.ha1("Mufasa", REALM, MD5).await.is_err());
    assert!(users.ha1("Mufasa", REALM, MD5).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_user_make_one_lookup() {
    let store = TestStore::gated(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let users = users.clone();
            tokio::spawn(async move { lookup(&users, "Mufasa").await })
        })
        .collect();
    while store.lookups() == 0 {
        tokio::task::yield_now().await;
    }
    // Give the other seven every chance to start a lookup of their own.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    store.gate.as_ref().unwrap().add_permits(8);
    for task in tasks {
        assert_eq!(task.await.unwrap(), ha1("Mufasa", "Circle of Life"));
    }
    assert_eq!(store.lookups(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_on_a_failed_lookup_try_the_store_themselves() {
    let store = TestStore::gated(&[("Mufasa", "Circle of Life")]);
    store.fail.store(true, Ordering::SeqCst);
    let users = cached(&store, &ManualClock::new());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let users = users.clone();
            tokio::spawn(async move { users.ha1("Mufasa", REALM, MD5).await.is_err() })
        })
        .collect();
    while store.lookups() == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(store.lookups(), 1, "the others wait for the first lookup");
    store.gate.as_ref().unwrap().add_permits(4);
    for task in tasks {
        assert!(task.await.unwrap(), "an error reaches every caller");
    }
    assert_eq!(
        store.lookups(),
        4,
        "each waiter asked the store after the failure"
    );
}

#[tokio::test]
async fn overlong_names_are_looked_up_every_time_and_not_kept() {
    let long = "x".repeat(MAX_CACHED_NAME_LEN + 1);
    let store = TestStore::with(&[(long.as_str(), "pw")]);
    let users = cached(&store, &ManualClock::new());
    assert_eq!(lookup(&users, &long).await, ha1(&long, "pw"));
    assert_eq!(lookup(&users, &long).await, ha1(&long, "pw"));
    let just_fits = "y".repeat(MAX_CACHED_NAME_LEN);
    lookup(&users, &just_fits).await;
    lookup(&users, &just_fits).await;
    assert_eq!(store.lookups(), 3);
    users.inner.cache.run_pending_tasks().await;
    assert_eq!(users.entry_count(), 1);
}

#[test]
fn debug_shows_the_settings_and_no_secret() {
    let store = TestStore::with(&[("Mufasa", "Circle of Life")]);
    let users = cached(&store, &ManualClock::new());
    let debug = format!("{users:?}");
    assert!(debug.contains("ttl: 60s"), "{debug}");
    assert!(!debug.contains("Circle"));
    let builder = CachedCredentials::builder(Arc::clone(&store)).ttl(Duration::MAX);
    assert!(format!("{builder:?}").contains(&format!("{MAX_CACHE_TTL:?}")));
}
