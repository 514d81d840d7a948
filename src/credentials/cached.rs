//! [`CachedCredentials`]: keeps recent answers of a slow [`CredentialStore`] (a database,
//! a directory server) in memory, so most authenticated requests need no round trip.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use moka::Equivalent;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

use super::{Credential, CredentialStore, Ha1};
use crate::clock::{Clock, SystemClock};
use crate::hash::HashFunction;

/// How many answers [`CachedCredentials::new`] keeps at most.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

/// How long [`CachedCredentials::new`] trusts an answer: a changed password or a deleted
/// user is seen at most this late unless [`CachedCredentials::invalidate`] is called.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The longest time to live [`CachedCredentialsBuilder::ttl`] accepts; longer values are
/// cut to it. A day-old answer about a password is already very old.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Usernames (and realms) longer than this many bytes are passed to the store and never
/// cached: they are chosen by the client, and a cache of attacker-sized keys would hold
/// attacker-sized memory. Real usernames are far shorter.
pub const MAX_CACHED_NAME_LEN: usize = 256;

/// Invalidation counters, one per bucket of usernames (see [`CachedCredentials::invalidate`]).
const GENERATION_BUCKETS: usize = 1024;

/// A [`CredentialStore`] in front of another one that remembers its answers for a while:
/// found users and unknown users alike, so a stream of requests for a name that does not
/// exist costs one lookup, not one per request.
///
/// Every method of [`CredentialStore`] is passed on to the store behind it: the lookups
/// ([`credential`](CredentialStore::credential), [`ha1`](CredentialStore::ha1) and
/// [`username_for_hash`](CredentialStore::username_for_hash), for `userhash` logins) are
/// cached under the same rules, and [`serves_realm`](CredentialStore::serves_realm) is
/// asked of the store every time, so a realm typo is still refused by
/// [`build`](crate::DigestLayerBuilder::build).
///
/// Clones share the cache: keep one to [`invalidate`](Self::invalidate) a user whose
/// password changed while the layer holds another.
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
/// use tower_digest_auth::credentials::cached::CachedCredentials;
///
/// # fn main() -> Result<(), tower_digest_auth::ConfigError> {
/// let realm = "http-auth@example.org";
/// # let my_database_store = MemoryCredentials::new(realm, [("Mufasa", "Circle of Life")]);
/// let users = CachedCredentials::builder(my_database_store)
///     .max_capacity(10_000)
///     .ttl(Duration::from_secs(60))
///     .build();
/// let layer = DigestLayer::builder(realm, users.clone()).build()?;
///
/// // After changing Mufasa's password in the database:
/// users.invalidate("Mufasa");
/// # Ok(())
/// # }
/// ```
///
/// # What it trades
///
/// - **Staleness.** An answer is used for up to the time to live ([`DEFAULT_CACHE_TTL`] by
///   default): a changed password, a removed user or changed roles are seen that late
///   unless the code that changes them calls [`invalidate`](Self::invalidate) or
///   [`clear`](Self::clear). Several server processes each have their own cache: an
///   invalidation reaches only the process it runs in, so the others see the change after
///   the time to live.
/// - **Timing.** A cached answer comes back faster than a store lookup. Whether a user
///   exists is not revealed by that (unknown users are cached exactly like known ones, and
///   the layer then does the same hashing for both), but a first probe that comes back fast
///   tells that someone asked for that name recently. One probe per name per time to live
///   is a small signal, drowned by network jitter in most deployments; if it matters to you,
///   do not cache.
///
/// # How it works
///
/// - Keys are `(method, username, realm, hash function)`, with the `userhash` in place of
///   the username for [`username_for_hash`](CredentialStore::username_for_hash). Names
///   (and userhashes) longer than [`MAX_CACHED_NAME_LEN`] bytes go to the store every
///   time and are not cached.
/// - A `userhash` answer maps a hash to a name, so it cannot be tied to one user's
///   invalidation: every [`invalidate`](CachedCredentials::invalidate) and
///   [`clear`](CachedCredentials::clear) forgets all of them (one more store lookup per
///   hashed login afterwards).
/// - The size bound is [`max_capacity`](CachedCredentialsBuilder::max_capacity) entries
///   (`moka`'s count, not bytes: with names bounded, an entry is well under 1 KiB plus
///   whatever data the store attaches). When full, `moka` admits a new entry only if it is
///   asked for more often than the entry it would evict (`TinyLFU`), so a flood of distinct
///   unknown names, each asked once, does not push out users who keep logging in. The
///   frequency estimates age, so a user idle through a long flood may be pushed out and
///   then costs one lookup. Each flood name still costs one store lookup: limit failed
///   logins to bound that.
/// - Freshness is judged with the [`Clock`] given to
///   [`clock`](CachedCredentialsBuilder::clock) (the system clock by default), so tests
///   can expire entries by moving a [`ManualClock`](crate::clock::ManualClock). `moka`'s own,
///   monotonic time to live, set to the same duration, frees the memory and caps an
///   entry's life even if the wall clock steps back.
/// - Concurrent misses for one key make one store lookup: the others wait for it and take
///   its answer. Errors are never cached: the caller whose lookup failed gets the error
///   (the layer answers 500), and each caller that was waiting then tries the store itself.
#[must_use]
pub struct CachedCredentials<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    cache: Cache<Key, Cached>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_capacity: u64,
    /// A user's answer is good only while their bucket's counter still has the value it
    /// had when the lookup started; invalidating bumps the counter. See `invalidate`.
    generations: Box<[AtomicU64]>,
    /// The generation of every `userhash` answer, bumped by each invalidation: which
    /// user a hash names is only known once it is looked up.
    userhash_generation: AtomicU64,
    bucket_hasher: RandomState,
}

