# What the code needs, written once and read or mirrored here. test/infra/terraform.test.ts fails
# when these and the code disagree:
#   - the trigger maps, the topic list and the dead-letter topic come from terraform/pipeline.json,
#     generated from the pipeline table (shared/domain/pipeline.ts) by `npm run gen:pipeline`; the
#     test fails while the JSON is stale;
#   - function_access mirrors test/infra/expectations.ts, which derives it from shared/pipeline/*.ts.
# Keep function_access literal (no expressions): the test reads it as data.

locals {
  pipeline = jsondecode(file("${path.module}/pipeline.json"))

  # Pub/Sub-triggered functions and the topic each one consumes (one push subscription each, pubsub.tf).
  event_functions = local.pipeline.event_functions

  # Cloud Tasks-triggered functions and their queue (tasks.tf).
  task_functions = local.pipeline.task_functions

  # Cloud Scheduler-triggered functions and their unix cron schedule (scheduler.tf).
  scheduled_functions = local.pipeline.scheduled_functions

  # Functions called directly over HTTPS by clients.
  http_functions = local.pipeline.http_functions

  # Every topic Baton uses, all Baton's own: TOPICS (baton-builds included, pubsub.tf).
  topics = local.pipeline.topics

  # Where Cloud Build publishes Baton's builds (the build-events function's topic).
  builds_topic = local.event_functions["build-events"]

  dead_letter_topic = local.pipeline.dead_letter_topic

  # What each function does besides reading and writing Firestore and the Baton bucket (which all do):
  #   publishes: topics it publishes to (handOff kind 'event' -> TOPIC_OF_EVENT; failDeployment's rollback hand-off;
  #              releaseSlots' deployment.requested for the deployments waiting behind a job that ends);
  #   enqueues:  queues it creates tasks on (handOff kind 'task');
  #   runtime:   Cloud Run Admin API use -- read (run.viewer), or write (run.developer + actAs the runtime
  #              service account: creates revisions, moves traffic, deletes a failed revision -- each of
  #              which updates a service that runs as baton-runtime);
  #   builds:    Cloud Build use -- submit (builds.editor + actAs the build service account), cancel (builds.editor).
  function_access = {
    "api" = {
      publishes = ["baton-deployment-approved", "baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-approval-check", "baton-design-run"]
      runtime   = "read"
      builds    = "cancel"
    }
    "validate" = {
      publishes = ["baton-deployment-requested", "baton-deployment-validated"]
      enqueues  = []
      runtime   = "none"
      builds    = "none"
    }
    "prepare-source" = {
      publishes = ["baton-deployment-prepared", "baton-deployment-requested"]
      enqueues  = []
      runtime   = "none"
      builds    = "none"
    }
    "build" = {
      publishes = ["baton-deployment-built", "baton-deployment-requested"]
      enqueues  = []
      runtime   = "none"
      builds    = "submit"
    }
    "build-events" = {
      publishes = ["baton-deployment-built", "baton-deployment-requested"]
      enqueues  = ["baton-build-log"]
      runtime   = "none"
      builds    = "none"
    }
    "build-log" = {
      publishes = []
      enqueues  = ["baton-build-log"]
      runtime   = "none"
      builds    = "none"
    }
    "deploy" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-verify-poll"]
      runtime   = "write"
      builds    = "none"
    }
    "verify" = {
      publishes = ["baton-deployment-requested", "baton-deployment-verified", "baton-rollback-requested"]
      enqueues  = ["baton-verify-poll"]
      runtime   = "write"
      builds    = "none"
    }
    "test-candidate" = {
      publishes = ["baton-deployment-requested", "baton-deployment-tested", "baton-rollback-requested"]
      enqueues  = ["baton-test-slice"]
      runtime   = "write"
      builds    = "none"
    }
    "test-slice" = {
      publishes = ["baton-deployment-requested", "baton-deployment-tested", "baton-rollback-requested"]
      enqueues  = ["baton-test-slice"]
      runtime   = "write"
      builds    = "none"
    }
    "approval-gate" = {
      publishes = ["baton-deployment-approved", "baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-approval-check"]
      runtime   = "write"
      builds    = "none"
    }
    "approval-check" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-approval-check"]
      runtime   = "write"
      builds    = "none"
    }
    "promote" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-promote-step"]
      runtime   = "write"
      builds    = "none"
    }
    "canary-step" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = ["baton-promote-step"]
      runtime   = "write"
      builds    = "none"
    }
    "rollback" = {
      publishes = ["baton-deployment-requested"]
      enqueues  = ["baton-rollback-poll"]
      runtime   = "write"
      builds    = "none"
    }
    "rollback-check" = {
      publishes = ["baton-deployment-requested"]
      enqueues  = ["baton-rollback-poll"]
      runtime   = "write"
      builds    = "none"
    }
    "dead-letter" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = []
      runtime   = "write"
      builds    = "none"
    }
    "design-run" = {
      publishes = []
      enqueues  = []
      runtime   = "none"
      builds    = "none"
    }
    "designs-scheduled" = {
      publishes = []
      enqueues  = ["baton-design-run"]
      runtime   = "none"
      builds    = "none"
    }
    "designs-sweep" = {
      publishes = []
      enqueues  = ["baton-design-run"]
      runtime   = "none"
      builds    = "none"
    }
    "deployed" = {
      publishes = []
      enqueues  = ["baton-design-run"]
      runtime   = "none"
      builds    = "none"
    }
    "watchdog" = {
      publishes = ["baton-deployment-requested", "baton-rollback-requested"]
      enqueues  = []
      runtime   = "write"
      builds    = "none"
    }
  }
}

