//! Parallel guesses: an attempt counts from the moment it is admitted, and a logged-in
//! client's requests in flight are never refused.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use tower::ServiceExt;

use super::{App, app, app_with, limits};
use crate::common::{Answer, PASSWORD, USER, challenges, client_addr, request_from};
use crate::store::Remote;

/// Sends one answer per entry of `answers`, each on its own fresh nonce of `from`, all at
/// once; returns the statuses in the same order. The requests start in order, each
/// running until its credential lookup waits (the test runtime has one thread).
async fn all_at_once(app: &App, from: SocketAddr, answers: &[Answer<'_>]) -> Vec<StatusCode> {
    let mut requests = Vec::new();
    for answer in answers {
        let challenge = app.challenge(from).await;
        let header = answer.header(&challenge);
        requests.push(request_from(from, "GET", "/", Some(&header)));
    }
    let mut running = tokio::task::JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let service = app.service.clone();
        running.spawn(async move { (index, service.oneshot(request).await.unwrap().status()) });
    }
    let mut statuses = vec![StatusCode::OK; answers.len()];
    while let Some(done) = running.join_next().await {
        let (index, status) = done.unwrap();
        statuses[index] = status;
    }
    statuses
}

fn checked(statuses: &[StatusCode]) -> usize {
    statuses
        .iter()
        .filter(|status| **status != StatusCode::TOO_MANY_REQUESTS)
        .count()
}

#[tokio::test]
async fn sixty_parallel_guesses_against_a_store_that_waits_50_ms_get_at_most_ten_checks() {
    let app = app_with(|builder| builder); // The default limits: 10 per address and user.
    app.delay_ms.store(50, Ordering::SeqCst);
    let me = client_addr();
    let mut answers: Vec<Answer<'_>> = (0..59)
        .map(|_| Answer::get("/").password("wrong"))
        .collect();
    // The right password, sent once the limit is taken by guesses still being checked.
    answers.push(Answer::get("/"));
    let statuses = all_at_once(&app, me, &answers).await;
    assert!(checked(&statuses) <= 10, "{statuses:?}");
    assert_eq!(statuses[59], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(!statuses.contains(&StatusCode::OK), "{statuses:?}");
    // The ten checked guesses locked the user; the right password waits out the lock.
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn parallel_guesses_at_many_users_cannot_exceed_the_address_limit() {
    let app = app(1000, 10);
    app.delay_ms.store(50, Ordering::SeqCst);
    let names: Vec<String> = (0..40).map(|n| format!("user{n}")).collect();
    let answers: Vec<Answer<'_>> = names
        .iter()
        .map(|name| Answer::get("/").username(name).password("wrong"))
        .collect();
    let statuses = all_at_once(&app, client_addr(), &answers).await;
    assert_eq!(checked(&statuses), 10, "{statuses:?}");
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn attempts_that_prove_nothing_give_their_room_back() {
    // Limit 1 per user: a single attempt in flight takes the whole budget, so every
    // outcome that counts nothing must hand it back for the next one to get in.
    let app = app(1, 1000);
    let me = client_addr();
    for _ in 0..3 {
        assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
    }
    // A replay and a stale nonce (the password checks out: a success, which frees the
    // room), a credential store failure (void): none counts, none holds.
    let challenge = app.challenge(me).await;
    let header = Answer::get("/").header(&challenge);
    let first = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(first.status(), StatusCode::OK);
    let replay = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(Duration::from_secs(31 * 60));
    let stale = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert!(challenges(stale.headers())[0].stale);
    app.down.store(true, Ordering::SeqCst);
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    app.down.store(false, Ordering::SeqCst);
    assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_request_dropped_while_its_password_is_checked_gives_its_room_back() {
    for shared in [false, true] {
        let remote = Remote::default();
        let app = if shared {
            app_with(|builder| {
                builder
                    .throttle_store(remote.clone())
                    .throttle(limits(1, 1000))
            })
        } else {
            app_with(|builder| builder.throttle(limits(1, 1000)))
        };
        app.delay_ms.store(50, Ordering::SeqCst);
        let me = client_addr();
        let challenge = app.challenge(me).await;
        let header = Answer::get("/").password("wrong").header(&challenge);
        let request = request_from(me, "GET", "/", Some(&header));
        // Admitted, then dropped during its credential lookup (a client hanging up).
        let dropped = tokio::time::timeout(Duration::from_millis(10), app.send(request)).await;
        assert!(dropped.is_err(), "still waiting for the store");
        // Another store is released by a task on the Tokio runtime (with the `redis`
        // feature, which brings the runtime); without it, the reservation runs out.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if shared && !cfg!(feature = "redis") {
            app.clock.advance(Duration::from_secs(61));
        }
        assert_eq!(
            app.status(me, USER, PASSWORD).await,
            StatusCode::OK,
            "shared store: {shared}"
        );
    }
}

/// Sends each header at once, all from `from`; returns the statuses in the same order.
async fn headers_at_once(app: &App, from: SocketAddr, headers: Vec<String>) -> Vec<StatusCode> {
    let mut running = tokio::task::JoinSet::new();
    for (index, header) in headers.into_iter().enumerate() {
        let service = app.service.clone();
        let request = request_from(from, "GET", "/", Some(&header));
        running.spawn(async move { (index, service.oneshot(request).await.unwrap().status()) });
    }
    let mut statuses = Vec::new();
    while let Some(done) = running.join_next().await {
        statuses.push(done.unwrap());
    }
    statuses.sort_by_key(|(index, _)| *index);
    statuses.into_iter().map(|(_, status)| status).collect()
}

#[tokio::test]
async fn a_logged_in_client_with_many_requests_in_flight_on_a_slow_store_is_never_refused() {
    let app = app_with(|builder| builder); // 10 attempts in flight per address and user.
    app.delay_ms.store(50, Ordering::SeqCst);
    let me = client_addr();
    let challenge = app.challenge(me).await;
    let first = Answer::get("/").header(&challenge);
    let login = app.send(request_from(me, "GET", "/", Some(&first))).await;
    assert_eq!(login.status(), StatusCode::OK);
    // Forty requests at once on the accepted nonce, each waiting 50 ms on the store.
    let headers = (2..42)
        .map(|nc| Answer::get("/").nc(nc).header(&challenge))
        .collect();
    let statuses = headers_at_once(&app, me, headers).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}
