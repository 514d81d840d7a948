//! One budget per account, however the client spells its name (plain, `username*` or
//! `userhash`).

use std::sync::atomic::Ordering;

use http::StatusCode;

use super::{BOB, BOB_PASSWORD, app_with, limits, peer, retry_after};
use crate::common::{Answer, PASSWORD, USER, client_addr, request_from};

#[tokio::test]
async fn a_user_locked_by_name_is_locked_by_userhash_and_username_star_too() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(3, 1000)));
    let me = client_addr();
    app.fail(me, USER, 3).await;
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The same account, named by its hash: the same lock, and no password check.
    let lookups = app.lookups.load(Ordering::SeqCst);
    let hashed = app.answer(me, &Answer::get("/").hashed_username()).await;
    assert_eq!(hashed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.lookups.load(Ordering::SeqCst), lookups);
    // And named in the extended form `username*`.
    let challenge = app.challenge(me).await;
    let header = Answer::get("/").header(&challenge).replace(
        &format!("username=\"{USER}\""),
        &format!("username*=UTF-8''{USER}"),
    );
    let star = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(star.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failures_by_userhash_lock_the_user_by_name() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(3, 1000)));
    let me = client_addr();
    for _ in 0..3 {
        let wrong = Answer::get("/").hashed_username().password("wrong");
        assert_eq!(
            app.answer(me, &wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Bob, on the same address, has his own budget.
    assert_eq!(app.status(me, BOB, BOB_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_userhash_counts_and_answers_like_a_wrong_password() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(2, 1000)));
    let me = client_addr();
    let unknown = Answer::get("/").username("nobody").hashed_username();
    let known = Answer::get("/").hashed_username().password("wrong");
    for _ in 0..2 {
        let a = app.answer(me, &unknown).await;
        let b = app.answer(peer(7), &known).await;
        assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(a.status(), b.status());
        assert_eq!(a.headers().len(), b.headers().len());
        assert_eq!(a.body(), b.body());
    }
    // Both keys are now at their limit: each locked the same way.
    let a = app.answer(me, &unknown).await;
    let b = app.answer(peer(7), &known).await;
    assert_eq!(a.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&a), retry_after(&b));
}