/// What one lookup answered, and when and under which generation it was asked.
#[derive(Clone)]
struct Cached {
    answer: Answer,
    fetched_at: SystemTime,
    generation: u64,
}

/// The answer of one store method.
#[derive(Clone)]
enum Answer {
    Ha1(Option<Ha1>),
    Credential(Option<Credential>),
    Username(Option<String>),
}

/// Which store method a key is for: each keeps its own answers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Method {
    Ha1,
    Credential,
    UsernameForHash,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    method: Method,
    /// The username, or the userhash for [`Method::UsernameForHash`].
    name: Box<str>,
    realm: Box<str>,
    hash: HashFunction,
}

/// The borrowed form of [`Key`], so a cache hit allocates nothing. Hashes as `Key` does
/// (same fields, same order; `&str` hashes like `Box<str>`).
#[derive(Clone, Copy, Hash)]
struct KeyRef<'a> {
    method: Method,
    name: &'a str,
    realm: &'a str,
    hash: HashFunction,
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.method == key.method
            && self.hash == key.hash
            && *self.name == *key.name
            && *self.realm == *key.realm
    }
}

impl KeyRef<'_> {
    fn to_owned(self) -> Key {
        Key {
            method: self.method,
            name: self.name.into(),
            realm: self.realm.into(),
            hash: self.hash,
        }
    }
}

impl<S: CredentialStore> CachedCredentials<S> {
    /// Caches `store`'s answers with the defaults: [`DEFAULT_CACHE_CAPACITY`] entries for
    /// [`DEFAULT_CACHE_TTL`], judged by the system clock.
    pub fn new(store: S) -> Self {
        CachedCredentials::builder(store).build()
    }

    /// Starts configuring a cache in front of `store`.
    pub fn builder(store: S) -> CachedCredentialsBuilder<S> {
        CachedCredentialsBuilder {
            store,
            max_capacity: DEFAULT_CACHE_CAPACITY,
            ttl: DEFAULT_CACHE_TTL,
            clock: Arc::new(SystemClock),
        }
    }
}

