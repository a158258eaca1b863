# One Cloud Tasks queue per queue of the pipeline table (terraform/pipeline.json, generated from
# shared/domain/pipeline.ts): baton-verify-poll, baton-promote-step, baton-rollback-poll. Tasks are named by the pipeline (deployment, step,
# attempt): a duplicate enqueue is refused, so a stage that runs twice schedules one poll.
# A task's target URL and OIDC identity come from the function's environment
# (BATON_TASK_TARGETS, BATON_TASKS_SERVICE_ACCOUNT), not from the queue.
# Cloud Tasks has no dead-letter queue: a task that fails max_attempts times is dropped, and the
# watchdog fails the deployment that was waiting on it once its stage deadline passes.
# A deleted queue's name cannot be reused for about 7 days.

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues

  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.queue_max_dispatches_per_second
    max_concurrent_dispatches = var.queue_max_concurrent_dispatches
  }

  # A failing poll or canary step is retried quickly at first (a revision still starting), then
  # backs off; 2xx completes the task, anything else retries.
  retry_config {
    max_attempts       = var.queue_max_attempts
    max_retry_duration = "3600s"
    min_backoff        = "2s"
    max_backoff        = "120s"
    max_doublings      = 5
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.enabled]
}
