//! Ending logins over real sockets: a handler ends the caller's login (`end_login`) or
//! every login of its user (`end_all_logins`), and the nonces of those logins are refused
//! with 401 **without** `stale` (a browser then asks its user again), while a new login
//! works. `tests/redis/main.rs` runs the same store contract against Redis, and
//! `tests/interop/logout.rs` counts Chromium's prompts.

#![allow(missing_docs)]

mod common;
#[path = "common/wire.rs"]
mod wire;

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode as AxumStatus;
use axum::routing::get;
use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges};
use http::{HeaderMap, StatusCode};
use tower_digest_auth::nonce::{
    AccountKey, MemoryNonceStore, NcCheck, NonceEpoch, NonceStore, NonceUse,
};
use tower_digest_auth::{AuthenticatedUser, DigestLayer, EndLoginError, MemoryCredentials};

const OTHER_USER: &str = "Rafiki";
const OTHER_PASSWORD: &str = "Mandrill";

async fn logout(user: AuthenticatedUser) -> (AxumStatus, String) {
    answer(user.end_login().await)
}

async fn logout_everywhere(user: AuthenticatedUser) -> (AxumStatus, String) {
    answer(user.end_all_logins().await)
}

fn answer(ended: Result<(), EndLoginError>) -> (AxumStatus, String) {
    match ended {
        Ok(()) => (AxumStatus::UNAUTHORIZED, "logged out\n".to_owned()),
        Err(error) => (AxumStatus::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

/// A server with `nonces`, two users, `/whoami`, `/logout` and `/logout-everywhere`.
async fn server<N: NonceStore>(nonces: N) -> SocketAddr {
    let mut users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    users.insert(OTHER_USER, OTHER_PASSWORD);
    let layer = DigestLayer::builder(REALM, users)
        .algorithms(["SHA-256".parse().unwrap()])
        .nonce_store(nonces)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|user: AuthenticatedUser| async move { user.username().to_owned() }),
        )
        .route("/logout", get(logout))
        .route("/logout-everywhere", get(logout_everywhere))
        .route_layer(layer);
    wire::serve(app).await
}

/// One `GET path` on its own connection, with `authorization` if any.
async fn get_raw(
    server: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, HeaderMap) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    wire::get_from(server, "127.0.0.1", path, &headers).await
}

/// A client of one login: its challenge and the next `nc`.
struct Client<'a> {
    server: SocketAddr,
    user: &'a str,
    password: &'a str,
    challenge: Challenge,
    nc: u32,
}

impl<'a> Client<'a> {
    /// Logs in (a new handshake) and checks `/whoami` answers 200.
    async fn log_in(server: SocketAddr, user: &'a str, password: &'a str) -> Self {
        let (status, headers) = get_raw(server, "/whoami", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let mut client = Client {
            server,
            user,
            password,
            challenge: challenges(&headers).remove(0),
            nc: 0,
        };
        assert_eq!(client.get("/whoami").await.0, StatusCode::OK);
        client
    }

    /// `GET path` with the next `nc` of this login.
    async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap) {
        self.nc += 1;
        let header = Answer::get(path)
            .username(self.user)
            .password(self.password)
            .nc(self.nc)
            .header(&self.challenge);
        get_raw(self.server, path, Some(&header)).await
    }
}

/// A 401 with fresh challenges that are not stale (a browser asks its user).
fn refused_not_stale((status, headers): (StatusCode, HeaderMap)) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    let offered = challenges(&headers);
    assert!(!offered.is_empty(), "{headers:?}");
    assert!(offered.iter().all(|c| !c.stale), "{headers:?}");
    assert!(headers.get("authentication-info").is_none(), "{headers:?}");
}

