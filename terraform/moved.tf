# Resources that exist only in some designs are counted (locals.tf); these
# blocks tell Terraform that a deployment made before var.topology existed
# already has instance [0] of each, so upgrading replaces nothing.

moved {
  from = google_cloud_run_v2_service.ingress
  to   = google_cloud_run_v2_service.ingress[0]
}

moved {
  from = google_cloud_run_v2_service.worker
  to   = google_cloud_run_v2_service.worker[0]
}

moved {
  from = google_cloud_run_v2_service_iam_member.worker_push_invoker
  to   = google_cloud_run_v2_service_iam_member.worker_push_invoker[0]
}

moved {
  from = google_pubsub_topic.jobs
  to   = google_pubsub_topic.jobs[0]
}

moved {
  from = google_pubsub_topic.dead_letter
  to   = google_pubsub_topic.dead_letter[0]
}

moved {
  from = google_pubsub_subscription.dead_letter
  to   = google_pubsub_subscription.dead_letter[0]
}

moved {
  from = google_pubsub_subscription.worker_push
  to   = google_pubsub_subscription.worker_push[0]
}

moved {
  from = google_pubsub_subscription.dead_letter_push
  to   = google_pubsub_subscription.dead_letter_push[0]
}

moved {
  from = google_pubsub_topic_iam_member.ingress_publishes_jobs
  to   = google_pubsub_topic_iam_member.ingress_publishes_jobs[0]
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_publisher
  to   = google_pubsub_topic_iam_member.dead_letter_publisher[0]
}

moved {
  from = google_pubsub_subscription_iam_member.dead_letter_subscriber
  to   = google_pubsub_subscription_iam_member.dead_letter_subscriber[0]
}

moved {
  from = google_service_account_iam_member.pubsub_mints_push_tokens
  to   = google_service_account_iam_member.pubsub_mints_push_tokens[0]
}

# The public services were opened with an allUsers invoker binding; they
# now turn the invoker check off instead (invoker_iam_disabled, run.tf),
# which also works under domain-restricted sharing. Terraform forgets the
# old bindings without deleting them, so Discord is not refused for a
# moment while the service is updated; the now idle binding can be deleted
# by hand afterwards (docs/DEPLOY.md, "Upgrading and rolling back").
removed {
  from = google_cloud_run_v2_service_iam_member.ingress_public

  lifecycle {
    destroy = false
  }
}

removed {
  from = google_cloud_run_v2_service_iam_member.single_public

  lifecycle {
    destroy = false
  }
}
