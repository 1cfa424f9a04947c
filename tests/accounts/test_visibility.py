"""A journalist sees only their own organisation's submissions; moderators and admins see all."""
import pytest
from django.urls import reverse

from detection import services
from tests.conftest import make_image_bytes


@pytest.fixture
def planet_submission(journalist, active_model):
    return services.submit(data=make_image_bytes(), name="planet.jpg", uploader=journalist, enqueue=False)


@pytest.fixture
def gazette_submission(stranger, active_model):
    return services.submit(data=make_image_bytes(color=(9, 9, 9)), name="gazette.jpg", uploader=stranger, enqueue=False)


def test_a_colleague_sees_the_organisations_submissions(client, colleague, planet_submission, gazette_submission):
    client.force_login(colleague)
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert "planet.jpg" in html and "gazette.jpg" not in html


@pytest.mark.parametrize("view", ["detection:submission-detail", "detection:submission-image"])
def test_a_stranger_gets_404_for_another_organisations_submission(client, stranger, planet_submission, view):
    client.force_login(stranger)
    assert client.get(reverse(view, args=[planet_submission.pk])).status_code == 404


def test_a_stranger_gets_no_status_for_another_organisations_submission(client, stranger, planet_submission):
    client.force_login(stranger)
    response = client.get(reverse("detection:submission-status"), {"ids": str(planet_submission.pk)})
    assert response.json() == {"submissions": []}


@pytest.mark.parametrize("who", ["moderator", "admin_user"])
def test_moderators_and_admins_see_every_organisation(client, request, who, planet_submission, gazette_submission):
    client.force_login(request.getfixturevalue(who))
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert "planet.jpg" in html and "gazette.jpg" in html