# Derived from the maps above.
locals {
  # Function name -> how it is triggered. Every function is an HTTP function to Cloud Functions; the
  # trigger decides who may invoke it (iam.tf) and what calls it (pubsub.tf, tasks.tf, scheduler.tf).
  functions = merge(
    { for name, topic in local.event_functions : name => "event" },
    { for name, queue in local.task_functions : name => "task" },
    { for name, cron in local.scheduled_functions : name => "scheduled" },
    { for name in local.http_functions : name => "http" },
  )

  # Queue name -> the function it calls.
  queues = { for name, queue in local.task_functions : queue => name }

  # Each function runs as the Cloud Run service "baton-<name>".
  function_names = { for name, kind in local.functions : name => "baton-${name}" }

  # The URL cycle: verify enqueues polls on its own queue, so its environment needs its own URL, and
  # a resource cannot refer to its own attributes (google_cloudfunctions2_function.fn["verify"].url
  # inside google_cloudfunctions2_function.fn is a self-reference). Cloud Run's deterministic URL,
  # https://SERVICE-PROJECT_NUMBER.REGION.run.app, is known before the service exists, so the task
  # targets are computed, not read back. Being a run.app URL, Cloud Tasks' requests to it count as
  # internal traffic for ALLOW_INTERNAL_ONLY ingress, and it is a valid OIDC audience for the service.
  task_target_urls = {
    for name, queue in local.task_functions :
    name => "https://${local.function_names[name]}-${data.google_project.this.number}.${var.region}.run.app"
  }

  # The environment every function reads (shared/wiring/gcp-config.ts, GcpConfigSchema). The test
  # checks that every required key is here and that no key is unknown to the schemas.
  function_env = {
    BATON_TARGET                  = "gcp"
    BATON_GCP_PROJECT             = var.project_id
    BATON_GCP_REGION              = var.region
    BATON_BUCKET                  = google_storage_bucket.baton.name
    BATON_ARTIFACT_REPO           = google_artifact_registry_repository.images.repository_id
    BATON_BUILD_LOGS_BUCKET       = google_storage_bucket.build_logs.name
    BATON_TASKS_SERVICE_ACCOUNT   = google_service_account.tasks.email
    BATON_BUILD_SERVICE_ACCOUNT   = google_service_account.build.email
    BATON_RUNTIME_SERVICE_ACCOUNT = google_service_account.runtime.email
    BATON_TASK_TARGETS            = jsonencode(local.task_target_urls)
    # The secrets a git source's token_secret may name, with their hosts (iam.tf: build_reads_git_tokens).
    BATON_GIT_TOKEN_SECRETS = jsonencode(var.git_token_secrets)
    # Deployed designs: Cloud Scheduler's target and the identity its OIDC tokens carry (scheduler.tf).
    BATON_DESIGNS_SCHEDULED_URL     = "https://${local.function_names["designs-scheduled"]}-${data.google_project.this.number}.${var.region}.run.app"
    BATON_SCHEDULER_SERVICE_ACCOUNT = google_service_account.scheduler.email
    # How long a design-run delivery may take: its function's timeout and its tasks' dispatch deadline.
    BATON_DESIGN_RUN_TIMEOUT_S = tostring(var.design_run_timeout_seconds)
    # Where endpoints are served (each endpoint_url): the public deployed function, not the api.
    BATON_DESIGNS_PUBLIC_URL = "https://${local.function_names["deployed"]}-${data.google_project.this.number}.${var.region}.run.app"
    # Who checks the api's callers (iam.tf api_public) and the dashboard's origins (CORS).
    BATON_API_AUTH          = var.api_auth
    BATON_API_USERS         = join(",", var.api_users)
    BATON_DASHBOARD_ORIGINS = join(",", local.dashboard_origins)
  }

  dashboard_origins = length(var.dashboard_origins) > 0 ? var.dashboard_origins : ["https://${var.project_id}.web.app", "https://${var.project_id}.firebaseapp.com"]

  # Settings of shared/config.ts whose local defaults do not fit Google Cloud; var.baton_settings
  # overrides them. Cloud Run refuses requests over 32 MiB, so uploads stop below that; readiness
  # polls are Cloud Tasks, not a 20 ms timer; a canary window is checked every 15 s (Cloud Run's
  # request metrics move once a minute).
  settings_env = merge(
    {
      BATON_MAX_UPLOAD_BYTES = "31457280"
      BATON_VERIFY_POLL_MS   = "2000"
      BATON_CANARY_CHECK_MS  = "15000"
    },
    var.baton_settings,
  )

  pubsub_service_agent     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  cloudbuild_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudbuild.iam.gserviceaccount.com"
}

data "google_project" "this" {
  project_id = var.project_id
}
