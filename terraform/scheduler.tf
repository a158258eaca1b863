# Cloud Scheduler jobs for SCHEDULED_FUNCTIONS: the watchdog every minute (unix cron has no seconds
# field; one minute is the finest). A missed or failed run is not retried: the next one comes a
# minute later and does the same sweep.

resource "google_cloud_scheduler_job" "scheduled" {
  for_each = local.scheduled_functions

  name             = local.function_names[each.key]
  description      = "Calls the ${each.key} function (functions/registry.ts SCHEDULED_FUNCTIONS)."
  region           = var.region
  schedule         = each.value
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.scheduled_function_timeout_seconds}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}
