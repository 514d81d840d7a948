//! Over a socket: aiohttp (a real client that prefers auth-int when offered), raw HTTP/1.1,
//! and proxy mode's `Proxy-Authorization` / `Proxy-Authentication-Info`.

use tower_digest_auth::{AuthMode, DigestLayer, MemoryCredentials};

use super::LIMIT;
use crate::common::{Answer, PASSWORD, REALM, USER, h, param, params};
use crate::wire::{challenge_from, exchange, raw, serve, serve_layer, socket_challenge};

/// aiohttp's `DigestAuthMiddleware` POSTs `body`; prints status, body, the Authorization it
/// sent and the Authentication-Info it got, one per line (hex for the body).
const AIOHTTP: &str = r#"
import asyncio, sys
from aiohttp import ClientSession, DigestAuthMiddleware

async def main(url, user, password, body):
    async with ClientSession(middlewares=(DigestAuthMiddleware(user, password),)) as session:
        async with session.post(url, data=body) as response:
            text = await response.read()
            print(response.status)
            print(text.hex())
            print(response.request_info.headers.get("Authorization", ""))
            print(response.headers.get("Authentication-Info", ""))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()))
"#;

async fn aiohttp_post(url: &str, password: &str, body: &str) -> (u16, Vec<u8>, String, String) {
    let output = tokio::process::Command::new("python3")
        .args(["-c", AIOHTTP, url, USER, password, body])
        .env("NO_PROXY", "*")
        .output()
        .await
        .expect("python3 runs (tests/interop-setup.sh installs aiohttp)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "aiohttp failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let body = (0..lines[1].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&lines[1][i..i + 2], 16).unwrap())
        .collect();
    (
        lines[0].parse().unwrap(),
        body,
        lines[2].to_owned(),
        lines.get(3).copied().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn aiohttp_answers_with_auth_int_and_gets_a_correct_rspauth() {
    let addr = serve().await;
    let (status, body, sent, info) =
        aiohttp_post(&format!("http://{addr}/echo"), PASSWORD, "pride=rock").await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(body, b"Mufasa:pride=rock");
    let sent = params(sent.strip_prefix("Digest ").unwrap());
    assert_eq!(
        param(&sent, "qop"),
        Some("auth-int"),
        "aiohttp chose auth-int"
    );
    // rspauth recomputed independently from what aiohttp sent and got.
    let algorithm = param(&sent, "algorithm").unwrap();
    let ha1 = h(algorithm, format!("{USER}:{REALM}:{PASSWORD}").as_bytes());
    let uri = param(&sent, "uri").unwrap();
    let ha2 = h(
        algorithm,
        format!(":{uri}:{}", h(algorithm, &body)).as_bytes(),
    );
    let expected = h(
        algorithm,
        format!(
            "{ha1}:{}:{}:{}:auth-int:{ha2}",
            param(&sent, "nonce").unwrap(),
            param(&sent, "nc").unwrap(),
            param(&sent, "cnonce").unwrap()
        )
        .as_bytes(),
    );
    let info = params(&info);
    assert_eq!(param(&info, "qop"), Some("auth-int"));
    assert_eq!(param(&info, "rspauth"), Some(expected.as_str()));
    let (status, _, _, _) = aiohttp_post(&format!("http://{addr}/echo"), "wrong", "x").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn over_a_socket_tampered_bodies_are_401_and_over_limit_bodies_413() {
    let addr = serve().await;
    let challenge = socket_challenge(addr).await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"amount=10")
        .header(&challenge);
    let tampered = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: 12\r\nConnection: close\r\n\r\namount=10000"
    );
    assert_eq!(raw(addr, tampered.as_bytes()).await, 401);
    let good = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: 9\r\nConnection: close\r\n\r\namount=10"
    );
    assert_eq!(raw(addr, good.as_bytes()).await, 200);

    // Declared too large: refused before the body is read.
    let challenge = socket_challenge(addr).await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"")
        .header(&challenge);
    let declared = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        LIMIT + 1
    );
    assert_eq!(raw(addr, declared.as_bytes()).await, 413);
    // Chunked, no length: counted as it arrives.
    let mut chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", LIMIT / 2).as_bytes());
        chunked.extend_from_slice(&vec![b'a'; LIMIT / 2]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(addr, &chunked).await, 413);
}

#[tokio::test]
async fn in_proxy_mode_auth_int_is_read_from_proxy_authorization_and_rspauth_sent_in_proxy_authentication_info()
 {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .mode(AuthMode::Proxy)
        .build_auth_int(LIMIT)
        .unwrap();
    let addr = serve_layer(layer).await;
    // A forward proxy's request: absolute-form target.
    let target = "http://origin.example/echo";
    let asked = exchange(
        addr,
        format!("POST {target} HTTP/1.1\r\nHost: origin.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(asked.status, 407);
    assert!(asked.header("www-authenticate").is_none());
    let challenge = challenge_from(asked.all("proxy-authenticate")[0]);
    assert_eq!(challenge.qop, "auth,auth-int");

    let body = b"pride=rock";
    let answer = Answer::get(target).method("POST").auth_int(body);
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: origin.example\r\nProxy-Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\npride=rock",
        answer.header(&challenge),
        body.len()
    );
    let response = exchange(addr, request.as_bytes()).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body, b"Mufasa:pride=rock");
    assert!(response.header("authentication-info").is_none());
    let info = params(
        response
            .header("proxy-authentication-info")
            .expect("rspauth in Proxy-Authentication-Info"),
    );
    assert_eq!(param(&info, "qop"), Some("auth-int"));
    // rspauth recomputed here, from the password and what went over the wire.
    let algorithm = challenge.algorithm.as_str();
    let ha1 = h(algorithm, format!("{USER}:{REALM}:{PASSWORD}").as_bytes());
    let ha2 = h(
        algorithm,
        format!(":{target}:{}", h(algorithm, &response.body)).as_bytes(),
    );
    let expected = h(
        algorithm,
        format!(
            "{ha1}:{}:00000001:{}:auth-int:{ha2}",
            challenge.nonce, answer.cnonce
        )
        .as_bytes(),
    );
    assert_eq!(param(&info, "rspauth"), Some(expected.as_str()));
    assert_eq!(param(&info, "nc"), Some("00000001"));
}
