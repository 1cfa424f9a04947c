"""Review fixtures: scored submissions of known verdicts, and a second moderator."""
import pytest

from detection import services as detection_services
from detection.models import Submission
from tests.conftest import _user, make_image_bytes

# Colours the tiny detector scores as (probability, label, uncertain): see tests/conftest.py.
RED = (200, 30, 30)  # ~0.99, fake, confident
GREEN = (20, 200, 20)  # ~0.00, real, confident
DARK_RED = (70, 0, 0)  # ~0.57, fake, uncertain
DARKER_RED = (55, 0, 0)  # ~0.40, real, uncertain


def scored(uploader, color, name="photo.jpg", requested=False, organisation=None):
    """Upload and score an image as `uploader`; the review receiver routes it as the settings say."""
    submission = detection_services.submit(
        data=make_image_bytes(color=color), name=name, uploader=uploader, organisation=organisation, enqueue=False
    )
    if requested:
        Submission.objects.filter(pk=submission.pk).update(review_requested=True)
    detection_services.score(submission.pk)
    return Submission.objects.get(pk=submission.pk)


@pytest.fixture
def second_moderator(org):
    return _user("mod2@verity.test", "moderator", org)


@pytest.fixture
def role_admin(db):
    """An admin by role only (not a superuser): gets review powers from accounts.roles."""
    return _user("ops@verity.test", "admin", None, is_staff=True)


@pytest.fixture
def fake_item(journalist, active_model):
    return scored(journalist, RED, "fake.jpg").review_item
