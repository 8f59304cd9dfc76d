# Terraform and provider versions, and the provider's defaults.
#
# Only hashicorp/google is needed: every resource used here is GA.

terraform {
  # 1.9 lets a variable's validation refer to other variables; 1.11 brings
  # write-only arguments, which keep the secrets out of the state
  # (secrets.tf).
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.40"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# The billing budget (monitoring.tf) only: the Billing Budgets API needs a
# quota project when Terraform runs with user credentials (gcloud auth
# application-default login), so its calls are billed to this project.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}

# State: local by default (terraform.tfstate, git-ignored). For a team, or
# to keep it safe, put it in a versioned Cloud Storage bucket: copy
# backend.tf.example to backend.tf (docs/DEPLOY.md, "Terraform state").

# The project number names the Pub/Sub service agent and is part of every
# Cloud Run service's deterministic URL.
data "google_project" "this" {
  project_id = var.project_id
}
