#!/usr/bin/env bash
# Deploys Mandala Bot to Google Cloud, end to end:
#
#   0. gcloud enables the two APIs Terraform needs before it can plan
#      (Cloud Resource Manager, Service Usage);
#   1. terraform apply of what the build needs (APIs, the Artifact Registry
#      repository, the build service account and its staging bucket);
#   2. Cloud Build builds both images (deploy/cloudbuild.yaml) under one
#      new, immutable tag: the release;
#   3. the release's image digests, read back from Artifact Registry, are
#      written to terraform/release.auto.tfvars, and terraform apply rolls
#      every service onto exactly those images (the worker before the
#      ingress);
#   4. `mandala register-commands` registers /mandala with Discord.
#
# Usage: deploy/deploy.sh [--skip-build] [--skip-register] [--tag TAG] [--yes]
#
#   --skip-build     deploy the images already built under TAG (default: the
#                    release in terraform/release.auto.tfvars)
#   --skip-register  do not touch Discord's command registration
#   --tag TAG        the release's tag (default: the git commit, 12 hex
#                    digits, plus -dirty-TIME when the tree has changes)
#   --yes            pass -auto-approve to terraform apply
#
# Roll back to an earlier release (docs/DEPLOY.md, Upgrading and rolling back):
#   deploy/deploy.sh --skip-build --skip-register --tag PREVIOUS_TAG
#
# Inputs: terraform/terraform.tfvars (copy terraform/terraform.tfvars.example)
# or TF_VAR_* environment variables; DISCORD_BOT_TOKEN, or the token stored
# in Secret Manager through the discord_bot_token variable, for step 4.
# Needs: gcloud (authenticated), terraform >= 1.11, and cargo for step 4.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tf_dir="$root/terraform"
release_file="$tf_dir/release.auto.tfvars"
# A digest for step 1 only, which applies no service: the release
# variables have no defaults, and nothing is built yet.
no_image="sha256:0000000000000000000000000000000000000000000000000000000000000000"

skip_build=false
skip_register=false
tag=""
approve=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=true ;;
    --skip-register) skip_register=true ;;
    --tag) shift; tag=${1:?--tag needs a value} ;;
    --yes) approve=(-auto-approve) ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"
}
need gcloud "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)"
need terraform "install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"
if [ "$skip_register" = false ] && ! command -v mandala >/dev/null 2>&1; then
  need cargo "install Rust (https://rustup.rs) or put \`mandala\` on PATH to run register-commands, or pass --skip-register"
fi

gcloud auth print-access-token >/dev/null 2>&1 \
  || die "gcloud is not logged in: run \`gcloud auth login\` and \`gcloud auth application-default login\`"
gcloud auth application-default print-access-token >/dev/null 2>&1 \
  || die "Terraform needs Application Default Credentials: run \`gcloud auth application-default login\`"

file_value() { # FILE NAME: a string value from a tfvars file, or empty
  [ -f "$1" ] || return 0
  sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$1" | tail -n 1
}
tfvars_value() { # NAME: a string value from terraform.tfvars, or empty
  file_value "$tf_dir/terraform.tfvars" "$1"
}

project=${TF_VAR_project_id:-$(tfvars_value project_id)}
if [ -z "$project" ]; then
  die "no project: copy terraform/terraform.tfvars.example to terraform/terraform.tfvars and fill it in (or export TF_VAR_project_id and the other required TF_VAR_*)"
fi
for v in discord_application_id discord_public_key; do
  upper=TF_VAR_$v
  if [ -z "${!upper:-}" ] && [ -z "$(tfvars_value "$v")" ]; then
    die "$v is not set: put it in terraform/terraform.tfvars or export $upper (Discord Developer Portal, General Information)"
  fi
done

# The release. Tags are immutable in Artifact Registry: a tag names one
# build, so a build of changed sources gets a tag of its own.
if [ -z "$tag" ]; then
  if [ "$skip_build" = true ]; then
    tag=$(file_value "$release_file" image_tag)
    [ -n "$tag" ] || die "--skip-build needs --tag TAG: there is no release in $release_file yet"
  elif commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null); then
    tag=$commit
    if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
      tag="$commit-dirty-$(date -u +%Y%m%d%H%M%S)"
    fi
  else
    tag="build-$(date -u +%Y%m%d%H%M%S)"
  fi
fi
if [ "$tag" = latest ]; then
  die "--tag latest: a release needs a tag that names one build"
fi
export TF_IN_AUTOMATION=1

tf() { terraform -chdir="$tf_dir" "$@"; }

digest() { # IMAGE: its digest in Artifact Registry, or nothing
  gcloud artifacts docker images describe "$1" --project="$project" \
    --format='value(image_summary.digest)' 2>/dev/null || true
}

# ---------------------------------------------------------------- 0. what Terraform itself needs

