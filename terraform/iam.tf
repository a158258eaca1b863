# Identities and the least roles each needs, bound on the resource wherever the service allows it.
# What each function needs is local.function_access (locals.tf), mirrored from
# test/infra/expectations.ts.

# --- One service account per function -------------------------------------------------------------

resource "google_service_account" "fn" {
  for_each = local.functions

  account_id   = "baton-fn-${each.key}"
  display_name = "Baton ${each.key} function"
  description  = "Runs the ${each.key} function; roles in terraform/iam.tf."

  depends_on = [google_project_service.enabled]
}

locals {
  function_members = { for name, sa in google_service_account.fn : name => "serviceAccount:${sa.email}" }

  publish_grants = merge([
    for name, access in local.function_access : { for topic in access.publishes : "${name}:${topic}" => { function = name, topic = topic } }
  ]...)

  enqueue_grants = merge([
    for name, access in local.function_access : { for queue in access.enqueues : "${name}:${queue}" => { function = name, queue = queue } }
  ]...)
}

# Firestore has no per-collection or per-document IAM: datastore.user on the project is the least.
resource "google_project_iam_member" "fn_firestore" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.function_members[each.key]
}

# Every function writes its deployment's log; the api and prepare-source write uploads and sources.
# objectUser reads, writes, overwrites (appends) and deletes objects; objectAdmin would add only
# object ACLs, which uniform bucket-level access turns off.
resource "google_storage_bucket_iam_member" "fn_bucket" {
  for_each = local.functions

  bucket = google_storage_bucket.baton.name
  role   = "roles/storage.objectUser"
  member = local.function_members[each.key]
}

