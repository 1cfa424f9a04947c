"""A partner admin finds the API keys page from the navigation, makes a key, copies it, sees it once, revokes it."""
import pytest
from django.contrib.auth.models import Permission

from accounts.models import ApiKey
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser]


def test_a_partner_admin_creates_a_key_sees_it_once_and_revokes_it(live_server, browser_page, partner):
    from playwright.sync_api import expect

    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill(partner.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="API docs")).to_be_visible()
    nav.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    page.get_by_label("Name").fill("newsroom-bot")
    page.get_by_label("Read results").uncheck()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Your new key “newsroom-bot”")).to_be_visible()
    secret = page.get_by_label("The new API key").input_value()
    key = ApiKey.objects.get(name="newsroom-bot")
    assert secret.startswith(key.prefix + "_") and key.scopes == ["submit"]
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_text("The key is on your clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("table.keys tr", has_text="newsroom-bot")
    expect(row).to_contain_text("Submit images")
    expect(row).to_contain_text("Never")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-keys-new.png"), full_page=True)

    # Shown once: the next visit lists the key by its prefix, never the key itself.
    nav.get_by_role("link", name="API keys").click()
    expect(row).to_contain_text(key.prefix)
    expect(page.get_by_label("The new API key")).to_have_count(0)
    assert secret not in page.content()

    row.get_by_role("link", name="Revoke newsroom-bot").click()
    expect(page.get_by_role("heading", name="Revoke “newsroom-bot”?")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "api-keys-revoke.png"), full_page=True)
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("Revoked “newsroom-bot”")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("link", name="Revoke newsroom-bot")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "api-keys.png"), full_page=True)
    key.refresh_from_db()
    assert key.revoked_by == partner

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "api-keys-phone.png"), full_page=True)
