# Every Google API Baton calls, or that Terraform needs to create what Baton runs on.
# disable_on_destroy is false (the 7.x default, spelled out): destroying Baton must not switch off an
# API that other workloads in the project use.

locals {
  apis = [
    "artifactregistry.googleapis.com",     # images built for deployed services; function images
    "cloudbuild.googleapis.com",           # builds of deployed services, function builds, Baton's own CI
    "cloudfunctions.googleapis.com",       # the pipeline's functions
    "cloudresourcemanager.googleapis.com", # project number and project IAM (Terraform)
    "cloudscheduler.googleapis.com",       # the watchdog
    "cloudtasks.googleapis.com",           # readiness polls and canary steps
    "firebasehosting.googleapis.com",      # the dashboard (firebase.json hosting, cloudbuild.yaml's dashboard step)
    "firebaserules.googleapis.com",        # firestore.rules for clients (terraform/firestore.tf)
    "firestore.googleapis.com",            # job documents
    "iam.googleapis.com",                  # service accounts
    "logging.googleapis.com",              # builds run with CLOUD_LOGGING_ONLY
    "monitoring.googleapis.com",           # Cloud Run's request metrics, read by the canary analysis
    "pubsub.googleapis.com",               # stage hand-offs, build notifications, dead letters
    "run.googleapis.com",                  # deployed services (Cloud Run Admin v2) and the functions' services
    "secretmanager.googleapis.com",        # secrets of deployed services are Secret Manager references
    "storage.googleapis.com",              # logs, sources, function source zips
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}
