//! The documentation's commands, run as a reader would run them.
//!
//! Every ```` ```sh ```` block in README.md and docs/*.md that follows a
//! `<!-- docs-test: KIND -->` line is run (docs/DEVELOPING.md, "Commands in
//! the documentation", is the convention):
//!
//! - `alone`: once, needing nothing running (`mandala render`, `gallery`);
//! - `designs`: against a `mandala dev` of each local design (single,
//!   pubsub, pubsub-split, cloud-tasks), and of the emulator-backed one
//!   where the emulators exist;
//! - `emulators`: against `mandala dev --pubsub-emulator …
//!   --firestore-emulator …` only, skipped loudly without the emulators.
//!
//! A block runs as one `sh -ex` script in a scratch directory that is also
//! the stack's working directory (so `.mandala/` is where the docs say),
//! with the substitutions of [`Subs`]: the binary built here for
//! `cargo run --release --`, and this test's ports for the documented
//! defaults. It fails on a non-zero exit, on output that says `error:` or
//! `panicked`, or after [`BLOCK_TIMEOUT`]. One `mandala dev` serves every
//! block of a design, so the suite takes a few minutes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mandala_e2e::{ChildGuard, free_port, workspace_root};
use mandala_standin::emulators::firestore::FirestoreEmulator;
use mandala_standin::emulators::pubsub::PubsubEmulator;
use mandala_standin::suites;

/// Longest a block may run: the longest documented block renders a few
/// images and sends a small load.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(240);
/// Longest a `mandala dev` may take to come up.
const DEV_READY: Duration = Duration::from_secs(60);
/// What no documented command may print.
const KNOWN_BAD: [&str; 3] = ["error:", "panicked", "RUST_BACKTRACE"];
/// The marker before a block, `<!-- docs-test: KIND -->`.
const MARKER: &str = "<!-- docs-test:";

/// Where a block runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alone,
    Designs,
    Emulators,
}

/// One marked block.
#[derive(Debug)]
struct Block {
    /// `docs/X.md:LINE` of its opening fence.
    place: String,
    kind: Kind,
    script: String,
}

/// The marked blocks of README.md and docs/*.md, in file order.
fn marked_blocks() -> Vec<Block> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = Vec::new();
    for file in files {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        blocks.extend(blocks_in(&name, &text));
    }
    blocks
}

/// The marked blocks of one file. A marker that names no known kind, or
/// is not followed by a ```` ```sh ```` block, fails the test: a typo
/// must not quietly untest a block. Inside a fenced block a marker is text
/// (the convention's own example in DEVELOPING.md).
fn blocks_in(name: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    // The fence of the block being read past (its backticks), if any.
    let mut open: Option<&str> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if let Some(fence) = open {
            if line == fence {
                open = None;
            }
            continue;
        }
        if line.starts_with("```") {
            let ticks = line.len() - line.trim_start_matches('`').len();
            open = Some(&line[..ticks]);
            continue;
        }
        let Some(rest) = line.strip_prefix(MARKER) else {
            continue;
        };
        let kind = match rest.trim_end_matches("-->").trim() {
            "alone" => Kind::Alone,
            "designs" => Kind::Designs,
            "emulators" => Kind::Emulators,
            other => panic!("{name}:{i}: unknown docs-test kind {other:?}"),
        };
        let fence = lines.get(i).copied().unwrap_or_default();
        let indent = fence.len() - fence.trim_start().len();
        assert_eq!(
            fence.trim(),
            "```sh",
            "{name}:{i}: a docs-test marker must be followed by a ```sh block"
        );
        let place = format!("{name}:{}", i + 1);
        i += 1;
        let mut script = String::new();
        while i < lines.len() && lines[i].trim() != "```" {
            let l = lines[i];
            script.push_str(l.get(indent..).unwrap_or(l.trim_start()));
            script.push('\n');
            i += 1;
        }
        i += 1;
        blocks.push(Block {
            place,
            kind,
            script,
        });
    }
    blocks
}

/// What a block's text is run with instead of the documented defaults.
struct Subs {
    /// The `mandala` binary built for this test.
    bin: String,
    /// `127.0.0.1:8080`: the stack's ingress, playground and stand-in.
    port: u16,
    /// `127.0.0.1:8081`: its worker.
    worker_port: u16,
    /// `127.0.0.1:8085`: the Pub/Sub emulator, when there is one.
    pubsub: Option<String>,
}

