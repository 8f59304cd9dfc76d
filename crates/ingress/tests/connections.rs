//! Hostile and careless clients against the real server on 127.0.0.1:
//! connections that send half a head, half a body or nothing, too many
//! connections, requests without a proper `Host`, interactions whose token
//! would aim the worker's reply elsewhere. Raw sockets, so the bytes on the
//! wire are exactly what a probe would send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use mandala_ingress::config::Config;
use mandala_standin::raw_http::{read_until_closed, status};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long a test waits for something the server must do by itself
/// before calling it a hang; far above every limit the tests configure.
const HANG: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    receiver: Receiver,
    key: ed25519_dalek::SigningKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mandala_ingress::StartError>>,
    _dir: tempfile::TempDir,
}

async fn server(tweak: impl FnOnce(&mut Config)) -> Server {
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = key(1);
    let mut c = config(&key, &receiver.url, dir.path());
    tweak(&mut c);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mandala_ingress::serve(c, listener, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        receiver,
        key,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl Server {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// A complete signed `/mandala` request as raw HTTP/1.1, with `host`
    /// header lines as given.
    fn interaction(&self, hosts: &[&str]) -> Vec<u8> {
        self.signed(&command(&snowflake(), json!([])), hosts)
    }

    /// `body`, signed, as a raw HTTP/1.1 POST /interactions.
    fn signed(&self, body: &serde_json::Value, hosts: &[&str]) -> Vec<u8> {
        let body = body.to_string();
        let ts = now_secs().to_string();
        let sig = mandala_ingress::signing::sign(&self.key, &ts, body.as_bytes());
        let mut head = "POST /interactions HTTP/1.1\r\n".to_owned();
        for h in hosts {
            let _ = write!(head, "Host: {h}\r\n");
        }
        let _ = write!(
            head,
            "Content-Type: application/json\r\nX-Signature-Ed25519: {sig}\r\nX-Signature-Timestamp: {ts}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

/// Reads one response (head and a `Content-Length` body) off a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(HANG, async {
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed mid-response: {text:?}");
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("no complete response");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off() {
    let s = server(|c| c.http.header_read_timeout_ms = 300).await;
    let mut stream = s.connect().await;
    stream
        .write_all(b"POST /interactions HTTP/1.1\r\nHost: ingress\r\nContent-")
        .await
        .unwrap();
    let sent = read_until_closed(&mut stream, HANG).await;
    assert_eq!(sent, "", "nothing to answer a head that never ended");
}

#[tokio::test]
async fn a_few_bytes_of_a_head_are_cut_off_too() {
    // Fewer bytes than the HTTP/2 preface: the server cannot even tell the
    // protocol yet.
    let s = server(|c| c.http.header_read_timeout_ms = 300).await;
    let mut stream = s.connect().await;
    stream.write_all(b"GET / HT").await.unwrap();
    read_until_closed(&mut stream, HANG).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_used_one_after_its_last_answer() {
    let s = server(|c| c.http.idle_timeout_secs = 1).await;
    let mut silent = s.connect().await;
    assert_eq!(read_until_closed(&mut silent, HANG).await, "");

    let mut used = s.connect().await;
    used.write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut used).await;
    assert_eq!(status(&answer), "200", "{answer}");
    assert_eq!(read_until_closed(&mut used, HANG).await, "");
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_queues_nothing() {
    let s = server(|c| c.http.body_read_timeout_ms = 300).await;
    let request = s.interaction(&["ingress"]);
    let mut stream = s.connect().await;
    // Everything but the last 10 bytes of the body.
    stream
        .write_all(&request[..request.len() - 10])
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, HANG).await;
    assert_eq!(status(&answer), "408", "{answer}");
    assert!(answer.contains("request body not received"), "{answer}");
    assert_eq!(s.receiver.count(), 0);
}

#[tokio::test]
async fn requests_without_exactly_one_host_are_400() {
    let s = server(|_| {}).await;
    for (what, request) in [
        ("no Host", s.interaction(&[])),
        ("two Hosts", s.interaction(&["ingress", "elsewhere"])),
        ("a Host with a user", s.interaction(&["user@ingress"])),
        (
            "healthz without Host",
            b"GET /healthz HTTP/1.1\r\n\r\n".to_vec(),
        ),
    ] {
        let mut stream = s.connect().await;
        stream.write_all(&request).await.unwrap();
        let answer = read_response(&mut stream).await;
        assert_eq!(status(&answer), "400", "{what}: {answer}");
        assert!(answer.contains("Host header"), "{what}: {answer}");
    }
    // HTTP/1.0 has no Host requirement; one Host is what everyone sends.
    let mut stream = s.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status(&read_until_closed(&mut stream, HANG).await), "200");
    let mut stream = s.connect().await;
    stream
        .write_all(&s.interaction(&["ingress"]))
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert_eq!(status(&answer), "200", "{answer}");
    s.receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.receiver.count(),
        1,
        "only the well-formed request queued a job"
    );
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room() {
    let s = server(|c| {
        c.http.max_connections = 2;
        c.http.idle_timeout_secs = 3600;
    })
    .await;
    // Two kept-alive connections, each answered once and now idle.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = s.connect().await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(status(&read_response(&mut stream).await), "200");
        idle.push(stream);
    }
    // A third client is served, because the idle ones give way.
    let mut third = s.connect().await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status(&read_response(&mut third).await), "200");
    for mut stream in idle {
        assert_eq!(read_until_closed(&mut stream, HANG).await, "");
    }
}

#[tokio::test]
async fn the_connection_cap_holds_while_requests_are_in_progress() {
    let s = server(|c| {
        c.http.max_connections = 1;
        c.http.body_read_timeout_ms = 60_000;
    })
    .await;
    // One request in progress, its body half sent: it holds the only slot.
    let request = s.interaction(&["ingress"]);
    let (first_part, rest) = request.split_at(request.len() - 10);
    let mut busy = s.connect().await;
    busy.write_all(first_part).await.unwrap();
    let addr = s.addr;
    let waiting = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
            .await
            .unwrap();
        read_response(&mut stream).await
    });
    // Give an uncapped server every chance to answer the second client.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served while the only slot was taken"
    );
    // The first request completes; its connection, now idle, gives way.
    busy.write_all(rest).await.unwrap();
    assert_eq!(status(&read_response(&mut busy).await), "200");
    let answer = tokio::time::timeout(HANG, waiting).await.unwrap().unwrap();
    assert_eq!(status(&answer), "200", "{answer}");
}

