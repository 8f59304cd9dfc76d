//! Slow, idle and malformed clients against the real worker server on
//! 127.0.0.1, over raw sockets; and shutdown with such a client attached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use mandala_model::Reply;
use mandala_standin::raw_http::{read_until_closed, status};
use mandala_worker::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long a test waits for something the server must do by itself
/// before calling it a hang; far above every limit the tests configure.
const HANG: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mandala_worker::StartError>>,
    dir: tempfile::TempDir,
    _discord: Discord,
}

async fn server(tweak: impl FnOnce(&mut Config)) -> Server {
    let discord = discord().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), &discord.api_base);
    tweak(&mut c);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mandala_worker::serve(c, listener, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
        dir,
        _discord: discord,
    }
}

/// A push of a store-only job as raw HTTP/1.1, with `host` lines as given.
fn push(seed: u64, hosts: &[&str]) -> Vec<u8> {
    let body = envelope(&job(spec(seed), Reply::None), &seed.to_string(), Some(1));
    let mut head = "POST /pubsub/push HTTP/1.1\r\n".to_owned();
    for h in hosts {
        let _ = write!(head, "Host: {h}\r\n");
    }
    let _ = write!(
        head,
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

#[tokio::test]
async fn half_sent_heads_and_idle_connections_are_closed() {
    let s = server(|c| {
        c.http.header_read_timeout_ms = 300;
        c.http.idle_timeout_secs = 1;
    })
    .await;
    let mut half = TcpStream::connect(s.addr).await.unwrap();
    half.write_all(b"POST /pubsub/push HTTP/1.1\r\nHost: w")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut half, HANG).await, "");
    assert_eq!(read_until_closed(&mut silent, HANG).await, "");
}

#[tokio::test]
async fn a_stalled_push_body_is_408_so_pubsub_redelivers() {
    let s = server(|c| c.http.body_read_timeout_ms = 300).await;
    let request = push(31, &["worker"]);
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(&request[..request.len() - 10])
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, HANG).await;
    // A 2xx would acknowledge a message the worker never read.
    assert_eq!(status(&answer), "408", "{answer}");
    assert!(stored_images(s.dir.path()).is_empty());
}

#[tokio::test]
async fn a_push_without_exactly_one_host_is_400_and_not_rendered() {
    let s = server(|_| {}).await;
    for (what, request) in [
        ("no Host", push(32, &[])),
        ("two Hosts", push(33, &["worker", "elsewhere"])),
    ] {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(HANG, stream.read(&mut answer))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert_eq!(status(&answer), "400", "{what}: {answer}");
    }
    assert!(stored_images(s.dir.path()).is_empty());
}

#[tokio::test]
async fn shutdown_drains_within_its_budget_despite_a_half_sent_push() {
    let mut s = server(|c| {
        c.http.body_read_timeout_ms = 60_000;
        c.http.drain_secs = 1;
    })
    .await;
    let request = push(34, &["worker"]);
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(&request[..request.len() - 10])
        .await
        .unwrap();
    let mut half_head = TcpStream::connect(s.addr).await.unwrap();
    half_head
        .write_all(b"POST /pubsub/push HTTP/1.1\r\nHost: wor")
        .await
        .unwrap();
    // Let the server take both requests in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(HANG, &mut s.task)
        .await
        .expect("the worker was still serving long after its drain budget")
        .unwrap()
        .unwrap();
    read_until_closed(&mut stalled, HANG).await;
    read_until_closed(&mut half_head, HANG).await;
}
