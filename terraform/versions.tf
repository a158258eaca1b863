terraform {
  # check blocks need 1.5.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # State lives in a bucket you create once, before the first apply (README.md):
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=baton"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "baton"
    managed-by = "terraform"
  }
}