#[tokio::test]
async fn http2_without_tls_still_works() {
    let s = server(|_| {}).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = client
        .get(format!("http://{}/healthz", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_that_never_finishes() {
    let mut s = server(|c| {
        c.http.body_read_timeout_ms = 60_000;
        c.http.drain_secs = 1;
    })
    .await;
    let request = s.interaction(&["ingress"]);
    let mut stalled = s.connect().await;
    stalled
        .write_all(&request[..request.len() - 10])
        .await
        .unwrap();
    let mut half_head = s.connect().await;
    half_head
        .write_all(b"POST /interactions HTTP/1.1\r\nHost: ingre")
        .await
        .unwrap();
    // Let the server take both requests in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(HANG, &mut s.task)
        .await
        .expect("serve still running")
        .unwrap()
        .unwrap();
    read_until_closed(&mut stalled, HANG).await;
    read_until_closed(&mut half_head, HANG).await;
}

#[tokio::test]
async fn interactions_with_implausible_tokens_are_400_and_queue_nothing() {
    let s = server(|_| {}).await;
    for token in [".", "..", "a/b", "-"] {
        let mut body = command(&snowflake(), json!([]));
        body["token"] = json!(token);
        let mut stream = s.connect().await;
        stream
            .write_all(&s.signed(&body, &["ingress"]))
            .await
            .unwrap();
        let answer = read_response(&mut stream).await;
        assert_eq!(status(&answer), "400", "{token:?}: {answer}");
        assert!(answer.contains("token"), "{token:?}: {answer}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.receiver.count(), 0);
}
