#!/usr/bin/env bash
# Deploys Mandala Bot to Google Cloud, end to end:
#
#   1. terraform apply of what the build needs (APIs, the Artifact Registry
#      repository, the build service account and its staging bucket);
#   2. Cloud Build builds both images (deploy/cloudbuild.yaml) tagged with
#      the git commit;
#   3. terraform apply of everything, running that tag;
#   4. `mandala register-commands` registers /mandala with Discord.
#
# Usage: deploy/deploy.sh [--skip-build] [--skip-register] [--tag TAG] [--yes]
#
#   --skip-build     deploy images already pushed under TAG (default: latest)
#   --skip-register  do not touch Discord's command registration
#   --tag TAG        image tag (default: `git describe --always --dirty`)
#   --yes            pass -auto-approve to terraform apply
#
# Inputs: terraform/terraform.tfvars (copy terraform/terraform.tfvars.example)
# or TF_VAR_* environment variables; DISCORD_BOT_TOKEN, or the token stored
# in Secret Manager through the discord_bot_token variable, for step 4.
# Needs: gcloud (authenticated), terraform >= 1.11, and cargo for step 4.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tf_dir="$root/terraform"

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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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

tfvars_value() { # NAME: a string value from terraform.tfvars, or empty
  [ -f "$tf_dir/terraform.tfvars" ] || return 0
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$tf_dir/terraform.tfvars" | tail -n 1
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

if [ -z "$tag" ]; then
  if [ "$skip_build" = true ]; then
    tag=latest
  else
    tag=$(git -C "$root" describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)
  fi
fi
export TF_VAR_image_tag=$tag
export TF_IN_AUTOMATION=1

tf() { terraform -chdir="$tf_dir" "$@"; }

say "terraform init ($tf_dir)"
tf init -input=false

# ---------------------------------------------------------------- 1. what the build needs

if [ "$skip_build" = false ]; then
  say "terraform apply: APIs, image repository, build service account (project $project)"
  tf apply -input=false "${approve[@]}" \
    -target=google_project_service.apis \
    -target=google_artifact_registry_repository_iam_member.build_pushes_images \
    -target=google_project_iam_member.build_writes_logs \
    -target=google_storage_bucket_iam_member.build_reads_sources

  repository=$(tf output -raw image_repository 2>/dev/null) \
    || die "terraform output image_repository is missing after the first apply"
  build_sa=$(tf output -raw build_service_account)
  sources=$(tf output -raw build_sources_bucket)

  # ---------------------------------------------------------------- 2. build
  say "Cloud Build: $repository/{mandala-ingress,mandala-worker}:$tag"
  gcloud builds submit "$root" \
    --project="$project" \
    --config="$root/deploy/cloudbuild.yaml" \
    --substitutions="_REPOSITORY=$repository,_TAG=$tag" \
    --service-account="$build_sa" \
    --gcs-source-staging-dir="gs://$sources/source"
fi

# ---------------------------------------------------------------- 3. everything

say "terraform apply: services, queue, bucket, secrets (image tag $tag)"
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

Deployed. Remaining step, once:
  Discord Developer Portal > your application > General Information >
  Interactions Endpoint URL = $endpoint
  (Discord checks it with a signed PING when you save.)

Queue a job by hand:
  $(tf output -raw manual_job_command)
EOF
