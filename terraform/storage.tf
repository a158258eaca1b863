# The Baton bucket (BATON_BUCKET): full deployment logs, prepared sources, uploaded archives.
resource "google_storage_bucket" "baton" {
  name                        = "${var.bucket_name_prefix}-${var.project_id}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # deployment_logs/{agent_id}/{deployment_id}.log: kept log_retention_days after its last write
  # (an append rewrites the object, so age counts from the last line).
  lifecycle_rule {
    condition {
      age            = var.log_retention_days
      matches_prefix = ["deployment_logs/"]
    }
    action {
      type = "Delete"
    }
  }

  # sources/{agent_id}/{deployment_id}.tar.gz and uploads/{id}.*: only a build reads them.
  lifecycle_rule {
    condition {
      age            = var.source_retention_days
      matches_prefix = ["sources/", "uploads/"]
    }
    action {
      type = "Delete"
    }
  }

  # A log append that died half-way leaves no multipart upload behind for long.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Build's logs of deployed services' builds (BATON_BUILD_LOGS_BUCKET): log-<build id>.txt,
# streamed by Cloud Build while a build runs and read back into the deployment's log by offset
# (shared/adapters/gcp/build-logs.ts). A bucket of its own: the build account administers it, as
# Cloud Build requires of a user-owned logs bucket, and gets nothing of the Baton bucket's.
resource "google_storage_bucket" "build_logs" {
  name                        = "${var.bucket_name_prefix}-build-logs-${var.project_id}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = var.log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Function source zips, named by their hash (functions.tf); Terraform replaces them as code changes.
resource "google_storage_bucket" "function_sources" {
  name                        = "${var.bucket_name_prefix}-fn-src-${var.project_id}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  depends_on = [google_project_service.enabled]
}