#[tokio::test]
async fn logout_refuses_the_login_without_stale_and_a_new_login_works() {
    let server = server(MemoryNonceStore::new()).await;
    let mut mine = Client::log_in(server, USER, PASSWORD).await;
    let mut elsewhere = Client::log_in(server, USER, PASSWORD).await;

    refused_not_stale(mine.get("/logout").await);
    // The same nonce, the next nc: refused, not stale; and so on for every later one.
    refused_not_stale(mine.get("/whoami").await);
    refused_not_stale(mine.get("/whoami").await);
    // The user's login on another client goes on.
    assert_eq!(elsewhere.get("/whoami").await.0, StatusCode::OK);
    // A new handshake logs in again.
    let mut again = Client::log_in(server, USER, PASSWORD).await;
    assert_eq!(again.get("/whoami").await.0, StatusCode::OK);
}

#[tokio::test]
async fn ending_all_of_a_users_logins_refuses_each_and_spares_other_users() {
    let server = server(MemoryNonceStore::new()).await;
    let mut first = Client::log_in(server, USER, PASSWORD).await;
    let mut second = Client::log_in(server, USER, PASSWORD).await;
    let mut other = Client::log_in(server, OTHER_USER, OTHER_PASSWORD).await;

    refused_not_stale(second.get("/logout-everywhere").await);
    refused_not_stale(first.get("/whoami").await);
    refused_not_stale(second.get("/whoami").await);
    assert_eq!(other.get("/whoami").await.0, StatusCode::OK);
    let mut again = Client::log_in(server, USER, PASSWORD).await;
    assert_eq!(again.get("/whoami").await.0, StatusCode::OK);
}

#[tokio::test]
async fn all_of_a_users_logins_end_outside_a_request_through_the_store() {
    let nonces = MemoryNonceStore::new();
    let server = server(nonces.clone()).await;
    let mut client = Client::log_in(server, USER, PASSWORD).await;
    // A password change, say: the application tells the layer's store.
    assert!(
        nonces
            .end_all_logins(AccountKey::new(REALM, USER))
            .await
            .unwrap()
    );
    refused_not_stale(client.get("/whoami").await);
    Client::log_in(server, USER, PASSWORD).await;
}

/// A store of one's own that records uses but cannot end logins (no `end_login`).
#[derive(Clone)]
struct CannotEnd(MemoryNonceStore);

impl NonceStore for CannotEnd {
    type Error = std::convert::Infallible;

    fn epoch(&self) -> NonceEpoch {
        self.0.epoch()
    }

    async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, Self::Error> {
        self.0.record_use(use_).await
    }
}

#[tokio::test]
async fn a_store_that_cannot_end_logins_says_so_and_the_login_goes_on() {
    let server = server(CannotEnd(MemoryNonceStore::new())).await;
    let mut client = Client::log_in(server, USER, PASSWORD).await;
    assert_eq!(
        client.get("/logout").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(client.get("/whoami").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_user_made_without_a_layer_has_no_login_to_end() {
    let user = AuthenticatedUser::new(USER, REALM, "SHA-256".parse().unwrap());
    assert!(matches!(
        user.end_login().await,
        Err(EndLoginError::NotFromALayer)
    ));
}

/// What the logout guide says of a full memory store: an ended login whose record had to
/// make room is forgotten, and a forgotten nonce is answered `stale=true` (never taken for
/// fresh), so its client logs in again without asking its user.
#[tokio::test]
async fn an_ended_login_evicted_from_a_full_memory_store_turns_stale() {
    let server = server(MemoryNonceStore::with_max_entries(1)).await;
    let mut mine = Client::log_in(server, USER, PASSWORD).await;
    refused_not_stale(mine.get("/logout").await);
    refused_not_stale(mine.get("/whoami").await);
    // A nonce issued in a later second than mine (the store forgets by issue second)
    // takes the one entry, and the ended record goes.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    Client::log_in(server, OTHER_USER, OTHER_PASSWORD).await;
    let (status, headers) = mine.get("/whoami").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    assert!(challenges(&headers).iter().all(|c| c.stale), "{headers:?}");
}
