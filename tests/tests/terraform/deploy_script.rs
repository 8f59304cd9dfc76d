//! `deploy/deploy.sh` run against recording stand-ins for `gcloud`,
//! `terraform` and `mandala`: the real ones need a Google Cloud project,
//! the google provider and Discord, none of which exist here. What is
//! checked is the script's own behaviour: it names what is missing, and
//! with everything present it chains the APIs Terraform needs → bootstrap
//! apply → Cloud Build → the release's digests into release.auto.tfvars →
//! apply → register-commands with the values Terraform reports, passing
//! the bot token through the environment only; a release already built is
//! deployed again (a rollback) without a build, by its digests.

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

/// Images exist in the registry once built (or with `IMAGES_EXIST` set),
/// each tag with its own digests.
const GCLOUD: &str = r#"#!/bin/sh
echo "gcloud $*" >> "$CALLS"
case "$*" in
  *print-access-token*) [ -n "$GCLOUD_LOGGED_IN" ] || exit 1 ;;
  "secrets versions access"*) [ -n "$STORED_TOKEN" ] && printf '%s' "$STORED_TOKEN" || exit 1 ;;
  "builds submit"*) touch "$CALLS.built" ;;
  "artifacts docker images describe"*)
    [ -n "$IMAGES_EXIST" ] || [ -f "$CALLS.built" ] || exit 1
    case "$*" in
      *mandala-ingress:old1*) printf 'sha256:%064d' 11 ;;
      *mandala-worker:old1*) printf 'sha256:%064d' 12 ;;
      *mandala-ingress:*) printf 'sha256:%064d' 21 ;;
      *mandala-worker:*) printf 'sha256:%064d' 22 ;;
    esac ;;
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
        for sys in [
            "dirname", "sed", "tail", "date", "sh", "cat", "cp", "mv", "touch",
        ] {
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

// ------------------------------------------------------------------ the tests

use crate::Copy;

#[test]
fn deploy_script_names_each_missing_prerequisite() {
    let copy = Copy::new();
    let root = copy.path("");

    let none = Tools::new(&[]);
    let o = none.run(&root, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("gcloud is not installed"),
        "{}",
        stderr(&o)
    );

    let no_tf = Tools::new(&["gcloud"]);
    let o = no_tf.run(&root, &[], &[]);
    assert!(
        stderr(&o).contains("terraform is not installed"),
        "{}",
        stderr(&o)
    );

    let tools = Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(&root, &["--skip-register"], &[]);
    assert!(
        stderr(&o).contains("gcloud is not logged in"),
        "{}",
        stderr(&o)
    );

    let o = tools.run(&root, &["--skip-register"], &[("GCLOUD_LOGGED_IN", "1")]);
    assert!(
        stderr(&o)
            .contains("copy terraform/terraform.tfvars.example to terraform/terraform.tfvars"),
        "{}",
        stderr(&o)
    );
    let o = tools.run(
        &root,
        &["--skip-register"],
        &[("GCLOUD_LOGGED_IN", "1"), ("TF_VAR_project_id", "p")],
    );
    assert!(
        stderr(&o).contains("discord_application_id is not set"),
        "{}",
        stderr(&o)
    );
    // Nothing was applied or built on the way.
    assert!(
        !tools.calls().iter().any(|c| c.starts_with("terraform")),
        "{:?}",
        tools.calls()
    );

    let o = tools.run(&root, &["--frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn deploy_script_chains_build_apply_and_register() {
    let copy = Copy::new();
    let root = copy.path("");
    write_tfvars(&root);
    let tools = Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(
        &root,
        &["--tag", "abc123", "--yes"],
        &[
            ("GCLOUD_LOGGED_IN", "1"),
            ("DISCORD_BOT_TOKEN", "bot-token-value"),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(
        out.contains(
            "Interactions Endpoint URL = https://mandala-ingress-1.us-central1.run.app/interactions"
        ),
        "{out}"
    );
    assert!(!out.contains("bot-token-value") && !stderr(&o).contains("bot-token-value"));

    let calls = tools.calls();
    let pos = |needle: &str| {
        calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("no call containing {needle:?} in {calls:#?}"))
    };
    let apis = pos(
        "gcloud services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com --project=my-mandala-project",
    );
    let init = pos(" init -input=false");
    let bootstrap = pos("-target=google_project_service.apis");
    let build = pos("gcloud builds submit");
    let digests = calls
        .iter()
        .rposition(|c| c.contains("artifacts docker images describe"))
        .unwrap();
    let apply = calls
        .iter()
        .rposition(|c| c.starts_with("terraform") && c.contains("apply") && !c.contains("-target"))
        .unwrap();
    let register = pos("mandala register-commands --application-id 123456789012345678");
    assert!(
        apis < init
            && init < bootstrap
            && bootstrap < build
            && build < digests
            && digests < apply
            && apply < register,
        "{calls:#?}"
    );
    // The bootstrap apply needs the release variables but applies no service.
    assert!(
        calls[bootstrap].contains("-var=image_tag=abc123")
            && calls[bootstrap].contains("-var=worker_image_digest=sha256:0000"),
        "{}",
        calls[bootstrap]
    );
    // The full apply takes the release from release.auto.tfvars, as a hand-run one would.
    assert!(!calls[apply].contains("-var"), "{}", calls[apply]);
    let release = std::fs::read_to_string(root.join("terraform/release.auto.tfvars")).unwrap();
    assert!(
        release.contains("image_tag            = \"abc123\""),
        "{release}"
    );
    assert!(
        release.contains(&format!("ingress_image_digest = \"sha256:{:064}\"", 21))
            && release.contains(&format!("worker_image_digest  = \"sha256:{:064}\"", 22)),
        "{release}"
    );

    let build_call = &calls[build];
    for part in [
        "--config=",
        "deploy/cloudbuild.yaml",
        "--substitutions=_REPOSITORY=us-central1-docker.pkg.dev/p/mandala,_TAG=abc123",
        "--service-account=projects/p/serviceAccounts/mandala-build@p.iam.gserviceaccount.com",
        "--gcs-source-staging-dir=gs://p-mandala-builds/source",
        "--project=my-mandala-project",
    ] {
        assert!(
            build_call.contains(part),
            "{part} missing from {build_call}"
        );
    }
    // The token reaches register-commands through its environment, not its arguments.
    assert!(
        calls[register].ends_with("token=bot-token-value"),
        "{}",
        calls[register]
    );
    assert!(!calls[register].contains("--token"));
}

#[test]
fn deploy_script_reads_the_stored_bot_token_or_says_how_to_provide_one() {
    let copy = Copy::new();
    let root = copy.path("");
    write_tfvars(&root);
    let tools = Tools::new(&["gcloud", "terraform", "mandala"]);

    let o = tools.run(
        &root,
        &["--skip-build", "--tag", "abc123", "--yes"],
        &[("GCLOUD_LOGGED_IN", "1"), ("IMAGES_EXIST", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("no bot token, so /mandala was not registered"),
        "{err}"
    );
    assert!(
        err.contains("gcloud secrets versions add mandala-discord-bot-token"),
        "{err}"
    );
    assert!(
        !tools
            .calls()
            .iter()
            .any(|c| c.contains("gcloud builds submit"))
    );

    let o = tools.run(
        &root,
        &["--skip-build", "--yes"],
        &[
            ("GCLOUD_LOGGED_IN", "1"),
            ("IMAGES_EXIST", "1"),
            ("STORED_TOKEN", "stored-token"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        tools.calls().iter().any(
            |c| c.starts_with("mandala register-commands") && c.ends_with("token=stored-token")
        ),
        "{:?}",
        tools.calls()
    );
}

#[test]
fn deploy_script_rolls_back_to_a_release_by_its_digests_without_building() {
    let copy = Copy::new();
    let root = copy.path("");
    write_tfvars(&root);
    let release = root.join("terraform/release.auto.tfvars");
    std::fs::write(
        &release,
        "image_tag            = \"new2\"\ningress_image_digest = \"sha256:aa\"\nworker_image_digest  = \"sha256:bb\"\n",
    )
    .unwrap();
    let tools = Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(
        &root,
        &["--skip-build", "--skip-register", "--tag", "old1", "--yes"],
        &[("GCLOUD_LOGGED_IN", "1"), ("IMAGES_EXIST", "1")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let calls = tools.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("builds submit") || c.contains("-target")),
        "{calls:#?}"
    );
    let text = std::fs::read_to_string(&release).unwrap();
    assert!(text.contains("image_tag            = \"old1\""), "{text}");
    assert!(
        text.contains(&format!("worker_image_digest  = \"sha256:{:064}\"", 12)),
        "{text}"
    );
    // The release it replaced is kept beside it.
    let previous =
        std::fs::read_to_string(root.join("terraform/release.auto.tfvars.previous")).unwrap();
    assert!(previous.contains("\"new2\""), "{previous}");
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("terraform") && c.contains("apply") && !c.contains("-target")),
        "{calls:#?}"
    );
}

#[test]
fn deploy_script_refuses_latest_and_a_release_that_was_never_built() {
    let copy = Copy::new();
    let root = copy.path("");
    write_tfvars(&root);
    let tools = Tools::new(&["gcloud", "terraform", "mandala"]);
    let o = tools.run(
        &root,
        &["--skip-register", "--tag", "latest"],
        &[("GCLOUD_LOGGED_IN", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--tag latest"), "{}", stderr(&o));

    let o = tools.run(
        &root,
        &["--skip-build", "--skip-register", "--tag", "nope", "--yes"],
        &[("GCLOUD_LOGGED_IN", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no images tagged nope")
            && stderr(&o).contains("gcloud artifacts docker tags list"),
        "{}",
        stderr(&o)
    );
    // Nothing was deployed, and no release recorded.
    assert!(!root.join("terraform/release.auto.tfvars").exists());
    assert!(
        !tools
            .calls()
            .iter()
            .any(|c| c.starts_with("terraform") && c.contains("apply")),
        "{:?}",
        tools.calls()
    );
}
