"""The committed OpenAPI contract (openapi.yaml) is what the code generates; the docs page serves it."""
import io
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


def test_an_unknown_api_path_with_control_characters_gets_a_json_404(client):
    response = client.post("/api/v1/keys/a%0Ab%0Dc%C2%85d/revoke/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
