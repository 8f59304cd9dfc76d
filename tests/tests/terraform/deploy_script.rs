//! `deploy/deploy.sh` run against recording stand-ins for `gcloud`,
//! `terraform` and `mandala`: the real ones need a Google Cloud project,
//! the google provider and Discord, none of which exist here. What is
//! checked is the script's own behaviour: it names what is missing, and
//! with everything present it chains bootstrap apply → Cloud Build → apply
//! → register-commands with the values Terraform reports, passing the bot
//! token through the environment only.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory of stand-in tools that append each call to `calls.log`.
pub struct Tools {
    pub dir: tempfile::TempDir,
}

const TERRAFORM: &str = r#"#!/bin/sh
echo "terraform $*" >> "$CALLS"
case "$*" in
  *"output -raw image_repository"*) printf 'us-central1-docker.pkg.dev/p/mandala' ;;
  *"output -raw build_service_account"*) printf 'projects/p/serviceAccounts/mandala-build@p.iam.gserviceaccount.com' ;;
  *"output -raw build_sources_bucket"*) printf 'p-mandala-builds' ;;
  *"output -raw interactions_endpoint_url"*) printf 'https://mandala-ingress-1.us-central1.run.app/interactions' ;;
  *"output -raw discord_application_id"*) printf '123456789012345678' ;;
  *"output -raw bot_token_secret"*) printf 'mandala-discord-bot-token' ;;
  *"output -raw manual_job_command"*) printf 'gcloud pubsub topics publish mandala-jobs' ;;
esac
"#;

const GCLOUD: &str = r#"#!/bin/sh
echo "gcloud $*" >> "$CALLS"
case "$*" in
  *print-access-token*) [ -n "$GCLOUD_LOGGED_IN" ] || exit 1 ;;
  "secrets versions access"*) [ -n "$STORED_TOKEN" ] && printf '%s' "$STORED_TOKEN" || exit 1 ;;
esac
"#;

const MANDALA: &str = r#"#!/bin/sh
echo "mandala $* token=${DISCORD_BOT_TOKEN:-unset}" >> "$CALLS"
"#;

impl Tools {
    /// Stand-ins for `names` (any of gcloud, terraform, mandala), plus the
    /// few system tools the script needs, and nothing else on PATH.
    pub fn new(names: &[&str]) -> Tools {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("gcloud", GCLOUD),
            ("terraform", TERRAFORM),
            ("mandala", MANDALA),
        ] {
            if names.contains(&name) {
                let p = dir.path().join(name);
                std::fs::write(&p, body).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        for sys in ["dirname", "sed", "tail", "date", "sh", "cat"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(sys))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{sys} not found"));
            std::os::unix::fs::symlink(real, dir.path().join(sys)).unwrap();
        }
        Tools { dir }
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs `root/deploy/deploy.sh args` with only these tools on PATH.
    pub fn run(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("/bin/bash");
        cmd.arg(root.join("deploy/deploy.sh"))
            .args(args)
            .env_clear()
            .env("PATH", self.dir.path())
            .env("HOME", self.dir.path())
            .env("CALLS", self.dir.path().join("calls.log"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a terraform.tfvars with the required values into `root`.
pub fn write_tfvars(root: &Path) -> PathBuf {
    let p = root.join("terraform/terraform.tfvars");
    std::fs::write(
        &p,
        "project_id             = \"my-mandala-project\"\n\
         discord_application_id = \"123456789012345678\"\n\
         discord_public_key     = \"00000000000000000000000000000000000000000000000000000000000000ff\"\n",
    )
    .unwrap();
    p
}