resource "google_pubsub_topic_iam_member" "fn_publishes" {
  for_each = local.publish_grants

  topic  = google_pubsub_topic.baton[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = local.function_members[each.value.function]
}

resource "google_cloud_tasks_queue_iam_member" "fn_enqueues" {
  for_each = local.enqueue_grants

  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = local.function_members[each.value.function]
}

# A task carries an OIDC token of baton-tasks: creating it means acting as that account.
resource "google_service_account_iam_member" "fn_acts_as_tasks" {
  for_each = toset(distinct([for grant in values(local.enqueue_grants) : grant.function]))

  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_members[each.key]
}

# Deployed services are created at run time under names chosen by users, so Cloud Run roles are
# project-wide: viewer to read; developer to create revisions, move traffic, delete revisions and call
# a candidate revision's tagged URL (verification probes carry the function's ID token).
#
# Baton's own services (the Cloud Run services behind its functions, baton-*) must stay out of
# reach of that developer grant: a function that could update baton-api could run any code as
# Baton. Cloud Run does not recognise the resource-name attribute in IAM conditions (it is not
# among the services listed for resource.name), so the grant is conditioned on a tag instead:
# each function's service carries baton-control-plane=true and the developer role holds only where
# that tag is absent. Creating services (run.services.create, checked on the project, untagged)
# stays allowed; agents can never be named baton-… (AgentIdSchema), so no agent service is tagged.
# Limits: the viewer grant is unconditioned (reading is harmless); a function could still create a
# new service named baton-x (it would carry no tag and replace nothing); and the tag's protection
# holds only while the functions cannot bind tags (they have no resourcemanager.tagUser).
resource "google_tags_tag_key" "control_plane" {
  parent      = "projects/${var.project_id}"
  short_name  = "baton-control-plane"
  description = "Marks Baton's own Cloud Run services; the functions' run.developer grant excludes them."

  depends_on = [google_project_service.enabled]
}

resource "google_tags_tag_value" "control_plane" {
  parent      = google_tags_tag_key.control_plane.id
  short_name  = "true"
  description = "A Cloud Run service behind one of Baton's functions."
}

resource "google_tags_location_tag_binding" "control_plane" {
  for_each = local.functions

  parent    = "//run.googleapis.com/projects/${data.google_project.this.number}/locations/${var.region}/services/${google_cloudfunctions2_function.fn[each.key].name}"
  tag_value = google_tags_tag_value.control_plane.id
  location  = var.region
}

resource "google_project_iam_member" "fn_runtime" {
  for_each = { for name, access in local.function_access : name => access.runtime if access.runtime != "none" }

  project = var.project_id
  role    = each.value == "read" ? "roles/run.viewer" : "roles/run.developer"
  member  = local.function_members[each.key]

  dynamic "condition" {
    for_each = each.value == "read" ? [] : [1]
    content {
      title       = "not-baton-services"
      description = "Not on Baton's own services (tagged baton-control-plane=true)."
      expression  = "!resource.matchTagId('${google_tags_tag_key.control_plane.id}', '${google_tags_tag_value.control_plane.id}')"
    }
  }
}

# Updating a service that runs as baton-runtime (a revision, a traffic split, removing a tag) means
# acting as it.
resource "google_service_account_iam_member" "fn_acts_as_runtime" {
  for_each = { for name, access in local.function_access : name => access if access.runtime == "write" }

  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_members[each.key]
}

# GET /services/{agent_id}/logs reads what deployed revisions wrote (Cloud Logging entries:list).
resource "google_project_iam_member" "api_logs_viewer" {
  project = var.project_id
  role    = "roles/logging.viewer"
  member  = local.function_members["api"]
}

# The canary analysis reads Cloud Run's request metrics (Cloud Monitoring timeSeries.list) in each
# canary step's window: only canary-step does (READS_METRICS in test/infra/expectations.ts).
resource "google_project_iam_member" "canary_metrics_viewer" {
  for_each = toset(["canary-step"])

  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = local.function_members[each.key]
}

# Deployed designs. The api creates, updates, pauses and deletes each endpoint's Cloud Scheduler job,
# whose OIDC token is baton-scheduler's (so it acts as it). The api and deployed (synchronous runs) and
# design-run call Baton-deployed agents with their ID token: run.invoker, project-wide since agents are made at
# run time, but not on Baton's own services (the same tag condition as run.developer).
resource "google_project_iam_member" "api_scheduler_admin" {
  project = var.project_id
  role    = "roles/cloudscheduler.admin"
  member  = local.function_members["api"]
}

resource "google_service_account_iam_member" "api_acts_as_scheduler" {
  service_account_id = google_service_account.scheduler.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_members["api"]
}

resource "google_project_iam_member" "fn_invokes_agents" {
  for_each = toset(["api", "deployed", "design-run"])

  project = var.project_id
  role    = "roles/run.invoker"
  member  = local.function_members[each.key]

  condition {
    title       = "not-baton-services"
    description = "Not on Baton's own services (tagged baton-control-plane=true)."
    expression  = "!resource.matchTagId('${google_tags_tag_key.control_plane.id}', '${google_tags_tag_value.control_plane.id}')"
  }
}

# Cloud Build has no per-build IAM: builds.editor on the project submits and cancels builds.
resource "google_project_iam_member" "fn_builds" {
  for_each = { for name, access in local.function_access : name => access.builds if access.builds != "none" }

  project = var.project_id
  role    = "roles/cloudbuild.builds.editor"
  member  = local.function_members[each.key]
}

# A build that runs as baton-build is submitted by someone who may act as it.
resource "google_service_account_iam_member" "fn_acts_as_build" {
  for_each = { for name, access in local.function_access : name => access if access.builds == "submit" }

  service_account_id = google_service_account.build.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.function_members[each.key]
}

# --- Who may call each function -------------------------------------------------------------------

resource "google_service_account" "pubsub_push" {
  account_id   = "baton-pubsub-push"
  display_name = "Baton Pub/Sub push"
  description  = "Identity of the push subscriptions that deliver stage events to the functions."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "tasks" {
  account_id   = "baton-tasks"
  display_name = "Baton Cloud Tasks"
  description  = "OIDC identity of readiness-poll and canary-step tasks (BATON_TASKS_SERVICE_ACCOUNT)."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "baton-scheduler"
  display_name = "Baton Cloud Scheduler"
  description  = "OIDC identity of the scheduler jobs: the watchdog's and each deployed design's schedule (BATON_SCHEDULER_SERVICE_ACCOUNT)."

  depends_on = [google_project_service.enabled]
}

locals {
  invokers = merge(
    { for name, topic in local.event_functions : name => "serviceAccount:${google_service_account.pubsub_push.email}" },
    { for name, queue in local.task_functions : name => "serviceAccount:${google_service_account.tasks.email}" },
    { for name, cron in local.scheduled_functions : name => "serviceAccount:${google_service_account.scheduler.email}" },
    # The jobs of deployed designs' schedules call designs-scheduled (shared/designs/endpoints.ts syncSchedule).
    { "designs-scheduled" = "serviceAccount:${google_service_account.scheduler.email}" },
    # Deployed designs' public endpoint: anyone may reach it, and it serves only POST
    # /api/deployed/{path}, authenticated by the endpoint's own API key (functions/deployed/).
    # An organisation policy that restricts allUsers (iam.allowedPolicyMemberDomains) refuses this
    # binding at apply time.
    { "deployed" = "allUsers" },
  )

  # Clients with a Google identity call the api; designs-scheduled is Cloud Scheduler's alone;
  # deployed is public already.
  client_functions = [for name in local.http_functions : name if !contains(["designs-scheduled", "deployed"], name)]
  api_invokers     = { for pair in setproduct(local.client_functions, var.api_invoker_members) : "${pair[0]}:${pair[1]}" => { function = pair[0], member = pair[1] } }
}

# The Cloud Run service behind a 2nd-gen function has the function's name; run.invoker is bound on it.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invokers

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "api_invoker" {
  for_each = local.api_invokers

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# api_auth = "firebase": the browser dashboard calls the api with a Firebase Auth ID token, which
# Cloud Run's IAM does not take (and a CORS preflight carries no token at all), so the api is open
# at IAM and checks every request itself (shared/wiring/api-auth.ts: the token verified against
# Google's securetoken keys, the email one of var.api_users; else 401/403).
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  count = var.api_auth == "firebase" ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn["api"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

check "api_users_for_firebase_auth" {
  assert {
    condition     = var.api_auth != "firebase" || length(var.api_users) > 0
    error_message = "api_auth is \"firebase\" but api_users is empty: the api would admit no one."
  }
}

# --- Builds and deployed services ------------------------------------------------------------------

resource "google_service_account" "build" {
  account_id   = "baton-build"
  display_name = "Baton builds"
  description  = "Runs the Cloud Build builds of deployed services (BATON_BUILD_SERVICE_ACCOUNT)."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "runtime" {
  account_id   = "baton-runtime"
  display_name = "Baton deployed services"
  description  = "Identity of the services Baton deploys (BATON_RUNTIME_SERVICE_ACCOUNT). No roles: grant what your services use, e.g. secretAccessor on their secrets."

  depends_on = [google_project_service.enabled]
}

# A build reads its source from the Baton bucket, pushes to the repository, and logs to Cloud
# Logging and to the logs bucket (LEGACY, with logsBucket: a build with its own service account
# has no default log bucket).
resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.baton.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build_pushes" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

# The build writes its log to the logs bucket (logsBucket, streamed). Cloud Build asks Storage Admin
# of a non-default build account for a user-owned logs bucket: granted on that bucket only.
resource "google_storage_bucket_iam_member" "build_writes_logs" {
  bucket = google_storage_bucket.build_logs.name
  role   = "roles/storage.admin"
  member = "serviceAccount:${google_service_account.build.email}"
}

# The functions that copy a running build's log into the deployment's log read it there
# (shared/pipeline/build-log.ts: the build-log polls and build-events' last read).
resource "google_storage_bucket_iam_member" "fn_reads_build_logs" {
  for_each = toset(["build-events", "build-log"])

  bucket = google_storage_bucket.build_logs.name
  role   = "roles/storage.objectViewer"
  member = local.function_members[each.key]
}

# A private repository's token, read by the build's fetch step through availableSecrets: access
# to the secrets var.git_token_secrets names, each on the secret itself, and to no other secret.
resource "google_secret_manager_secret_iam_member" "build_reads_git_tokens" {
  for_each = var.git_token_secrets

  project   = var.project_id
  secret_id = each.key
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.build.email}"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# --- Building the functions themselves ------------------------------------------------------------

# Cloud Functions builds each function's image with Cloud Build as this account (new projects give
# the default compute account no roles). builds.builder is the role Google documents for it: it
# reads the source zip, writes the image to gcf-artifacts (created by Cloud Functions) and logs.
resource "google_service_account" "function_builder" {
  account_id   = "baton-gcf-builder"
  display_name = "Baton function builds"
  description  = "Builds the images of Baton's own functions."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "function_builder" {
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.function_builder.email}"
}
