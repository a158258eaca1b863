# The (default) Firestore database in native mode: job documents (deployment_jobs/{id}), their
# private data (deployment_private/{id}: env values, git credentials) and service records
# (services/{agent}). The functions use the server SDK with their own service accounts, which
# security rules do not apply to; firestore.rules (released below) governs clients on Firebase Auth.

resource "google_firestore_database" "default" {
  name                              = "(default)"
  location_id                       = var.firestore_location == "" ? var.region : var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Composite indexes of the job store's queries (FIRESTORE_INDEXES in shared/adapters/gcp/job-store.ts).
# GET /deployments filters on any of agent_id, status and kind, newest first: one index per filter,
# and Firestore merges them for any combination of equality filters. A trailing __name__ in the
# direction of the last field is implicit. The same indexes are
# in firestore.indexes.json (firebase deploy); the test checks that the two agree. They are created
# one after another: Firestore answers concurrent index creations with 409 contention.

resource "google_firestore_index" "jobs_by_agent" {
  database    = google_firestore_database.default.name
  collection  = "deployment_jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "agent_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "jobs_by_status" {
  database    = google_firestore_database.default.name
  collection  = "deployment_jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_agent]
}

resource "google_firestore_index" "jobs_by_kind" {
  database    = google_firestore_database.default.name
  collection  = "deployment_jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_status]
}

# countActive: a deployment's running siblings (agent_id ==, kind ==, status in [...]).
resource "google_firestore_index" "jobs_by_agent_kind_status" {
  database    = google_firestore_database.default.name
  collection  = "deployment_jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "agent_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_kind]
}

# The dashboard on Google Cloud lists a signed-in user's jobs with the Firebase client SDK
# (dashboard/src/firestore-live.ts): where owner == email (firestore.rules require it), optionally
# agent_id or status ==, newest first. Merged with the indexes above for the extra equality filters.
resource "google_firestore_index" "jobs_by_owner" {
  database    = google_firestore_database.default.name
  collection  = "deployment_jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_agent_kind_status]
}

# Deployed designs (DESIGN_FIRESTORE_INDEXES in shared/adapters/gcp/design-store.ts): an endpoint's
# execution logs newest first, filtered by status and/or trigger_type (a date range is on started_at,
# the order field); endpoints by status; running executions by lease (the sweep). Created one after another, like the job indexes.

resource "google_firestore_index" "logs_by_endpoint" {
  database    = google_firestore_database.default.name
  collection  = "execution_logs"
  query_scope = "COLLECTION"

  fields {
    field_path = "deployment_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "started_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_owner]
}

resource "google_firestore_index" "logs_by_endpoint_status" {
  database    = google_firestore_database.default.name
  collection  = "execution_logs"
  query_scope = "COLLECTION"

  fields {
    field_path = "deployment_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "started_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.logs_by_endpoint]
}

resource "google_firestore_index" "logs_by_endpoint_trigger" {
  database    = google_firestore_database.default.name
  collection  = "execution_logs"
  query_scope = "COLLECTION"

  fields {
    field_path = "deployment_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "trigger_type"
    order      = "ASCENDING"
  }

  fields {
    field_path = "started_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.logs_by_endpoint_status]
}

resource "google_firestore_index" "logs_by_endpoint_status_trigger" {
  database    = google_firestore_database.default.name
  collection  = "execution_logs"
  query_scope = "COLLECTION"

  fields {
    field_path = "deployment_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "trigger_type"
    order      = "ASCENDING"
  }

  fields {
    field_path = "started_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.logs_by_endpoint_trigger]
}

resource "google_firestore_index" "endpoints_by_status" {
  database    = google_firestore_database.default.name
  collection  = "design_endpoints"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_index.logs_by_endpoint_status_trigger]
}

# The designs sweep (listLapsedRuns): running executions whose lease has lapsed, soonest first.
resource "google_firestore_index" "logs_lapsed_runs" {
  database    = google_firestore_database.default.name
  collection  = "execution_logs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "lease_until"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.endpoints_by_status]
}

# Rate-limit windows (rate_limits/{key}_{window}) are removed by Firestore's TTL once expired.
resource "google_firestore_field" "rate_limits_ttl" {
  database   = google_firestore_database.default.name
  collection = "rate_limits"
  field      = "expires_at"

  ttl_config {}

  index_config {}
}

# firestore.rules, for clients on the Firebase client SDK (the CLI with BATON_WATCH=firestore, a
# dashboard): owners read their own jobs, nobody reads deployment_private or writes anything. A
# ruleset is immutable: a changed file makes a new one, created before the old one goes, because
# a ruleset a release still names cannot be deleted. The release `cloud.firestore` serves the
# (default) database. On a project where Firebase already released rules, import it first:
# terraform import google_firebaserules_release.firestore "projects/$PROJECT/releases/cloud.firestore"
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/../firestore.rules")
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_firestore_database.default]
}

resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"
}
