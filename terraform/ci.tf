# Baton's own pipeline on Cloud Build (cloudbuild.yaml), in two builds with a human between them:
#
#   baton-plan   on every push to ci_branch: install, lint, typecheck, test, bundle the functions,
#                terraform plan -out, save the plan and the bundles under
#                gs://<tf_state_bucket>/baton/plans/<commit>/, then queue baton-apply for that commit.
#   baton-apply  approval_config.approval_required: the build waits, PENDING, until someone with
#                roles/cloudbuild.builds.approver (ci_approvers) reads the plan in baton-plan's log and
#                approves it (console, or `gcloud builds approve BUILD_ID`). It then applies exactly
#                the saved plan; Terraform refuses a plan made against state that has changed since.
#
# Both run cloudbuild.yaml; the _PHASE substitution selects the steps. Approval gates a whole
# build before it starts (Cloud Build has no pause inside a build), hence two builds.

locals {
  ci_enabled = var.ci_repository != ""

  ci_substitutions = {
    _REGION          = var.region
    _TF_STATE_BUCKET = var.tf_state_bucket
    _APPLY_TRIGGER   = "baton-apply"
  }
}

resource "google_service_account" "ci" {
  count = local.ci_enabled ? 1 : 0

  account_id   = "baton-ci"
  display_name = "Baton CI/CD"
  description  = "Runs cloudbuild.yaml: tests, terraform plan and, once approved, terraform apply."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "ci" {
  for_each = toset(local.ci_enabled ? var.ci_roles : [])

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.ci[0].email}"
}

# The apply phase deploys the dashboard to Firebase Hosting (cloudbuild.yaml step dashboard:
# firebase deploy --only hosting) as this service account: Firebase Hosting Admin for the site and
# its releases, and API Keys Viewer, which the Firebase CLI needs to read the project's web config.
resource "google_project_iam_member" "ci_hosting" {
  for_each = toset(local.ci_enabled ? ["roles/firebasehosting.admin", "roles/serviceusage.apiKeysViewer"] : [])

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.ci[0].email}"
}

resource "google_project_iam_member" "ci_approvers" {
  for_each = toset(local.ci_enabled ? var.ci_approvers : [])

  project = var.project_id
  role    = "roles/cloudbuild.builds.approver"
  member  = each.key
}

resource "google_cloudbuild_trigger" "plan" {
  count = local.ci_enabled ? 1 : 0

  name            = "baton-plan"
  description     = "Test Baton and plan its infrastructure; queues baton-apply for approval."
  location        = var.region
  service_account = google_service_account.ci[0].id
  filename        = "cloudbuild.yaml"

  repository_event_config {
    repository = var.ci_repository

    push {
      branch = "^${replace(var.ci_branch, ".", "\\.")}$"
    }
  }

  substitutions = merge(local.ci_substitutions, { _PHASE = "plan" })

  depends_on = [google_project_iam_member.ci]
}

resource "google_cloudbuild_trigger" "apply" {
  count = local.ci_enabled ? 1 : 0

  name            = "baton-apply"
  description     = "Apply the plan saved by baton-plan for this commit, after a manual approval."
  location        = var.region
  service_account = google_service_account.ci[0].id

  # Run by baton-plan (`gcloud builds triggers run baton-apply --sha=<commit>`), or by hand.
  source_to_build {
    repository = var.ci_repository
    ref        = "refs/heads/${var.ci_branch}"
    repo_type  = "GITHUB"
  }

  git_file_source {
    path       = "cloudbuild.yaml"
    repository = var.ci_repository
    revision   = "refs/heads/${var.ci_branch}"
    repo_type  = "GITHUB"
  }

  approval_config {
    approval_required = true
  }

  substitutions = merge(local.ci_substitutions, { _PHASE = "apply" })

  depends_on = [google_project_iam_member.ci]
}

check "ci_has_a_state_bucket" {
  assert {
    condition     = !local.ci_enabled || var.tf_state_bucket != ""
    error_message = "ci_repository is set but tf_state_bucket is empty: CI keeps its saved plans in the state bucket."
  }
}
