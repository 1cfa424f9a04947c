"""The API docs (Swagger UI and ReDoc) render in Chromium with every request off this machine refused."""
from urllib.parse import urlsplit

import pytest

from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser]


@pytest.fixture
def offline_page(browser_page):
    """The page, with every request to a host other than this machine aborted and remembered (kind, URL)."""
    refused = []

    def only_this_machine(route):
        if urlsplit(route.request.url).hostname in ("localhost", "127.0.0.1"):
            route.continue_()
        else:
            refused.append((route.request.resource_type, route.request.url))
            route.abort()

    browser_page.route("**/*", only_this_machine)
    browser_page.refused = refused
    return browser_page


def test_swagger_ui_lists_the_operations_without_the_internet(live_server, offline_page, db):
    from playwright.sync_api import expect

    page = offline_page
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.get_by_role("heading", name="Verity partner API")).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/submissions/{id}/"]')).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/keys/"]').first).to_be_visible()
    assert page.locator(".opblock-summary-path").count() >= 8
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
    assert page.refused == []


def test_redoc_shows_the_reference_without_the_internet(live_server, offline_page, db):
    from playwright.sync_api import expect

    page = offline_page
    page.goto(f"{live_server.url}/api/redoc/")
    expect(page.get_by_role("heading", name="Submit one image or clip (a file or a URL to fetch)")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "api-redoc.png"), full_page=False)
    # Only ReDoc's "powered by" logo is asked of its CDN; nothing the page needs to render.
    assert [kind for kind, url in page.refused] in ([], ["image"])
