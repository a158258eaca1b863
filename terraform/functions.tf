# One Cloud Function (2nd gen) per function folder, keyed by name. The Cloud Run service behind
# each is "baton-<name>"; the entry point is the name the function is registered under with the
# Functions Framework (functions/framework.ts), which is its folder name.
#
# Triggers: none here. Pub/Sub-triggered functions are called by their push subscription
# (pubsub.tf, for the dead-letter policy), task functions by Cloud Tasks (tasks.tf), the watchdog by
# Cloud Scheduler (scheduler.tf). All of those call the run.app URL with an OIDC token, so every
# function but the api accepts internal traffic only and one invoker (iam.tf).

locals {
  timeout_by_trigger = {
    event     = var.event_function_timeout_seconds
    task      = var.task_function_timeout_seconds
    scheduled = var.scheduled_function_timeout_seconds
    http      = var.api_timeout_seconds
  }

  # design-run runs a whole design execution (run_timeout_ms up to 900 s) in one delivery: longer
  # than the other task functions, and its tasks carry the same dispatch deadline (BATON_DESIGN_RUN_TIMEOUT_S).
  timeout_overrides = {
    "design-run" = var.design_run_timeout_seconds
  }
}

# Each bundle folder (cloudbuild.yaml's bundle step) zipped; the object is named by the zip's hash,
# so unchanged code is not redeployed and changed code always is.
data "archive_file" "source" {
  for_each = local.functions

  type             = "zip"
  source_dir       = "${var.bundle_dir}/${each.key}"
  output_path      = "${path.module}/.build/${each.key}.zip"
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  bucket       = google_storage_bucket.function_sources.name
  name         = "${each.key}/${data.archive_file.source[each.key].output_sha256}.zip"
  source       = data.archive_file.source[each.key].output_path
  content_type = "application/zip"

  # A new hash is a new object: create it and point the function at it before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_cloudfunctions2_function" "fn" {
  for_each = local.functions

  name        = local.function_names[each.key]
  location    = var.region
  description = "Baton ${each.key} (${each.value} trigger)"

  build_config {
    runtime         = "nodejs22"
    entry_point     = each.key
    service_account = google_service_account.function_builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.fn[each.key].email
    available_memory                 = lookup(var.function_memory_overrides, each.key, var.function_memory)
    available_cpu                    = "1"
    timeout_seconds                  = lookup(local.timeout_overrides, each.key, local.timeout_by_trigger[each.value])
    max_instance_count               = var.max_instances
    min_instance_count               = each.value == "http" ? var.api_min_instances : 0
    max_instance_request_concurrency = each.value == "http" ? 80 : var.function_concurrency
    ingress_settings                 = each.value == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true

    # Terraform's keys win over var.baton_settings (the variable's validation refuses them anyway).
    environment_variables = merge(local.settings_env, local.function_env)
  }

  lifecycle {
    # The task targets are predicted deterministic URLs; Cloud Run gives none when
    # "<service>-<project number>" is longer than a DNS label.
    precondition {
      condition     = length("${local.function_names[each.key]}-${data.google_project.this.number}") <= 63
      error_message = "The Cloud Run service name of ${each.key} is too long for a deterministic run.app URL."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
  ]
}

# Keys of function_memory_overrides that name no function are typos.
check "memory_overrides_name_functions" {
  assert {
    condition     = alltrue([for name in keys(var.function_memory_overrides) : contains(keys(local.functions), name)])
    error_message = "function_memory_overrides names a function that does not exist: ${join(", ", setsubtract(keys(var.function_memory_overrides), keys(local.functions)))}."
  }
}