impl<S> CachedCredentials<S> {
    /// The store behind the cache, for the code that changes users.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Forgets what the cache knows about `username` (in every realm, for every hash
    /// function), and every `userhash` answer: the next lookup asks the store. Call it
    /// after adding, changing or removing the user in the store.
    ///
    /// A lookup that was already under way when this is called is not trusted either: its
    /// answer serves the request that asked, and is never handed to a later one. This is
    /// a counter bump, so it never waits; it may also make a few other users' next lookup
    /// a miss (they share a bucket), which costs one store lookup each.
    ///
    /// ```
    /// use tower_digest_auth::MemoryCredentials;
    /// use tower_digest_auth::credentials::cached::CachedCredentials;
    ///
    /// let users = CachedCredentials::new(MemoryCredentials::new("realm", [("Mufasa", "pw")]));
    /// users.invalidate("Mufasa");
    /// ```
    pub fn invalidate(&self, username: &str) {
        self.inner
            .generation(username)
            .fetch_add(1, Ordering::SeqCst);
        self.inner
            .userhash_generation
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets every cached answer, e.g. after a bulk change to the users.
    pub fn clear(&self) {
        for generation in &self.inner.generations {
            generation.fetch_add(1, Ordering::SeqCst);
        }
        self.inner
            .userhash_generation
            .fetch_add(1, Ordering::SeqCst);
        self.inner.cache.invalidate_all();
    }

    /// About how many answers are held (`moka` counts lazily, so it may lag a little).
    pub fn entry_count(&self) -> u64 {
        self.inner.cache.entry_count()
    }
}

impl<S> Inner<S> {
    fn generation(&self, username: &str) -> &AtomicU64 {
        let hash = self.bucket_hasher.hash_one(username);
        #[allow(clippy::cast_possible_truncation)] // the remainder is below 1024
        let bucket = (hash % GENERATION_BUCKETS as u64) as usize;
        &self.generations[bucket]
    }

    /// Whether `cached` may answer now: no invalidation since its lookup started, and
    /// younger than the time to live. A clock that stepped back makes an entry look
    /// young; `moka`'s monotonic time to live still bounds its life.
    fn is_fresh(&self, cached: &Cached, generation: &AtomicU64) -> bool {
        cached.generation == generation.load(Ordering::SeqCst)
            && self
                .clock
                .now()
                .duration_since(cached.fetched_at)
                .map_or(true, |age| age < self.ttl)
    }
}

impl<S: CredentialStore> Inner<S> {
    /// The cached answer for `key` when fresh, else `fetch`'s (the store's), cached.
    async fn lookup<F, Fut>(&self, key: KeyRef<'_>, fetch: F) -> Result<Answer, S::Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Answer, S::Error>>,
    {
        if key.name.len() > MAX_CACHED_NAME_LEN || key.realm.len() > MAX_CACHED_NAME_LEN {
            return fetch().await;
        }
        let generation = match key.method {
            Method::UsernameForHash => &self.userhash_generation,
            Method::Ha1 | Method::Credential => self.generation(key.name),
        };
        if let Some(cached) = self.cache.get(&key).await {
            if self.is_fresh(&cached, generation) {
                return Ok(cached.answer);
            }
        }

        // A miss, or a stale entry. `and_try_compute_with` runs one closure per key at a
        // time: callers queued behind a lookup find its fresh answer and return it.
        let result = self
            .cache
            .entry(key.to_owned())
            .and_try_compute_with(|existing| async {
                if existing.is_some_and(|entry| self.is_fresh(entry.value(), generation)) {
                    return Ok(Op::Nop);
                }
                // Read before the lookup: an invalidation that lands while the store is
                // being asked makes this answer stale at once.
                let started = generation.load(Ordering::SeqCst);
                let fetched_at = self.clock.now();
                let answer = fetch().await?;
                Ok(Op::Put(Cached {
                    answer,
                    fetched_at,
                    generation: started,
                }))
            })
            .await?;
        match result {
            CompResult::Inserted(entry)
            | CompResult::ReplacedWith(entry)
            | CompResult::Unchanged(entry) => Ok(entry.into_value().answer),
            // The closure never removes, and only keeps an entry that exists.
            CompResult::Removed(_) | CompResult::StillNone(_) => fetch().await,
        }
    }
}

/// Every method is passed on to the store: a method added to the trait later must be
/// added here too (`every_method_reaches_the_store_through_each_wrapper` checks it).
impl<S: CredentialStore> CredentialStore for CachedCredentials<S> {
    type Error = S::Error;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, S::Error> {
        let inner = &*self.inner;
        let key = KeyRef {
            method: Method::Ha1,
            name: username,
            realm,
            hash,
        };
        let fetch = || async { Ok(Answer::Ha1(inner.store.ha1(username, realm, hash).await?)) };
        if let Answer::Ha1(ha1) = inner.lookup(key, fetch).await? {
            return Ok(ha1);
        }
        // Never reached (keys are per method), and the store's answer is always right.
        inner.store.ha1(username, realm, hash).await
    }

