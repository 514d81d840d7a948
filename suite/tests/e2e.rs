//! The example server on a real socket, authenticated by a real HTTP client.

#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Answer, challenges, param, params};
use reqwest::StatusCode;

async fn start(options: server::ServerOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, options));
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn example_server_authenticates_over_a_socket_and_answers_whoami() {
    let addr = start(server::ServerOptions::default()).await;
    let client = client();
    let url = format!("http://{addr}/api/whoami");

    let public = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::OK);

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(first.headers()).remove(0);
    assert_eq!(challenge.algorithm, "SHA-256");

    for nc in 1..=3 {
        let answer = Answer::get("/api/whoami").nc(nc);
        let response = client
            .get(&url)
            .header("authorization", answer.header(&challenge))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "nc {nc}");
        let info = params(response.headers()["authentication-info"].to_str().unwrap());
        assert_eq!(
            param(&info, "rspauth"),
            Some(answer.rspauth(&challenge).as_str())
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "username": "Mufasa" }));
    }
}

#[tokio::test]
async fn example_server_post_and_wrong_password() {
    let addr = start(server::ServerOptions::default()).await;
    let client = client();
    let url = format!("http://{addr}/dir/index.html");
    let first = client.post(&url).body("hello").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(first.headers()).remove(1);
    assert_eq!(challenge.algorithm, "MD5");

    let post = Answer::get("/dir/index.html").method("POST");
    let response = client
        .post(&url)
        .header("authorization", post.header(&challenge))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "Mufasa posted 5 bytes\n");

    let wrong = Answer::get("/dir/index.html").nc(2).password("wrong");
    let response = client
        .get(&url)
        .header("authorization", wrong.header(&challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(response.headers()).len(), 2);
}

#[tokio::test]
async fn short_lifetime_makes_the_nonce_stale_over_the_wire() {
    let addr = start(server::ServerOptions {
        nonce_lifetime: Duration::from_secs(1),
        ..server::ServerOptions::default()
    })
    .await;
    let client = client();
    let url = format!("http://{addr}/api/whoami");
    let challenge = challenges(client.get(&url).send().await.unwrap().headers()).remove(0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = client
        .get(&url)
        .header(
            "authorization",
            Answer::get("/api/whoami").header(&challenge),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(response.headers()).iter().all(|c| c.stale));
}

/// Inside a nested router axum strips the prefix from the request URI; the layer must
/// compare `uri` with what the client sent.
#[tokio::test]
async fn layer_inside_a_nested_router_checks_the_original_uri() {
    use axum::Router;
    use axum::routing::get;
    use tower_digest_auth::{DigestLayer, MemoryCredentials};

    let users = MemoryCredentials::new(common::REALM, [(common::USER, common::PASSWORD)]);
    let api = Router::new()
        .route("/data", get(|| async { "data" }))
        .layer(DigestLayer::builder(common::REALM, users).build().unwrap());
    let app = Router::new().nest("/api", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = client();
    let url = format!("http://{addr}/api/data");
    let challenge = challenges(client.get(&url).send().await.unwrap().headers()).remove(0);
    let response = client
        .get(&url)
        .header("authorization", Answer::get("/api/data").header(&challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "data");
}

/// `GET /admin` with `diqwest`, a Digest client nobody here wrote, for each kind of caller.
mod admin_route {
    use diqwest::WithDigestAuth;

    use super::*;

    async fn get_admin(login: Option<(&str, &str)>) -> reqwest::Response {
        let addr = start(server::ServerOptions::default()).await;
        let request = client().get(format!("http://{addr}/admin"));
        match login {
            Some(login) => request.send_digest_auth(login).await.unwrap(),
            None => request.send().await.unwrap(),
        }
    }

    #[tokio::test]
    async fn the_admin_gets_200_and_a_page_naming_them() {
        let response = get_admin(Some((server::ADMIN_USERNAME, server::ADMIN_PASSWORD))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("authentication-info"));
        let body = response.text().await.unwrap();
        assert!(body.contains("Rafiki"), "{body}");
    }

    #[tokio::test]
    async fn an_authenticated_user_without_the_role_gets_403_and_no_challenge() {
        let response = get_admin(Some((server::USERNAME, server::PASSWORD))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get("www-authenticate").is_none());
        // Authenticated all the same: the server proves it knows the password.
        assert!(response.headers().contains_key("authentication-info"));
    }

    #[tokio::test]
    async fn a_client_without_credentials_or_with_a_wrong_password_gets_401_with_challenges() {
        let response = get_admin(None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let offered: Vec<_> = challenges(response.headers())
            .into_iter()
            .map(|c| c.algorithm)
            .collect();
        assert_eq!(offered, ["SHA-256", "MD5"]);

        let response = get_admin(Some((server::ADMIN_USERNAME, "Baboon"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenges(response.headers()).len(), 2);
    }
}

/// `BASIC` takes `on` and `insecure`; anything else stops the server at start, saying
/// what it takes.
#[test]
fn the_basic_setting_takes_on_and_insecure_and_names_them_otherwise() {
    use tower_digest_auth::basic::BasicAuth;
    assert_eq!(server::basic_from_env("on"), Ok(BasicAuth::OverTls));
    assert_eq!(
        server::basic_from_env("insecure"),
        Ok(BasicAuth::AlsoPlainHttp)
    );
    for bad in ["", "off", "ON", "yes", "true"] {
        let error = server::basic_from_env(bad).unwrap_err();
        assert!(
            error.contains("`on`")
                && error.contains("`insecure`")
                && error.contains(&format!("{bad:?}")),
            "{error}"
        );
    }
}
