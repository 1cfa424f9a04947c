"""Schemathesis, all four phases (examples, coverage, fuzzing, stateful), against a live server over HTTP.

The `schemathesis run` command talks to pytest-django's live server (a real threaded WSGI server on a free
127.0.0.1 port) with a real API key, and to the key-management operations with a partner admin's portal
session (cookie and CSRF token). The server runs in this process so that the fetcher and webhooks can be
given a stand-in internet (`stand_in_internet`): no generated URL leaves this machine, yet a well-formed
public URL succeeds, so the happy paths and the links between operations are exercised too. Run time is
bounded by a small number of examples per operation (about a minute on two cores). The reports are kept in
test-results/schemathesis/.
"""
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from accounts.api_keys import create_api_key
from detection import fetch, services, webhooks
from tests.conftest import make_image_bytes

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "openapi.yaml"
REPORTS = ROOT / "test-results" / "schemathesis"
MAX_EXAMPLES = 12
TIME_LIMIT_S = 600  # a guard: a run takes about a minute
KEY_OPERATIONS = "^/api/v1/keys/"
STAND_IN_ADDRESS = "1.1.1.1"  # public, so the URL guard lets it through; nothing ever connects to it


@pytest.fixture
def stand_in_internet(monkeypatch):
    """No generated URL leaves this machine, yet a well-formed public URL works as it would on the internet.

    Host names "resolve" to a public address (an IP literal to itself, so the guard still refuses private
    ones); a fetch that passes the guard returns a small JPEG; a webhook that passes it is answered 200
    without being sent.
    """

    def resolve(host, port):
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            return [STAND_IN_ADDRESS]

    def fetch_image(url, **kwargs):
        fetch.check_url(url)
        return fetch.FetchedImage(data=make_image_bytes(), name="fetched.jpg", url=url)

    def post_json(url, body, **kwargs):
        fetch.check_url(url)
        return 200, "ok"

    monkeypatch.setattr(fetch, "resolve", resolve)
    monkeypatch.setattr(fetch, "fetch_image", fetch_image)
    monkeypatch.setattr(webhooks, "post_json", post_json)


def schemathesis_config(path, *, api_key, session, csrf):
    """A schemathesis.toml: the key for the partner operations, the signed-in session for the key operations."""
    upload_statuses = ", ".join(f'"{status}"' for status in ["2xx", "400", "401", "403", "404", "409", "429"])
    path.write_text(
        f"""
[auth.openapi.ApiKey]
bearer = "{api_key}"

[auth.openapi.cookieAuth]
api_key = "{session}"

[auth.openapi.csrfCookie]
api_key = "{csrf}"

[auth.openapi.csrfToken]
api_key = "{csrf}"

# A valid upload may be refused for its content (not an image; a URL that cannot be fetched here):
# schemathesis_hooks.py checks that such a 400 names only those reasons.
[[operations]]
include-path-regex = "^/api/v1/submissions/(batch/)?$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = [{upload_statuses}]
"""
    )
    return path


def run_schemathesis(base_url, config, *, include=None, exclude=None, report_dir):
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config), "run", str(CONTRACT),
        "--url", base_url, "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES), "--seed", "13",
        "--workers", "1", "--request-timeout", "20", "--suppress-health-check", "all",
        "--report", "ndjson", "--report-dir", str(report_dir),
    ]  # fmt: skip
    if include:
        command += ["--include-path-regex", include]
    if exclude:
        command += ["--exclude-path-regex", exclude]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.api.schemathesis_hooks", PYTHONPATH=str(ROOT))
    # In a folder of its own: schemathesis keeps a cache folder in the working directory.
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIME_LIMIT_S, env=env, cwd=report_dir.parent
    )


@pytest.fixture
def contract_world(live_server, stand_in_internet, partner, active_model):
    """A partner admin, their key and session, and one scored submission to read."""
    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    _, raw_key = create_api_key(organisation=partner.organisation, name="schemathesis", scopes=["submit", "read"])
    known = services.submit(data=make_image_bytes(), name="known.jpg", uploader=partner, source="api", enqueue=False)
    services.score(known.pk)
    client = Client()
    client.force_login(partner)
    return {"api_key": raw_key, "session": client.cookies["sessionid"].value, "csrf": _get_new_csrf_string()}


def test_every_phase_of_schemathesis_finds_the_live_api_within_its_contract(live_server, contract_world, tmp_path):
    config = schemathesis_config(tmp_path / "schemathesis.toml", **contract_world)
    shutil.rmtree(REPORTS, ignore_errors=True)  # the counts below read this run's reports only
    REPORTS.mkdir(parents=True)
    # Partner operations first; the key operations last, as their fuzzing may revoke keys.
    runs = {
        "partner": run_schemathesis(live_server.url, config, exclude=KEY_OPERATIONS, report_dir=REPORTS / "partner"),
        "keys": run_schemathesis(live_server.url, config, include=KEY_OPERATIONS, report_dir=REPORTS / "keys"),
    }
    for name, run in runs.items():
        (REPORTS / f"{name}.txt").write_text(run.stdout + run.stderr)
    for name, run in runs.items():
        assert run.returncode == 0, f"schemathesis ({name}) found problems:\n{run.stdout[-20000:]}\n{run.stderr[-3000:]}"
    answers = answers_in(REPORTS / "partner") + answers_in(REPORTS / "keys")
    print("schemathesis:", sum(answers.values()), "requests;", dict(sorted(answers.items())))
    # The credentials were accepted and the happy paths reached, not only refusals.
    for operation, status in [
        ("GET /api/v1/submissions/", 200),
        ("POST /api/v1/submissions/", 201),
        ("POST /api/v1/submissions/batch/", 201),
        ("GET /api/v1/submissions/{id}/", 200),
        ("GET /api/v1/keys/", 200),
        ("POST /api/v1/keys/", 201),
        ("POST /api/v1/keys/{id}/revoke/", 200),
    ]:
        assert answers[(operation, status, "any")] > 0, f"{operation} never answered {status}"
    # The stateful phase followed the links: from a created submission to its result, from a key to its revocation.
    assert answers[("GET /api/v1/submissions/{id}/", 200, "stateful link")] > 0
    assert answers[("POST /api/v1/keys/{id}/revoke/", 200, "stateful link")] > 0


def answers_in(report_dir):
    """(operation, status, "any" or "stateful link") → how many responses, from schemathesis's NDJSON report."""
    answers = Counter()
    for report in report_dir.glob("*.ndjson"):
        for line in report.read_text().splitlines():
            scenario = json.loads(line).get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            for case_id, interaction in recorder.get("interactions", {}).items():
                case = recorder["cases"][case_id]
                label = f"{case['value']['method']} {case['value']['path']}"
                status = interaction["response"]["status_code"] if interaction.get("response") else None
                answers[(label, status, "any")] += 1
                if scenario["phase"] == "stateful" and case.get("is_transition_applied"):
                    answers[(label, status, "stateful link")] += 1
    return answers