    async fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<String>, S::Error> {
        let inner = &*self.inner;
        let key = KeyRef {
            method: Method::UsernameForHash,
            name: userhash,
            realm,
            hash,
        };
        let fetch = || async {
            let username = inner.store.username_for_hash(userhash, realm, hash).await?;
            Ok(Answer::Username(username))
        };
        if let Answer::Username(username) = inner.lookup(key, fetch).await? {
            return Ok(username);
        }
        // Never reached (keys are per method), and the store's answer is always right.
        inner.store.username_for_hash(userhash, realm, hash).await
    }

    /// Asked of the store every time: it is asked once, when a layer is built.
    fn serves_realm(&self, realm: &str) -> Option<bool> {
        self.inner.store.serves_realm(realm)
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, S::Error> {
        let inner = &*self.inner;
        let key = KeyRef {
            method: Method::Credential,
            name: username,
            realm,
            hash,
        };
        let fetch = || async {
            let credential = inner.store.credential(username, realm, hash).await?;
            Ok(Answer::Credential(credential))
        };
        if let Answer::Credential(credential) = inner.lookup(key, fetch).await? {
            return Ok(credential);
        }
        // Never reached (keys are per method), and the store's answer is always right.
        inner.store.credential(username, realm, hash).await
    }
}

impl<S> Clone for CachedCredentials<S> {
    fn clone(&self) -> Self {
        CachedCredentials {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for CachedCredentials<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("ttl", &self.inner.ttl)
            .field("max_capacity", &self.inner.max_capacity)
            .field("entries", &self.inner.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// Configures a [`CachedCredentials`]; from [`CachedCredentials::builder`].
#[must_use]
pub struct CachedCredentialsBuilder<S> {
    store: S,
    max_capacity: u64,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl<S: CredentialStore> CachedCredentialsBuilder<S> {
    /// How many answers to keep at most ([`DEFAULT_CACHE_CAPACITY`] by default). Each
    /// `(user, hash function)` pair that logs in takes one (two with a `userhash`: the
    /// name it maps to as well), and so does each unknown name until it is evicted or
    /// expires.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = entries;
        self
    }

    /// How long an answer is used ([`DEFAULT_CACHE_TTL`] by default, at most
    /// [`MAX_CACHE_TTL`]): the longest a changed password or a removed user can go
    /// unnoticed without [`CachedCredentials::invalidate`]. Zero caches nothing, but
    /// concurrent lookups of one user still share one store query.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.min(MAX_CACHE_TTL);
        self
    }

    /// The clock that decides when an answer is too old (the system clock by default);
    /// tests pass a [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cache.
    pub fn build(self) -> CachedCredentials<S> {
        let mut cache = Cache::builder().max_capacity(self.max_capacity);
        if !self.ttl.is_zero() {
            cache = cache.time_to_live(self.ttl);
        }
        CachedCredentials {
            inner: Arc::new(Inner {
                store: self.store,
                cache: cache.build(),
                clock: self.clock,
                ttl: self.ttl,
                max_capacity: self.max_capacity,
                generations: (0..GENERATION_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
                userhash_generation: AtomicU64::new(0),
                bucket_hasher: RandomState::new(),
            }),
        }
    }
}

impl<S> fmt::Debug for CachedCredentialsBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentialsBuilder")
            .field("ttl", &self.ttl)
            .field("max_capacity", &self.max_capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod forwarding_tests;
#[cfg(test)]
mod tests;