impl Subs {
    fn apply(&self, script: &str) -> String {
        let bin = format!("'{}'", self.bin);
        let mut out = String::new();
        for line in script.lines() {
            let mut line = line
                .replace("cargo run --release --", &bin)
                .replace("target/release/mandala ", &format!("{bin} "))
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", self.port))
                .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", self.worker_port));
            if let Some(pubsub) = &self.pubsub {
                line = line.replace("127.0.0.1:8085", pubsub);
            }
            if let Some(rest) = line.strip_prefix("mandala ") {
                line = format!("{bin} {rest}");
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// Runs one block; `Err` says what went wrong, with its output.
fn run_block(block: &Block, design: &str, subs: &Subs, dir: &Path) -> Result<Duration, String> {
    let script = subs.apply(&block.script);
    let started = Instant::now();
    let log = dir.join(".docs-test-block.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("sh")
        .arg("-exc")
        .arg(&script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        // What a reader's shell would not have set: the docs say when to.
        .env_remove("PUBSUB_EMULATOR_HOST")
        .env_remove("PUBSUB_TOPIC")
        .env_remove("DISCORD_API_BASE")
        .env_remove("DISCORD_PUBLIC_KEY")
        .env_remove("DISCORD_APPLICATION_ID")
        .env_remove("DISCORD_BOT_TOKEN")
        .env(
            "MANDALA_URL",
            format!("http://127.0.0.1:{}/interactions", subs.port),
        )
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let tail = || {
        let lines: Vec<&str> = output.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    let why = match status {
        None => Some(format!("did not finish within {BLOCK_TIMEOUT:?}")),
        Some(s) if !s.success() => Some(format!("ended with {s}")),
        Some(_) => KNOWN_BAD
            .iter()
            .find(|bad| output.contains(*bad))
            .map(|bad| format!("printed {bad:?}")),
    };
    match why {
        None => Ok(started.elapsed()),
        Some(why) => Err(format!(
            "{} ({design}): {why}\n--- script ---\n{script}--- output (last lines) ---\n{}\n",
            block.place,
            tail()
        )),
    }
}

/// A scratch directory laid out as far as the docs assume of the
/// checkout's root: `docs/` exists (`gallery -o docs/gallery.png`).
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    dir
}

/// A `mandala dev` of one design in `dir`, killed when dropped.
struct Dev {
    guard: ChildGuard,
    port: u16,
    worker_port: u16,
}

/// Two free ports, the second followed by a free one too (the split
/// design's replier listens on the worker's port + 1).
fn ports() -> (u16, u16) {
    for _ in 0..50 {
        let (a, b) = (free_port(), free_port());
        if a != b
            && b < u16::MAX
            && a != b + 1
            && std::net::TcpListener::bind(("127.0.0.1", b + 1)).is_ok()
        {
            return (a, b);
        }
    }
    panic!("no free ports");
}

fn start_dev(bin: &str, dir: &Path, topology: &str, extra: &[String]) -> Result<Dev, String> {
    let (port, worker_port) = ports();
    let log = dir.join(format!(".dev-{topology}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .args(["dev", "--topology", topology, "--dir", ".mandala"])
        .args(["--port", &port.to_string()])
        .args(["--worker-port", &worker_port.to_string()])
        .args(extra)
        .current_dir(dir)
        .env_remove("DISCORD_PUBLIC_KEY")
        .env_remove("DISCORD_APPLICATION_ID")
        .env_remove("DISCORD_API_BASE")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .map_err(|e| format!("starting mandala dev: {e}"))?;
    let mut guard = ChildGuard {
        child,
        name: format!("mandala dev --topology {topology}"),
        log,
    };
    let started = Instant::now();
    loop {
        if guard.output().contains("Mandala Bot is running") {
            return Ok(Dev {
                guard,
                port,
                worker_port,
            });
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Err(format!(
                "{} ended with {status}:\n{}",
                guard.name,
                guard.output()
            ));
        }
        if started.elapsed() > DEV_READY {
            return Err(format!(
                "{} not up after {DEV_READY:?}:\n{}",
                guard.name,
                guard.output()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Dev {
    /// Stops it as Ctrl-C would, then makes sure.
    fn stop(mut self) {
        let started = Instant::now();
        // The shell's own `kill`: a minimal image may lack /bin/kill.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -INT {}", self.guard.child.id()))
            .status();
        // Not a check of the shutdown (the worker's own tests are): a stack
        // with the documented load still queued may take longer.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.guard.child.try_wait() {
                eprintln!(
                    "docs-test: {} stopped ({status}) in {:.1?}",
                    self.guard.name,
                    started.elapsed()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "docs-test: {} still running 10 s after Ctrl-C; killed",
            self.guard.name
        );
        self.guard.kill();
    }
}

/// Runs `blocks` against a fresh `mandala dev` of `topology`; failures
/// are appended to `failures`.
fn against_dev(
    bin: &str,
    design: &str,
    topology: &str,
    extra: &[String],
    pubsub: Option<String>,
    blocks: &[&Block],
    failures: &mut Vec<String>,
) {
    let dir = scratch();
    let dev = match start_dev(bin, dir.path(), topology, extra) {
        Ok(dev) => dev,
        Err(why) => {
            failures.push(format!("{design}: {why}"));
            return;
        }
    };
    let subs = Subs {
        bin: bin.to_owned(),
        port: dev.port,
        worker_port: dev.worker_port,
        pubsub,
    };
    for block in blocks {
        match run_block(block, design, &subs, dir.path()) {
            Ok(took) => eprintln!("docs-test {} ({design}): ok in {took:.1?}", block.place),
            Err(e) => failures.push(e),
        }
    }
    // What the commands did to the stack counts too.
    let log = dev.guard.output();
    if log.contains("panicked") {
        failures.push(format!("{design}: mandala dev panicked:\n{log}"));
    }
    dev.stop();
}

#[test]
fn the_documented_commands_work_as_written() {
    let bin = env!("CARGO_BIN_EXE_e2e-mandala");
    let blocks = marked_blocks();
    let of = |kind: Kind| -> Vec<&Block> { blocks.iter().filter(|b| b.kind == kind).collect() };
    let (alone, designs, emulators) = (of(Kind::Alone), of(Kind::Designs), of(Kind::Emulators));
    // The markers are what puts a block under test: their disappearing
    // must not pass for success.
    assert!(
        !alone.is_empty() && !designs.is_empty() && !emulators.is_empty(),
        "marked blocks missing: {} alone, {} designs, {} emulators",
        alone.len(),
        designs.len(),
        emulators.len()
    );
    let mut failures = Vec::new();

    let dir = scratch();
    let subs = Subs {
        bin: bin.to_owned(),
        // Nothing listens there: an `alone` block that needs a stack fails.
        port: free_port(),
        worker_port: free_port(),
        pubsub: None,
    };
    for block in &alone {
        match run_block(block, "alone", &subs, dir.path()) {
            Ok(took) => eprintln!("docs-test {} (alone): ok in {took:.1?}", block.place),
            Err(e) => failures.push(e),
        }
    }

    for topology in ["single", "pubsub", "pubsub-split", "cloud-tasks"] {
        against_dev(bin, topology, topology, &[], None, &designs, &mut failures);
    }

    let emulated = suites::require(
        "docs: commands against the Pub/Sub and Firestore emulators",
        PubsubEmulator::start().and_then(|p| FirestoreEmulator::start().map(|f| (p, f))),
    );
    if let Some((pubsub, firestore)) = emulated {
        let extra = [
            "--pubsub-emulator".to_owned(),
            pubsub.host_port(),
            "--firestore-emulator".to_owned(),
            firestore.host_port(),
        ];
        let both: Vec<&Block> = designs.iter().chain(&emulators).copied().collect();
        against_dev(
            bin,
            "pubsub on the emulators",
            "pubsub",
            &extra,
            Some(pubsub.host_port()),
            &both,
            &mut failures,
        );
    }

    assert!(
        failures.is_empty(),
        "{} documented block run(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn markers_are_read_as_documented() {
    let text = "intro\n````\n<!-- docs-test: alone -->\n```sh\nan example\n```\n````\n<!-- docs-test: designs -->\n  ```sh\n  mandala interact --seed 1 \\\n    --palette ocean\n  ```\n\n```sh\nnot marked\n```\n";
    let blocks = blocks_in("X.md", text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].kind, Kind::Designs);
    assert_eq!(blocks[0].place, "X.md:9");
    assert_eq!(
        blocks[0].script,
        "mandala interact --seed 1 \\\n  --palette ocean\n"
    );
    let subs = Subs {
        bin: "/b/mandala".into(),
        port: 1,
        worker_port: 2,
        pubsub: Some("127.0.0.1:3".into()),
    };
    assert_eq!(
        subs.apply("mandala load --url http://127.0.0.1:8080/x\ncargo run --release -- publish --emulator-host 127.0.0.1:8085 -o mandala.webp\n"),
        "'/b/mandala' load --url http://127.0.0.1:1/x\n'/b/mandala' publish --emulator-host 127.0.0.1:3 -o mandala.webp\n"
    );
}
