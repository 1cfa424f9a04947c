"""The API refuses what its contract (openapi.yaml) calls invalid, and the contract says what the API does."""
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.api.serializers import VERDICTS
from detection.models import Submission
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")
CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())


def operation(path, method):
    return CONTRACT["paths"][path][method]


def errors(response):
    return [(e["code"], e["attr"]) for e in response.json()["errors"]]


@pytest.mark.parametrize("query", ["verdict=", "status=", "created_after=", "verdict=maybe"])
def test_an_empty_or_unknown_filter_is_refused_not_ignored(api, query):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 400, response.json()
    assert errors(response)[0][1] == query.split("=")[0]


def test_the_contract_lists_every_verdict_and_forbids_an_empty_one():
    verdict = next(p for p in operation("/api/v1/submissions/", "get")["parameters"] if p["name"] == "verdict")
    assert set(verdict["schema"]["enum"]) == set(VERDICTS) >= {"real", "fake", "authentic", "ai_generated"}
    assert "" not in verdict["schema"]["enum"]


@pytest.mark.parametrize("when", ["2026-01-01", "2026-01-01 10:00:00", "2026-01-01T10:00"])
def test_a_date_that_is_not_rfc_3339_is_refused(api, when):
    assert api.get(LIST, {"created_after": when}).status_code == 400


def test_an_rfc_3339_date_filters_the_list(api, partner, active_model):
    response = api.get(LIST, {"created_after": "2000-01-01T00:00:00Z", "verdict": "fake"})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("size", ["0", "-1", "ten", "", "٣"])
def test_a_page_size_that_is_not_a_whole_number_from_one_is_refused(api, size):
    response = api.get(LIST, {"page_size": size})
    assert response.status_code == 400 and errors(response) == [("invalid", "page_size")]


def test_a_page_size_above_the_maximum_gives_the_maximum(api):
    assert api.get(LIST, {"page_size": "100000"}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"image": "", "url": "0", "callback_url": ""},  # what schemathesis found: valid by the old contract
        {},
        {"callback_url": "https://example.test/hook"},
    ],
)
def test_a_json_submission_needs_exactly_one_url_and_the_contract_says_so(api, body):
    assert api.post(LIST, body, format="json").status_code == 400
    json_body = operation("/api/v1/submissions/", "post")["requestBody"]["content"]["application/json"]["schema"]
    component = CONTRACT["components"]["schemas"][json_body["$ref"].rsplit("/", 1)[1]]
    assert component["required"] == ["url"] and component["additionalProperties"] is False


def test_a_multipart_submission_with_both_a_file_and_a_url_is_refused(api):
    image = SimpleUploadedFile("a.jpg", make_image_bytes(), content_type="image/jpeg")
    response = api.post(LIST, {"image": image, "url": "https://example.test/a.jpg"}, format="multipart")
    assert response.status_code == 400 and errors(response) == [("image_or_url_required", "non_field_errors")]
    multipart = CONTRACT["components"]["schemas"]["SubmissionUploadRequest"]
    assert [alt["$ref"].rsplit("/", 1)[1] for alt in multipart["anyOf"]] == ["SubmissionByFileRequest", "SubmissionByUrlRequest"]


def test_a_misspelt_field_is_refused_not_ignored(api):
    response = api.post(LIST, {"url": "https://example.test/a.jpg", "callbackurl": "x"}, format="json")
    assert response.status_code == 400 and errors(response) == [("unknown_field", "non_field_errors")]
    assert "callbackurl" in response.json()["errors"][0]["detail"]


def test_a_number_is_not_a_url(api):
    response = api.post(LIST, {"url": 0}, format="json")
    assert response.status_code == 400 and errors(response) == [("invalid", "url")]


@pytest.mark.parametrize("body", [{"images": [], "urls": []}, {"urls": []}, {}])
def test_a_batch_needs_a_non_empty_list_and_the_contract_says_so(api, body):
    assert api.post(BATCH, body, format="json").status_code == 400
    urls = CONTRACT["components"]["schemas"]["BatchByUrlsRequest"]["properties"]["urls"]
    assert urls["minItems"] == 1 and urls["maxItems"] == 20


def test_a_created_submission_links_to_its_result_and_a_created_key_to_its_revocation():
    created = operation("/api/v1/submissions/", "post")["responses"]["201"]["links"]["GetSubmissionResult"]
    assert created == {
        "operationId": "submissions_retrieve",
        "parameters": {"id": "$response.body#/id"},
        "description": created["description"],
    }
    assert operation("/api/v1/submissions/{id}/", "get")["operationId"] == "submissions_retrieve"
    batch = operation("/api/v1/submissions/batch/", "post")["responses"]["201"]["links"]["GetFirstAcceptedResult"]
    assert batch["parameters"] == {"id": "$response.body#/accepted/0/id"}
    key = operation("/api/v1/keys/", "post")["responses"]["201"]["links"]["RevokeKey"]
    assert key["operationId"] == operation("/api/v1/keys/{id}/revoke/", "post")["operationId"]


def test_the_key_operations_ask_for_the_session_and_for_posts_the_csrf_token():
    assert operation("/api/v1/keys/", "get")["security"] == [{"cookieAuth": []}]
    assert operation("/api/v1/keys/", "post")["security"] == [{"cookieAuth": [], "csrfCookie": [], "csrfToken": []}]


def test_an_empty_scope_list_is_refused_and_the_contract_says_so(client, partner):
    from django.contrib.auth.models import Permission

    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    client.force_login(partner)
    response = client.post(reverse("api:key-list"), {"name": "x", "scopes": []}, content_type="application/json")
    assert response.status_code == 400
    assert CONTRACT["components"]["schemas"]["ApiKeyRequest"]["properties"]["scopes"]["minItems"] == 1


def test_an_api_upload_names_the_key_that_sent_it(api, partner_key, active_model):
    image = SimpleUploadedFile("a.jpg", make_image_bytes(), content_type="image/jpeg")
    created = api.post(LIST, {"image": image}, format="multipart").json()
    assert created["uploaded_by"] == "API key “tests”"
    assert Submission.objects.get(pk=created["id"]).api_key == partner_key[0]
