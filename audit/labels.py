"""What the audit trail's action codes and object types mean, in the words the audit page shows.

The codes stay the record (they are hashed, exported and filtered on); these labels are only how they read.
An action without a label here still shows, as its code made readable.
"""

ACTION_LABELS = {
    "user.signed_in": "Signed in",
    "user.sign_in_failed": "Sign-in failed",
    "user.roles_added": "Roles given",
    "user.roles_removed": "Roles taken away",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "api_key.used": "API key used",
    "api_key.refused": "API key refused",
    "submission.uploaded": "Image uploaded",
    "submission.rejected": "Upload refused",
    "submission.scored": "Scored by the detector",
    "submission.failed": "Scoring failed",
    "review.opened": "Sent for review",
    "review.claimed": "Claimed for review",
    "review.released": "Put back in the queue",
    "review.claim_expired": "Claim expired",
    "review.escalated": "Second opinion asked",
    "review.disputed": "Moderators disagreed",
    "review.decided": "Decided",
    "review.reopened": "Decision reopened",
    "review.dataset_exported": "Decisions exported as a dataset",
    "webhook.secret_rotated": "Webhook secret replaced",
    "webhook.resent": "Webhook sent again",
    "webhook.failed": "Webhook gave up",
    "model.registered": "Model version added",
    "model.promoted": "Model version made active",
    "model.exported": "Model exported to ONNX",
    "model.export_refused": "Model export refused",
    "training.started": "Training started",
    "training.cancel_requested": "Training cancel asked",
    "training.cancelled": "Training cancelled",
    "training.failed": "Training failed",
    "training.succeeded": "Training finished",
    "audit.exported": "Audit trail exported",
}

# The part of an action code before the dot, for "all review actions" and the like.
AREA_LABELS = {
    "user": "Accounts and sign-in",
    "api_key": "API keys",
    "submission": "Uploads and scoring",
    "review": "Review",
    "webhook": "Webhooks",
    "model": "Model versions",
    "training": "Training",
    "audit": "Audit trail",
}

TARGET_LABELS = {
    "accounts.user": "User",
    "accounts.organisation": "Organisation",
    "accounts.apikey": "API key",
    "detection.submission": "Submission",
    "detection.webhookdelivery": "Webhook",
    "review.reviewitem": "Review item",
    "training.modelversion": "Model version",
    "training.trainingrun": "Training run",
}


def action_label(code):
    """'review.claimed' -> 'Claimed for review'; an unknown code reads as its words ('foo.bar_baz' -> 'Foo: bar baz')."""
    if code in ACTION_LABELS:
        return ACTION_LABELS[code]
    area, _, verb = code.partition(".")
    words = (verb or area).replace("_", " ")
    return f"{area.replace('_', ' ').capitalize()}: {words}" if verb else words.capitalize()


# Actions whose words depend on what the event recorded: {code: {(data key, value): label}}.
DATA_LABELS = {
    "submission.uploaded": {("kind", "video"): "Clip uploaded"},
}


def event_label(event):
    """The words for one event's action: action_label, unless its data makes them more precise (a clip
    uploaded rather than an image)."""
    for (key, value), label in DATA_LABELS.get(event.action, {}).items():
        if (event.data or {}).get(key) == value:
            return label
    return action_label(event.action)


def area_label(area):
    return AREA_LABELS.get(area, area.replace("_", " ").capitalize())


def target_label(target_type):
    return TARGET_LABELS.get(target_type, target_type.rpartition(".")[2].replace("_", " ").capitalize())
