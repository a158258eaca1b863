# The docker repository builds push to (BATON_ARTIFACT_REPO):
# {region}-docker.pkg.dev/{project}/{repository}/{service}:{deployment id}, deployed by digest.
# Cleanup keeps the newest artifact_keep_count images of each service whatever their age (KEEP wins
# over DELETE), and deletes the rest once older than artifact_delete_after_days. Rollback targets are
# among the newest: the service record keeps its last 20 good revisions.

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = var.artifact_repository
  format        = "DOCKER"
  description   = "Images of the services Baton deploys"

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"

    most_recent_versions {
      keep_count = var.artifact_keep_count
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"

    condition {
      tag_state  = "ANY"
      older_than = "${var.artifact_delete_after_days * 86400}s"
    }
  }

  depends_on = [google_project_service.enabled]
}
