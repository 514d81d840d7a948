//! The memory store's own rules: both keys, eviction, sweeping and concurrency.
use super::*;
use crate::clock::from_unix_secs;

const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    from_unix_secs(T0 + secs)
}

fn limits(per_user: u32, per_address: u32) -> ThrottleConfig {
    let window = Duration::from_secs(600);
    ThrottleConfig::default()
        .per_address_and_user(FailureLimit::new(per_user, window))
        .per_address(FailureLimit::new(per_address, window))
}

fn key(address: &str, username: &'static str) -> FailureKey<'static> {
    FailureKey::new(address.parse().unwrap(), username)
}

#[test]
fn the_store_counts_both_keys_and_keeps_them_apart() {
    let store = MemoryFailureStore::new();
    let limits = limits(2, 3);
    let now = at(0);
    let alice = key("192.0.2.1", "alice");
    assert_eq!(store.fail_now(alice, &limits, now), NewLocks::default());
    let locks = store.fail_now(alice, &limits, now);
    assert_eq!(locks.address_and_user, Some(Duration::from_secs(60)));
    assert_eq!(locks.address, None);
    assert_eq!(store.lock_now(alice, now), Some(Duration::from_secs(60)));
    // Another user on the address, the user on another address: not locked.
    assert_eq!(store.lock_now(key("192.0.2.1", "bob"), now), None);
    assert_eq!(store.lock_now(key("192.0.2.2", "alice"), now), None);
    // A third failure there (another user) locks the whole address.
    let locks = store.fail_now(key("192.0.2.1", "bob"), &limits, now);
    assert_eq!(locks.address, Some(Duration::from_secs(60)));
    assert!(store.lock_now(key("192.0.2.1", "carol"), now).is_some());
    assert_eq!(store.lock_now(key("192.0.2.2", "carol"), now), None);
    assert_eq!(store.len(), 3);
}

#[test]
fn success_clears_the_user_key_but_not_the_address_key() {
    let store = MemoryFailureStore::new();
    let limits = limits(2, 3);
    let alice = key("192.0.2.1", "alice");
    store.fail_now(alice, &limits, at(0));
    store.succeed_now(alice);
    // The user's count starts over; the address's does not.
    assert_eq!(store.fail_now(alice, &limits, at(1)), NewLocks::default());
    let locks = store.fail_now(key("192.0.2.1", "bob"), &limits, at(1));
    assert_eq!(locks.address, Some(Duration::from_secs(60)));
}

#[test]
fn the_sweep_drops_run_out_entries() {
    let store = MemoryFailureStore::new();
    let limits = limits(5, 5);
    for user in ["a", "b", "c"] {
        store.fail_now(key("192.0.2.1", user), &limits, at(0));
    }
    assert_eq!(store.len(), 4);
    store.sweep_expired(at(599));
    assert_eq!(store.len(), 4);
    store.sweep_expired(at(600));
    assert!(store.is_empty());
    // New keys sweep as they arrive.
    for n in 0..4 {
        store.fail_now(
            FailureKey::new(IpAddr::from([10, 0, 0, n]), "x"),
            &limits,
            at(0),
        );
    }
    assert_eq!(store.len(), 8);
    store.fail_now(key("192.0.2.9", "x"), &limits, at(700));
    assert_eq!(store.len(), 2);
}

#[test]
fn an_emptied_store_sees_the_next_failure_at_once() {
    // Checks and successes skip the map while the store is empty; every path that
    // fills or empties it must keep that shortcut honest.
    let store = MemoryFailureStore::new();
    let limits = limits(1, 1000);
    let alice = key("192.0.2.1", "alice");
    store.fail_now(alice, &limits, at(0));
    assert!(store.lock_now(alice, at(1)).is_some());
    store.sweep_expired(at(3600));
    assert!(store.is_empty());
    assert_eq!(store.lock_now(alice, at(3600)), None);
    store.succeed_now(alice);
    store.fail_now(alice, &limits, at(3601));
    assert_eq!(
        store.lock_now(alice, at(3601)),
        Some(Duration::from_secs(60))
    );
    // A success clears the user's count even right after the store refilled.
    let bob = key("192.0.2.2", "bob");
    let two = self::limits(2, 1000);
    store.fail_now(bob, &two, at(3601));
    store.succeed_now(bob);
    assert_eq!(store.fail_now(bob, &two, at(3602)), NewLocks::default());
}

#[test]
fn a_flood_of_new_keys_stays_bounded_and_evicts_no_lock() {
    let store = MemoryFailureStore::with_max_entries(200);
    let limits = limits(3, 1000);
    let victim = key("192.0.2.1", "victim");
    for _ in 0..3 {
        store.fail_now(victim, &limits, at(0));
    }
    // Two failures short of a lock: worth more than one-failure keys too.
    let near = key("192.0.2.2", "near");
    store.fail_now(near, &limits, at(0));
    store.fail_now(near, &limits, at(0));
    for n in 0..4_000u32 {
        let address = IpAddr::from((0x0a00_0000 + n).to_be_bytes());
        store.fail_now(FailureKey::new(address, "spray"), &limits, at(1));
        assert!(store.len() <= 200);
    }
    assert_eq!(store.lock_now(victim, at(2)), Some(Duration::from_secs(58)));
    assert_eq!(
        store.fail_now(near, &limits, at(2)).address_and_user,
        Some(Duration::from_secs(60)),
        "the near-limit count survived the flood"
    );
}

#[test]
fn a_store_full_of_locks_gives_up_the_one_ending_first() {
    let store = MemoryFailureStore::with_max_entries(4);
    let limits = limits(1, 1000);
    // Two keys (user and address entries each): all four entries locked or counting.
    let early = key("192.0.2.1", "early");
    store.fail_now(early, &limits, at(0));
    let late = key("192.0.2.2", "late");
    store.fail_now(late, &limits, at(30));
    // The unlocked address entries go first, then the lock ending first.
    store.fail_now(key("192.0.2.3", "x"), &limits, at(31));
    assert_eq!(store.len(), 4);
    assert!(store.lock_now(late, at(31)).is_some());
    assert!(store.lock_now(early, at(31)).is_some());
    store.fail_now(key("192.0.2.4", "y"), &limits, at(31));
    assert_eq!(store.len(), 4);
    assert_eq!(store.lock_now(early, at(31)), None);
    assert!(store.lock_now(late, at(31)).is_some());
}

#[test]
fn an_attempt_the_address_refuses_gives_the_user_key_its_room_back() {
    let store = MemoryFailureStore::new();
    let limits = limits(2, 1);
    let alice = key("192.0.2.1", "alice");
    assert_eq!(
        store.reserve_now(alice, &limits, at(0)),
        Admission::Admitted
    );
    // The address is full (one in flight); alice's second room must not leak.
    let full = Admission::Refused(Duration::from_secs(1));
    assert_eq!(store.reserve_now(alice, &limits, at(0)), full);
    let none = store.settle_now(alice, AttemptOutcome::Void, &limits, at(0));
    assert_eq!(none, NewLocks::default());
    assert_eq!(
        store.reserve_now(alice, &limits, at(0)),
        Admission::Admitted
    );
    assert_eq!(
        store.reserve_now(key("192.0.2.1", "bob"), &limits, at(0)),
        full
    );
    // A failure settles under both keys and locks the address.
    let locks = store.settle_now(alice, AttemptOutcome::Failed, &limits, at(0));
    assert_eq!(locks.address, Some(Duration::from_secs(60)));
    assert_eq!(locks.address_and_user, None);
    store.sweep_expired(at(0));
    assert_eq!(store.len(), 2, "the settled attempt's records are kept");
}

#[test]
fn concurrent_failures_on_one_new_key_all_count() {
    let store = MemoryFailureStore::new();
    let limits = limits(1000, 1000);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..100 {
                    store.fail_now(key("192.0.2.1", "alice"), &limits, at(0));
                }
            });
        }
    });
    // 400 counted: the 1000th failure, and not one before it, locks both keys.
    for _ in 400..999 {
        let locks = store.fail_now(key("192.0.2.1", "alice"), &limits, at(0));
        assert_eq!(locks, NewLocks::default());
    }
    let locks = store.fail_now(key("192.0.2.1", "alice"), &limits, at(0));
    assert!(locks.address_and_user.is_some() && locks.address.is_some());
    assert_eq!(store.len(), 2);
}
