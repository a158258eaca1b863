# Every variable has a type, a description and a validation (the test checks this). Defaults are
# those of a small production setup; terraform.tfvars.example lists what you usually set.

# --- Project --------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "The Google Cloud project Baton runs in (BATON_GCP_PROJECT)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, queues, scheduler jobs, buckets, Artifact Registry and builds (BATON_GCP_REGION)."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region such as us-central1 or europe-west1."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database: a region (us-central1) or a multi-region (nam5, eur3). Empty: the same as region. Cannot change after creation."
  default     = ""

  validation {
    condition     = var.firestore_location == "" || can(regex("^[a-z0-9-]+$", var.firestore_location))
    error_message = "firestore_location must be empty or a Firestore location id such as nam5, eur3 or us-central1."
  }
}

# --- Storage --------------------------------------------------------------------------------------

variable "bucket_name_prefix" {
  type        = string
  description = "Prefix of the bucket names: <prefix>-<project_id> (logs and sources, BATON_BUCKET), <prefix>-build-logs-<project_id> (Cloud Build logs, BATON_BUILD_LOGS_BUCKET) and <prefix>-fn-src-<project_id> (function source zips)."
  default     = "baton"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,18}[a-z0-9]$", var.bucket_name_prefix)) && !strcontains(var.bucket_name_prefix, "goog")
    error_message = "bucket_name_prefix must be 3-20 lowercase letters, digits or '-', start and end with a letter or digit, and not contain \"goog\"."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days a deployment's full log (deployment_logs/ in the Baton bucket) is kept after its last write."
  default     = 90

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "source_retention_days" {
  type        = number
  description = "Days prepared sources (sources/) and uploaded archives (uploads/) are kept; a build reads them within minutes, a rollback never does."
  default     = 7

  validation {
    condition     = var.source_retention_days >= 1 && var.source_retention_days <= 365 && floor(var.source_retention_days) == var.source_retention_days
    error_message = "source_retention_days must be a whole number of days between 1 and 365."
  }
}

# --- Artifact Registry ----------------------------------------------------------------------------

variable "artifact_repository" {
  type        = string
  description = "Artifact Registry docker repository the builds push to (BATON_ARTIFACT_REPO)."
  default     = "baton"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.artifact_repository))
    error_message = "artifact_repository must be 2-63 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "artifact_keep_count" {
  type        = number
  description = "Images kept per service (package) whatever their age. A rollback re-serves an earlier revision, whose image must still exist: keep at least as many as the service record remembers good revisions (20)."
  default     = 20

  validation {
    condition     = var.artifact_keep_count >= 1 && var.artifact_keep_count <= 1000 && floor(var.artifact_keep_count) == var.artifact_keep_count
    error_message = "artifact_keep_count must be a whole number between 1 and 1000."
  }
}

variable "artifact_delete_after_days" {
  type        = number
  description = "Images older than this many days and not among the newest artifact_keep_count of their service are deleted."
  default     = 30

  validation {
    condition     = var.artifact_delete_after_days >= 1 && var.artifact_delete_after_days <= 3650 && floor(var.artifact_delete_after_days) == var.artifact_delete_after_days
    error_message = "artifact_delete_after_days must be a whole number between 1 and 3650."
  }
}

# --- Functions ------------------------------------------------------------------------------------

variable "bundle_dir" {
  type        = string
  description = "Folder holding one bundle folder per function (<bundle_dir>/<function>/package.json …), made by cloudbuild.yaml's bundle step; relative to terraform/ or absolute."
  default     = "../dist/functions"

  validation {
    condition     = length(trimspace(var.bundle_dir)) > 0
    error_message = "bundle_dir must name the folder of function bundles."
  }
}

variable "function_memory" {
  type        = string
  description = "Memory of each function instance (Cloud Run units: 512Mi, 1Gi …)."
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.function_memory))
    error_message = "function_memory must be a size such as 512Mi or 1Gi."
  }
}

