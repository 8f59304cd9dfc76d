//! The development key pair: when no real application is configured,
//! `mandala dev` signs interactions itself with a key kept under `.mandala/`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ed25519_dalek::SigningKey;

/// Where the development key's 32-byte seed is kept, as 64 hex digits.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("dev-key.hex")
}

/// Parses a 32-byte Ed25519 seed given as 64 hex digits.
pub fn parse_seed(hex_seed: &str) -> Result<SigningKey, String> {
    let bytes = hex::decode(hex_seed.trim()).map_err(|e| format!("not hex: {e}"))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes (64 hex digits), got {}", b.len()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Loads the development key, creating it (from OS randomness) on first use.
pub fn load_or_create(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = key_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_seed(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_private(&path, &hex::encode(seed))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Loads an existing development key (for `interact` and `load`).
pub fn load(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = key_path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no development key at {} (start `mandala dev` once, or pass --key-seed)",
            path.display()
        )
    })?;
    parse_seed(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(load(dir.path()).unwrap().to_bytes(), a.to_bytes());
    }

    #[test]
    fn bad_seeds_say_why() {
        assert!(parse_seed("zz").unwrap_err().contains("not hex"));
        assert!(parse_seed("abcd").unwrap_err().contains("32 bytes"));
    }
}
