# Topics, and one push subscription per Pub/Sub-triggered function.
#
# Dead letters -- the choice. A function's own `event_trigger` makes Eventarc create and own the
# subscription, and that subscription has no dead-letter policy: a message no stage can process
# would be retried until it expires, and nothing would fail the deployment. So the functions here
# have no event_trigger (they are plain HTTPS functions, reachable only from inside the project) and
# each gets a push subscription Terraform owns, with:
#   - retry_policy: exponential back-off between deliveries (what RETRY_POLICY_RETRY gives Eventarc);
#   - dead_letter_policy: after max_delivery_attempts the message goes to baton-dead-letter, whose
#     own subscription feeds the dead-letter function, which fails the deployment with the error;
#   - push_config.oidc_token: Pub/Sub calls the function as baton-pubsub-push, the only invoker.
# Declaring push subscriptions next to event triggers would deliver every message twice; there is
# one subscription per function, so there is one delivery (plus Pub/Sub's at-least-once duplicates,
# which the stages tolerate).
#
# The functions are registered as CloudEvent functions (functions/framework.ts). The Functions
# Framework turns a plain Pub/Sub push body into the same CloudEvent Eventarc would send when the
# push path names the topic (/projects/P/topics/T): the push endpoint below carries that path. The
# test checks this conversion with the framework itself. What the body no longer carries is
# `deliveryAttempt`; dead-lettered messages carry Pub/Sub's CloudPubSubDeadLetterSource* attributes.

resource "google_pubsub_topic" "baton" {
  for_each = toset(local.topics)

  name                       = each.key
  message_retention_duration = "86400s"

  depends_on = [google_project_service.enabled]
}

# Cloud Build's notifications of Baton's builds come on baton-builds (one of local.topics, from the
# pipeline table): CloudBuildBuilder names it in each build's options.pubsubTopic
# ("projects/<project>/topics/baton-builds"), so build-events is invoked for Baton's builds only.
# The project's other builds still go to Google's default cloud-builds topic, which Baton neither
# creates nor reads. (A subscription filter on cloud-builds could not do this: Cloud Build sets
# only the buildId and status attributes, and filters see nothing else.)
#
# Cloud Build publishes as its service agent. Its project-level role (roles/cloudbuild.serviceAgent,
# granted when the API is enabled) is what lets it publish build notifications; publisher on this
# one topic keeps Baton's notifications flowing in a project where that binding was narrowed.
resource "google_pubsub_topic_iam_member" "builds_publisher" {
  topic  = google_pubsub_topic.baton[local.builds_topic].name
  role   = "roles/pubsub.publisher"
  member = local.cloudbuild_service_agent
}

locals {
  topic_ids = { for topic in local.topics : topic => google_pubsub_topic.baton[topic].id }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.event_functions

  name  = "baton-${each.key}"
  topic = local.topic_ids[each.value]

  # For a push subscription this is how long the function may take before the delivery counts as failed.
  ack_deadline_seconds       = var.event_function_timeout_seconds
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.fn[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_min_backoff_seconds}s"
    maximum_backoff = "600s"
  }

  # The dead-letter function's own subscription has none: a dead letter of a dead letter would loop.
  dynamic "dead_letter_policy" {
    for_each = each.value == local.dead_letter_topic ? [] : [local.dead_letter_topic]

    content {
      dead_letter_topic     = google_pubsub_topic.baton[dead_letter_policy.value].id
      max_delivery_attempts = var.max_delivery_attempts
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

# Dead-lettering is done by the Pub/Sub service agent: it publishes to the dead-letter topic and
# acknowledges the message on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.baton[local.dead_letter_topic].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = { for name, topic in local.event_functions : name => topic if topic != local.dead_letter_topic }

  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The service agent mints the OIDC tokens of push deliveries (needed in projects created before
# April 2021, harmless after).
resource "google_service_account_iam_member" "pubsub_push_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