variable "function_memory_overrides" {
  type        = map(string)
  description = "Memory per function where the default does not fit, keyed by function name (prepare-source unpacks archives and clones repositories)."
  default = {
    "prepare-source" = "1Gi"
  }

  validation {
    condition     = alltrue([for m in values(var.function_memory_overrides) : can(regex("^[0-9]+(Mi|Gi|M|G)$", m))])
    error_message = "Every value of function_memory_overrides must be a size such as 512Mi or 1Gi."
  }
}

variable "event_function_timeout_seconds" {
  type        = number
  description = "Timeout of the Pub/Sub-triggered functions; also their subscriptions' ack deadline, which Pub/Sub caps at 600 s."
  default     = 300

  validation {
    condition     = var.event_function_timeout_seconds >= 10 && var.event_function_timeout_seconds <= 600
    error_message = "event_function_timeout_seconds must be between 10 and 600 (Pub/Sub's maximum ack deadline)."
  }
}

variable "task_function_timeout_seconds" {
  type        = number
  description = "Timeout of the Cloud Tasks-triggered functions (verify, canary-step); below Cloud Tasks' default dispatch deadline of 600 s."
  default     = 300

  validation {
    condition     = var.task_function_timeout_seconds >= 15 && var.task_function_timeout_seconds <= 600
    error_message = "task_function_timeout_seconds must be between 15 and 600."
  }
}

variable "design_run_timeout_seconds" {
  type        = number
  description = "Timeout of the design-run function and the dispatch deadline of its Cloud Tasks: above the 900 s ceiling of a design's run_timeout_ms, at most Cloud Tasks' 30 minutes."
  default     = 960

  validation {
    condition     = var.design_run_timeout_seconds >= 930 && var.design_run_timeout_seconds <= 1800
    error_message = "design_run_timeout_seconds must be between 930 and 1800."
  }
}

variable "scheduled_function_timeout_seconds" {
  type        = number
  description = "Timeout of the scheduled functions (the watchdog), also the scheduler job's attempt deadline."
  default     = 120

  validation {
    condition     = var.scheduled_function_timeout_seconds >= 15 && var.scheduled_function_timeout_seconds <= 1800
    error_message = "scheduled_function_timeout_seconds must be between 15 and 1800 (Cloud Scheduler's attempt deadline limits)."
  }
}

variable "api_timeout_seconds" {
  type        = number
  description = "Request timeout of the api function: it bounds an event stream (GET /deployments/{id}/stream), after which the client reconnects."
  default     = 3600

  validation {
    condition     = var.api_timeout_seconds >= 10 && var.api_timeout_seconds <= 3600
    error_message = "api_timeout_seconds must be between 10 and 3600."
  }
}

variable "max_instances" {
  type        = number
  description = "Maximum instances of each function."
  default     = 20

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number between 1 and 1000."
  }
}

variable "api_min_instances" {
  type        = number
  description = "Instances of the api function kept warm (0: scale to zero, with a cold start on the first request)."
  default     = 0

  validation {
    condition     = var.api_min_instances >= 0 && var.api_min_instances <= 10 && floor(var.api_min_instances) == var.api_min_instances
    error_message = "api_min_instances must be a whole number between 0 and 10."
  }
}

variable "function_concurrency" {
  type        = number
  description = "Concurrent requests per instance of the pipeline functions (the api takes 80). Stages wait on I/O, so one instance serves several."
  default     = 10

  validation {
    condition     = var.function_concurrency >= 1 && var.function_concurrency <= 1000 && floor(var.function_concurrency) == var.function_concurrency
    error_message = "function_concurrency must be a whole number between 1 and 1000."
  }
}

