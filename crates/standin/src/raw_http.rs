//! Reading a server's answers off a raw TCP connection, for tests that
//! speak HTTP/1.1 byte by byte (half-sent heads, stalled bodies, missing
//! `Host` headers): both services' connection tests read them the same way.

use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// Reads until the server closes the connection, waiting at most `within`;
/// everything it sent.
///
/// # Panics
/// If the server keeps the connection open longer than `within`: that is
/// the failure these tests look for.
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open; it sent {:?}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response (`HTTP/1.1 408 …` → `408`); empty if
/// there was none.
pub fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}
