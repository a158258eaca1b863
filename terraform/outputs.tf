output "api_url" {
  description = "Base URL of the Baton API: BATON_URL for the CLI (through `gcloud run services proxy baton-api` unless api_invoker_members lets you in directly)."
  value       = google_cloudfunctions2_function.fn["api"].service_config[0].uri
}

output "bucket" {
  description = "The Baton bucket (BATON_BUCKET): deployment_logs/, sources/, uploads/."
  value       = google_storage_bucket.baton.name
}

output "function_urls" {
  description = "Each function's run.app URL, keyed by function name."
  value       = { for name, fn in google_cloudfunctions2_function.fn : name => fn.service_config[0].uri }
}

output "task_target_urls" {
  description = "The predicted deterministic URLs given to the functions as BATON_TASK_TARGETS."
  value       = local.task_target_urls
}

output "artifact_repository" {
  description = "Where builds push images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "service_accounts" {
  description = "The service accounts Baton uses, by role."
  value = {
    functions = { for name, sa in google_service_account.fn : name => sa.email }
    build     = google_service_account.build.email
    runtime   = google_service_account.runtime.email
    tasks     = google_service_account.tasks.email
    scheduler = google_service_account.scheduler.email
    push      = google_service_account.pubsub_push.email
  }
}