variable "baton_settings" {
  type        = map(string)
  description = "Extra BATON_* settings of shared/config.ts for every function (e.g. BATON_MAX_ACTIVE_PER_AGENT = \"2\"). The keys Terraform wires itself (locals.function_env) cannot be overridden here."
  default     = {}

  validation {
    condition = alltrue([for k in keys(var.baton_settings) : can(regex("^BATON_[A-Z0-9_]+$", k)) && !contains([
      "BATON_TARGET", "BATON_GCP_PROJECT", "BATON_GCP_REGION", "BATON_BUCKET", "BATON_ARTIFACT_REPO",
      "BATON_TASKS_SERVICE_ACCOUNT", "BATON_BUILD_SERVICE_ACCOUNT", "BATON_RUNTIME_SERVICE_ACCOUNT", "BATON_TASK_TARGETS",
      "BATON_DESIGN_RUN_TIMEOUT_S",
    ], k)])
    error_message = "baton_settings keys must be BATON_* settings other than those Terraform wires (BATON_TARGET, BATON_GCP_*, BATON_BUCKET, BATON_ARTIFACT_REPO, BATON_*_SERVICE_ACCOUNT, BATON_TASK_TARGETS, BATON_DESIGN_RUN_TIMEOUT_S; set design_run_timeout_seconds instead)."
  }
}

variable "api_invoker_members" {
  type        = list(string)
  description = "Who may call the api function (roles/run.invoker), e.g. [\"group:deployers@example.com\"]. Empty: only project owners and editors, e.g. through `gcloud run services proxy baton-api`. \"allUsers\" makes the API public with no check of its own: use api_auth = \"firebase\" for that (it verifies ID tokens and admits api_users)."
  default     = []

  validation {
    condition     = alltrue([for m in var.api_invoker_members : can(regex("^(allUsers|allAuthenticatedUsers|(user|group|serviceAccount|domain|principal|principalSet):.+)$", m))])
    error_message = "api_invoker_members must be IAM members such as user:me@example.com, group:team@example.com, serviceAccount:…, domain:example.com or allUsers."
  }
}

# --- Git sources ----------------------------------------------------------------------------------

variable "git_token_secrets" {
  type        = map(string)
  description = "Secret Manager secrets holding tokens for private git repositories, each with the one host its token may be sent to: { \"github-token\" = \"github.com\" }. A deployment's source.token_secret must name one of them, for a URL on its host (BATON_GIT_TOKEN_SECRETS); the build service account may read these secrets and no others. Create the secrets and their versions yourself."
  default     = {}

  validation {
    condition = alltrue([
      for id, host in var.git_token_secrets :
      can(regex("^[A-Za-z0-9_-]{1,255}$", id)) && can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$", host)) && length(host) <= 253
    ])
    error_message = "git_token_secrets maps Secret Manager secret ids (letters, digits, '_' and '-', at most 255) to a lowercase host name with an optional :port (github.com, git.example.com:8443)."
  }
}

# --- Delivery and retries -------------------------------------------------------------------------

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of a Pub/Sub message to a stage before it goes to baton-dead-letter (Pub/Sub allows 5-100)."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number between 5 and 100."
  }
}

variable "retry_min_backoff_seconds" {
  type        = number
  description = "First back-off of a failed Pub/Sub delivery; it grows exponentially up to 600 s."
  default     = 10

  validation {
    condition     = var.retry_min_backoff_seconds >= 0 && var.retry_min_backoff_seconds <= 600
    error_message = "retry_min_backoff_seconds must be between 0 and 600."
  }
}

variable "queue_max_dispatches_per_second" {
  type        = number
  description = "Rate limit of each Cloud Tasks queue (Cloud Tasks allows up to 500)."
  default     = 50

  validation {
    condition     = var.queue_max_dispatches_per_second > 0 && var.queue_max_dispatches_per_second <= 500
    error_message = "queue_max_dispatches_per_second must be above 0 and at most 500."
  }
}

variable "queue_max_concurrent_dispatches" {
  type        = number
  description = "Tasks of one queue running at once."
  default     = 50

  validation {
    condition     = var.queue_max_concurrent_dispatches >= 1 && var.queue_max_concurrent_dispatches <= 5000 && floor(var.queue_max_concurrent_dispatches) == var.queue_max_concurrent_dispatches
    error_message = "queue_max_concurrent_dispatches must be a whole number between 1 and 5000."
  }
}

