//! Real sockets for the tests that care where a request comes from: an axum app served on a
//! loopback port with the peer address, and one raw HTTP/1.1 `GET` on its own connection
//! from a chosen loopback source address (127.0.0.2 and up reach a server on 127.0.0.1).
//! Included with `#[path = "common/wire.rs"]` by the tests that need axum.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

/// Serves `app` on a free loopback port, with the peer address the layer binds nonces to.
pub(crate) async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// One `GET path` on its own connection from source address `from`, with `headers`;
/// the status and headers of the answer.
pub(crate) async fn get_from(
    server: SocketAddr,
    from: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap) {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n");
    for (name, value) in headers {
        writeln!(request, "{name}: {value}\r").unwrap();
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, _body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let mut map = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    (StatusCode::from_bytes(status.as_bytes()).unwrap(), map)
}
