"""Every state change a person would ask "who did this, when?" about is in the trail, and the chain holds."""
from django.contrib.auth.models import Group
from django.urls import reverse

from audit import services as audit_services
from audit.models import AuditEvent
from detection import services as detection_services
from review import services as review_services
from tests.conftest import make_image_bytes
from training import registry


def test_uploads_scores_claims_releases_decisions_escalations_reopenings_promotions_roles_and_sign_ins(
    client, journalist, moderator, admin_user, active_model, tiny_model_path
):
    client.post(reverse("login"), {"username": journalist.email, "password": "wrong"})
    client.post(reverse("login"), {"username": journalist.email, "password": "correct horse battery"})
    submission = detection_services.submit(data=make_image_bytes(), name="x.jpg", uploader=journalist, enqueue=False)
    detection_services.score(submission.pk)
    item = submission.review_item
    review_services.claim(item.pk, moderator)
    review_services.release(item.pk, moderator)
    review_services.claim(item.pk, moderator)
    review_services.escalate(item.pk, moderator, "second pair of eyes")
    review_services.claim(item.pk, admin_user)
    review_services.decide(item.pk, admin_user, "manipulated", "spliced")
    review_services.reopen(item.pk, admin_user, "new evidence")
    registry.activate(registry.register(name="v2", artifact=tiny_model_path, input_size=32, is_trained=True), admin_user)
    moderator.groups.add(Group.objects.get(name="admin"))

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    expected = {
        "user.signed_in", "user.sign_in_failed", "submission.uploaded", "submission.scored", "review.opened",
        "review.claimed", "review.released", "review.escalated", "review.decided", "review.reopened",
        "model.registered", "model.promoted", "user.roles_added",
    }  # fmt: skip
    assert expected <= actions, expected - actions
    assert audit_services.verify() is None