variable "queue_max_attempts" {
  type        = number
  description = "Attempts of one task before Cloud Tasks drops it (Cloud Tasks has no dead-letter queue: the watchdog then fails the stuck deployment)."
  default     = 10

  validation {
    condition     = var.queue_max_attempts >= 1 && var.queue_max_attempts <= 100 && floor(var.queue_max_attempts) == var.queue_max_attempts
    error_message = "queue_max_attempts must be a whole number between 1 and 100."
  }
}

# --- Baton's own CI/CD (ci.tf, cloudbuild.yaml) ---------------------------------------------------

variable "ci_repository" {
  type        = string
  description = "Cloud Build 2nd-gen repository of Baton's source (projects/P/locations/R/connections/C/repositories/NAME), connected once in the console. Empty: no CI triggers."
  default     = ""

  validation {
    condition     = var.ci_repository == "" || can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.ci_repository))
    error_message = "ci_repository must be empty or projects/P/locations/R/connections/C/repositories/NAME."
  }
}

variable "ci_branch" {
  type        = string
  description = "Branch of Baton's repository that is tested, planned and (once approved) applied."
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.ci_branch))
    error_message = "ci_branch must be a branch name such as main."
  }
}

variable "tf_state_bucket" {
  type        = string
  description = "Bucket of the Terraform state (the gcs backend); CI also keeps saved plans and bundles there, under baton/plans/<commit>/. Required with ci_repository."
  default     = ""

  validation {
    condition     = var.tf_state_bucket == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.tf_state_bucket))
    error_message = "tf_state_bucket must be empty or a bucket name."
  }
}

variable "ci_roles" {
  type        = list(string)
  description = "Project roles of the CI service account that runs terraform plan/apply: it creates every resource here and sets their IAM."
  default     = ["roles/editor", "roles/iam.securityAdmin"]

  validation {
    condition     = length(var.ci_roles) > 0 && alltrue([for r in var.ci_roles : startswith(r, "roles/") || startswith(r, "projects/")])
    error_message = "ci_roles must list at least one role, each roles/… or a custom projects/…/roles/…."
  }
}

variable "ci_approvers" {
  type        = list(string)
  description = "Who may approve the gated apply build (roles/cloudbuild.builds.approver), e.g. [\"group:release-managers@example.com\"]."
  default     = []

  validation {
    condition     = alltrue([for m in var.ci_approvers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", m))])
    error_message = "ci_approvers must be IAM members such as user:me@example.com or group:team@example.com."
  }
}

variable "api_auth" {
  type        = string
  description = "Who checks the api's callers: \"iam\" (Cloud Run's run.invoker, var.api_invoker_members; a browser cannot call it: its CORS preflight carries no token) or \"firebase\" (the api is public at IAM and itself verifies Firebase Auth ID tokens, admitting var.api_users: what the dashboard on Firebase Hosting needs)."
  default     = "iam"

  validation {
    condition     = contains(["iam", "firebase"], var.api_auth)
    error_message = "api_auth must be \"iam\" or \"firebase\"."
  }
}

variable "api_users" {
  type        = list(string)
  description = "With api_auth = \"firebase\": who may call the api, as user:<email> or domain:<domain> (the verified email's domain). Groups cannot be checked by the api."
  default     = []

  validation {
    condition     = alltrue([for m in var.api_users : can(regex("^(user:[^@\\s,]+@[^@\\s,]+|domain:[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,})$", m))])
    error_message = "api_users must be user:<email> or domain:<domain> entries (no groups, no commas)."
  }
}

variable "dashboard_origins" {
  type        = list(string)
  description = "Origins the browser dashboard calls the api from (CORS). Empty: the project's default Firebase Hosting sites, https://<project>.web.app and https://<project>.firebaseapp.com."
  default     = []

  validation {
    condition     = alltrue([for o in var.dashboard_origins : can(regex("^https?://[^/\\s,]+$", o))])
    error_message = "dashboard_origins must be scheme://host[:port] entries, no path."
  }
}
