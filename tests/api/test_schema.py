"""The committed OpenAPI contract (openapi.yaml) is what the code generates; the docs page serves it."""
import io
import json
from pathlib import Path

import yaml
from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_the_committed_schema_matches_the_code(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    generated = yaml.safe_load(out.getvalue())
    committed = yaml.safe_load(COMMITTED.read_text())
    assert generated == committed, (
        "openapi.yaml is out of date: run `python manage.py spectacular --file openapi.yaml` and commit it"
    )


def test_the_schema_and_the_interactive_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/submissions/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_the_served_schema_is_generated_once_per_process_and_is_the_same_for_everyone(client, db, monkeypatch, partner):
    from drf_spectacular.generators import SchemaGenerator

    from detection.api.schema import CachedSchemaGenerator

    monkeypatch.setattr(CachedSchemaGenerator, "_generated", {})
    generated = []
    get_schema = SchemaGenerator.get_schema
    monkeypatch.setattr(SchemaGenerator, "get_schema", lambda self, *a, **kw: generated.append(1) or get_schema(self, *a, **kw))

    anonymous = client.get("/api/schema/")
    client.force_login(partner)
    signed_in = client.get("/api/schema/")
    as_json = client.get("/api/schema/?format=json")

    assert len(generated) == 1  # an anonymous client cannot make the server generate it again and again
    assert anonymous.status_code == signed_in.status_code == as_json.status_code == 200
    assert anonymous.content == signed_in.content
    assert yaml.safe_load(anonymous.content) == yaml.safe_load(COMMITTED.read_text())
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(as_json.content) == yaml.safe_load(anonymous.content)
    assert anonymous["Content-Disposition"] == 'inline; filename="Verity partner API.yaml"'


def test_an_unknown_api_path_with_control_characters_gets_a_json_404(client):
    response = client.post("/api/v1/keys/a%0Ab%0Dc%C2%85d/revoke/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
