//! One direction of a proxied connection: a reader that stamps each chunk
//! with when it may go out, and a writer that holds it until then.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Counters;
use super::mode::Mode;

/// Which way a [`direction`] copies.
#[derive(Debug, Clone, Copy)]
pub(super) enum Flow {
    /// Client to upstream; `held` when the client's first bytes waited
    /// for a hang to end before the upstream connection was made.
    Up {
        held: bool,
    },
    Down,
}

/// After held traffic was released, how long a client's end of stream
/// waits before it reaches the upstream: a client that gave up and closed
/// while its request was held must not cancel that request as it lands
/// (servers drop a request whose connection closes under it), as a real
/// stalled network would have delivered the request before the close.
const LATE_EOF_GRACE: Duration = Duration::from_secs(2);

/// A chunk on its way, and when it may be written.
enum Chunk {
    Data(Instant, Vec<u8>),
    End,
}

/// Copies one direction of a connection: a reader that stamps each chunk
/// with when it may go out, and a writer that holds it until then (and
/// while the mode is `Hang`). An error or a kill resets both sockets.
pub(super) async fn direction(
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
    killed: watch::Receiver<bool>,
    kill: watch::Sender<bool>,
    counters: Arc<Counters>,
    flow: Flow,
) {
    let (up, held) = match flow {
        Flow::Up { held } => (true, held),
        Flow::Down => (false, false),
    };
    let (tx, rx) = mpsc::channel::<Chunk>(256);
    let reader = read_chunks(from, tx, mode.clone(), killed.clone(), kill.clone());
    let writer = Writer {
        to,
        mode: mode.clone(),
        killed,
        kill: kill.clone(),
        counters,
        up,
        held,
    };
    let (from, to) = tokio::join!(reader, writer.run(rx));
    if *kill.borrow() {
        // Both halves of both sockets go with an RST.
        let _ = from.as_ref().set_zero_linger();
        let _ = to.as_ref().set_zero_linger();
    }
}

/// Reads until the end of stream, an error (which kills the connection)
/// or a kill, sending each chunk stamped with when it may be written: now,
/// or after the mode's delay.
async fn read_chunks(
    mut from: OwnedReadHalf,
    tx: mpsc::Sender<Chunk>,
    mode: watch::Receiver<Mode>,
    mut killed: watch::Receiver<bool>,
    kill: watch::Sender<bool>,
) -> OwnedReadHalf {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = killed.wait_for(|k| *k) => break,
        };
        match read {
            Ok(0) => {
                let _ = tx.send(Chunk::End).await;
                break;
            }
            Ok(n) => {
                let delay = match *mode.borrow() {
                    Mode::Delay(d) => d,
                    _ => Duration::ZERO,
                };
                if tx
                    .send(Chunk::Data(Instant::now() + delay, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(_) => {
                kill.send_replace(true);
                break;
            }
        }
    }
    from
}

/// The writing end of a direction and what it watches.
struct Writer {
    to: OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
    killed: watch::Receiver<bool>,
    kill: watch::Sender<bool>,
    counters: Arc<Counters>,
    /// Client to upstream (counted as bytes up), or back.
    up: bool,
    /// Traffic of this direction was held by a hang: its end of stream
    /// waits [`LATE_EOF_GRACE`].
    held: bool,
}

impl Writer {
    /// Writes each chunk when it falls due and the mode lets it through,
    /// until the end of stream, a kill, a reset or a failed write.
    async fn run(mut self, mut rx: mpsc::Receiver<Chunk>) -> OwnedWriteHalf {
        while let Some(chunk) = tokio::select! {
            c = rx.recv() => c,
            _ = self.killed.wait_for(|k| *k) => None,
        } {
            let Chunk::Data(due, bytes) = chunk else {
                self.end_of_stream().await;
                break;
            };
            // Held while the dependency hangs; then on its way, late.
            if !self.wait_out_hang().await || !self.write(due, &bytes).await {
                break;
            }
        }
        self.to
    }

    /// Passes the end of stream on (late, if traffic was held), unless
    /// the connection is killed meanwhile.
    async fn end_of_stream(&mut self) {
        if self.held {
            tokio::select! {
                () = tokio::time::sleep(LATE_EOF_GRACE) => {}
                _ = self.killed.wait_for(|k| *k) => return,
            }
        }
        let _ = self.to.shutdown().await;
    }

    /// Waits while the mode is `Hang`; `false` when the connection is to
    /// go instead (killed, reset, or the proxy gone).
    async fn wait_out_hang(&mut self) -> bool {
        loop {
            let now = *self.mode.borrow_and_update();
            match now {
                Mode::Hang => {
                    self.held = true;
                    tokio::select! {
                        changed = self.mode.changed() => if changed.is_err() { return false },
                        _ = self.killed.wait_for(|k| *k) => return false,
                    }
                }
                Mode::Reset => {
                    self.kill.send_replace(true);
                    return false;
                }
                _ => return true,
            }
        }
    }

    /// Writes a chunk once it is due and counts it; `false` when killed
    /// meanwhile or the write failed (which kills the connection).
    async fn write(&mut self, due: Instant, bytes: &[u8]) -> bool {
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            _ = self.killed.wait_for(|k| *k) => return false,
        }
        let written = tokio::select! {
            w = self.to.write_all(bytes) => w,
            _ = self.killed.wait_for(|k| *k) => return false,
        };
        if written.is_err() {
            self.kill.send_replace(true);
            return false;
        }
        self.counter()
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        true
    }

    fn counter(&self) -> &AtomicU64 {
        if self.up {
            &self.counters.bytes_up
        } else {
            &self.counters.bytes_down
        }
    }
}
