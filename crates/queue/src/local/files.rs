//! The local delivery's files: the spool that carries unacknowledged jobs
//! across a restart, and the dead-letter file.

use std::io::Write as _;
use std::path::Path;

use mandala_model::PushEnvelope;
use serde::Serialize;

use super::{LocalPushError, Pending, now_rfc3339};
use crate::Payload;

/// A dead-lettered message: the last envelope sent and why it failed.
#[derive(Serialize)]
struct DeadLetter<'a> {
    #[serde(flatten)]
    envelope: &'a PushEnvelope,
    #[serde(rename = "lastError")]
    last_error: &'a str,
    #[serde(rename = "deadLetteredAt")]
    dead_lettered_at: String,
}

fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

pub fn dead_letter(path: &Path, envelope: &PushEnvelope, error: &str) -> std::io::Result<()> {
    ensure_parent(path)?;
    let line = serde_json::to_string(&DeadLetter {
        envelope,
        last_error: error,
        dead_lettered_at: now_rfc3339(),
    })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

pub fn write_spool<T: Payload>(path: &Path, messages: &[Pending<T>]) -> std::io::Result<()> {
    ensure_parent(path)?;
    // Write aside and rename, so a crash mid-write leaves no torn spool.
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for m in messages {
            serde_json::to_writer(&mut f, m)?;
            writeln!(f)?;
        }
        f.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads and removes the spool. A line that does not parse is kept aside
/// (`.bad` file) rather than silently dropped.
pub fn load_spool<T: Payload>(path: &Path) -> Result<Vec<Pending<T>>, LocalPushError> {
    let spool_err = |error: String| LocalPushError::Spool {
        path: path.to_owned(),
        error,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(spool_err(e.to_string())),
    };
    let mut good = Vec::new();
    let mut bad = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Pending<T>>(line) {
            Ok(p) => good.push(p),
            Err(e) => {
                tracing::error!(error = %e, spool = %path.display(), "unreadable spool line kept in the .bad file");
                bad.push_str(line);
                bad.push('\n');
            }
        }
    }
    if !bad.is_empty() {
        let bad_path = path.with_extension("jsonl.bad");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&bad_path)
            .map_err(|e| spool_err(e.to_string()))?;
        f.write_all(bad.as_bytes())
            .map_err(|e| spool_err(e.to_string()))?;
    }
    std::fs::remove_file(path).map_err(|e| spool_err(e.to_string()))?;
    good.sort_by_key(|p| p.seq);
    Ok(good)
}