# Terraform reads the project (and its IAM) through Cloud Resource Manager
# while it plans, before it could enable anything itself.
say "gcloud services enable: Cloud Resource Manager, Service Usage (project $project)"
gcloud services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com \
  --project="$project"

say "terraform init ($tf_dir)"
tf init -input=false

# ---------------------------------------------------------------- 1. what the build needs

if [ "$skip_build" = false ]; then
  say "terraform apply: APIs, image repository, build service account (project $project)"
  tf apply -input=false "${approve[@]}" \
    -var="image_tag=$tag" -var="ingress_image_digest=$no_image" -var="worker_image_digest=$no_image" \
    -target=google_project_service.apis \
    -target=google_artifact_registry_repository_iam_member.build_pushes_images \
    -target=google_project_iam_member.build_writes_logs \
    -target=google_storage_bucket_iam_member.build_reads_sources

  repository=$(tf output -raw image_repository 2>/dev/null) \
    || die "terraform output image_repository is missing after the first apply"
  build_sa=$(tf output -raw build_service_account)
  sources=$(tf output -raw build_sources_bucket)

  # ---------------------------------------------------------------- 2. build
  if [ -n "$(digest "$repository/mandala-ingress:$tag")" ] && [ -n "$(digest "$repository/mandala-worker:$tag")" ]; then
    say "Cloud Build: not needed, $repository/{mandala-ingress,mandala-worker}:$tag exist (tags are immutable)"
  else
    say "Cloud Build: $repository/{mandala-ingress,mandala-worker}:$tag"
    gcloud builds submit "$root" \
      --project="$project" \
      --config="$root/deploy/cloudbuild.yaml" \
      --substitutions="_REPOSITORY=$repository,_TAG=$tag" \
      --service-account="$build_sa" \
      --gcs-source-staging-dir="gs://$sources/source"
  fi
else
  repository=$(tf output -raw image_repository 2>/dev/null) \
    || die "--skip-build: terraform output image_repository is missing (deploy once without --skip-build)"
fi

# ---------------------------------------------------------------- 3. the release, by digest

ingress_digest=$(digest "$repository/mandala-ingress:$tag")
worker_digest=$(digest "$repository/mandala-worker:$tag")
if [ -z "$ingress_digest" ] || [ -z "$worker_digest" ]; then
  die "no images tagged $tag in $repository (the releases there: gcloud artifacts docker tags list $repository/mandala-worker --project=$project)"
fi

# Every later terraform command in terraform/, by this script or by hand,
# deploys this release (Terraform reads *.auto.tfvars by itself); the one
# before is kept beside it.
if [ -f "$release_file" ]; then
  cp "$release_file" "$release_file.previous"
fi
{
  echo "# Written by deploy/deploy.sh: the release every service runs."
  echo "image_tag            = \"$tag\""
  echo "ingress_image_digest = \"$ingress_digest\""
  echo "worker_image_digest  = \"$worker_digest\""
} > "$release_file.tmp"
mv "$release_file.tmp" "$release_file"

say "terraform apply: services, queue, bucket, secrets, monitoring (release $tag)"
tf apply -input=false "${approve[@]}"

endpoint=$(tf output -raw interactions_endpoint_url)
application_id=$(tf output -raw discord_application_id)

# ---------------------------------------------------------------- 4. Discord

if [ "$skip_register" = false ]; then
  token=${DISCORD_BOT_TOKEN:-}
  if [ -z "$token" ]; then
    secret=$(tf output -raw bot_token_secret)
    token=$(gcloud secrets versions access latest --secret="$secret" --project="$project" 2>/dev/null || true)
  fi
  if [ -z "$token" ]; then
    cat >&2 <<EOF

deploy.sh: no bot token, so /mandala was not registered. Either
  export DISCORD_BOT_TOKEN=...   (Developer Portal, Bot, Reset Token) and rerun with --skip-build, or
  set discord_bot_token in terraform.tfvars, or
  printf %s "\$TOKEN" | gcloud secrets versions add $(tf output -raw bot_token_secret) --data-file=- --project=$project
EOF
    exit 1
  fi
  say "mandala register-commands --application-id $application_id"
  if command -v mandala >/dev/null 2>&1; then
    DISCORD_BOT_TOKEN=$token mandala register-commands --application-id "$application_id"
  else
    (cd "$root" && DISCORD_BOT_TOKEN=$token cargo run --release --quiet -p mandala-cli -- \
      register-commands --application-id "$application_id")
  fi
fi

cat <<EOF

Deployed release $tag. Remaining step, once:
  Discord Developer Portal > your application > General Information >
  Interactions Endpoint URL = $endpoint
  (Discord checks it with a signed PING when you save.)

Queue a job by hand:
  $(tf output -raw manual_job_command)

Alerts: $(tf output -raw alert_notifications)
EOF
