"""A staff member opens Operations from the top bar and finds every section, in a real headless Chromium."""
import re

import pytest
from playwright.sync_api import expect

from detection.models import WebhookDelivery
from ops import worker
from tests.conftest import SCREENSHOTS
from tests.ops.conftest import make_submission

pytestmark = [pytest.mark.browser]


def test_staff_open_the_operations_page_and_see_each_section(live_server, browser_page, admin_user, active_model, monkeypatch):
    make_submission("queued", age_seconds=400, name="stuck-at-the-door.jpg")
    make_submission("scored", age_seconds=900)
    hung = make_submission("processing", age_seconds=1500, name="hung-in-scoring.jpg")
    WebhookDelivery.objects.create(
        submission=hung, event="submission.scored", url="https://partner.test/callback", payload={},
        status="failed", attempt_count=8,
    )  # fmt: skip
    identity = worker.WorkerIdentity(hostname="cpu@worker-1", pid=4242, queues=["inference"])
    monkeypatch.setattr(worker, "_identity", identity)
    worker.write_start(identity)
    worker.record_batch("tiny-test", "onnx", run_size=2)

    page = browser_page
    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill("admin@verity.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Operations").click()

    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    for heading in ("Queues", "Uploads by status", "Stuck uploads", "Workers", "Failed webhook deliveries"):
        expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
    expect(page.locator("tr[data-queue=inference] td.num")).to_have_text(re.compile(r"^\d+ tasks?$"))
    expect(page.locator("tr[data-status=queued] td")).to_have_text("1")
    expect(page.locator("table.ops-stuck")).to_contain_text("hung-in-scoring.jpg")
    expect(page.locator("table.ops-stuck")).to_contain_text("25 min")
    worker_row = page.locator("tr[data-worker='cpu@worker-1']")
    expect(worker_row).to_contain_text("tiny-test")
    expect(worker_row).to_contain_text("onnx")
    run_column = page.locator("table.ops-workers th", has_text="Images per run")
    expect(run_column).to_be_visible()
    expect(worker_row.locator("td").nth(3)).to_have_text("2")  # queues, version, runtime, then images per run
    expect(page.locator("table.ops-webhooks")).to_contain_text("https://partner.test/callback")
    expect(page.get_by_role("link", name="Open in admin")).to_be_visible()

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ops-page.png"), full_page=True)
