//! A tiny origin server on a loopback port that records what reached it, for the proxy
//! tests (`tests/proxy_example.rs`, the interop suite): which requests a proxy forwarded,
//! and whether any credentials meant for the proxy went along.

#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The request target as it arrived (origin-form when a proxy forwarded it).
    pub target: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// The origin: answers `origin saw METHOD TARGET body=BODY` to everything.
pub struct Origin {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind an ephemeral loopback port");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&received));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve the origin");
        });
        Origin {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> String {
    let body = String::from_utf8_lossy(&body).into_owned();
    let answer = format!("origin saw {method} {uri} body={body}");
    received.lock().unwrap().push(Received {
        method: method.to_string(),
        target: uri.to_string(),
        headers,
        body,
    });
    answer
}
