//! The bot under test, as its real binaries: each in its own process,
//! configured only through its environment, logging to a file, killed
//! when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

/// A running service binary.
pub struct Service {
    child: Child,
    pub name: &'static str,
    pub log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Service {
    /// Starts `program` on a free port with `env`, and waits for `/healthz`.
    pub async fn start(
        name: &'static str,
        program: &Path,
        env: &[(&str, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Service> {
        let port = free_port()?;
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).with_context(|| log.display().to_string())?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {} ({})", name, program.display()))?;
        let mut service = Service {
            child,
            name,
            log,
            url: format!("http://127.0.0.1:{port}"),
        };
        service.wait_healthy(Duration::from_secs(30)).await?;
        Ok(service)
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + timeout;
        let url = format!("{}/healthz", self.url);
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                anyhow::bail!(
                    "{} exited with {status}:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("{} did not answer {url} within {timeout:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
