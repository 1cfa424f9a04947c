"""Every main page fits its viewport: a desktop at 1280x800 and a phone at 390x844, in a real headless Chromium.

Each page is saved as a full-page screenshot in test-results/layout-<page>-<viewport>.png, so that a person can
look at them; the test fails when a page is wider than the viewport (the reader would have to scroll sideways)
or when a button sits off the line of what it stands beside (the header's Sign out, a page heading's action).
"""
import pytest
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, reverse

from detection.models import Submission
from tests.conftest import _user
from tests.conftest import SCREENSHOTS
from tests.review.conftest import DARK_RED, GREEN, RED, scored
from training import registry

pytestmark = [pytest.mark.browser]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# The kind of name a camera roll or a newsroom's file naming produces: no spaces to break at.
LONG_NAME = "IMG_20261130_protest-at-city-hall-square-crowd-and-police-line-final-edit-v3-approved.jpg"
# Source names as long as the shipped model's (models/default.json): they widen the comparison table.
SOURCES = ("ffhq_stylegan_roeishc", "lfw_faceswap", "yonsei_rff", "celebdf_v2_frames", "diffusiondb_faces")


def _metrics(seed):
    test = {"all": {"roc_auc": 0.9 + seed / 100, "accuracy": 0.83, "f1": 0.81, "mcc": 0.66, "eer": 0.17}}
    test.update({s: {"roc_auc": 0.8 + (seed + i) / 100} for i, s in enumerate(SOURCES)})
    return {
        "params": 3414305 + seed, "epochs_trained": 12, "training_seconds": 5123.4, "train_images_per_second": 181.2,
        "inference_images_per_second": 412.9, "valid": {"all": {"roc_auc": 0.91}}, "test": test,
        "robustness": {"jpeg_75": {"all": {"roc_auc": 0.88, "auc_drop": 0.0213, "accuracy": 0.79}}},
    }  # fmt: skip


@pytest.fixture
def site(live_server, journalist, moderator, admin_user, active_model, tiny_model_path):
    """A platform in use: scored uploads (one with a long file name), a review item, model versions, audit events."""
    long_named = scored(journalist, GREEN, LONG_NAME)
    fake = scored(journalist, RED, "rally.jpg")
    scored(journalist, DARK_RED, "harbour-at-dusk.jpg")
    for seed, name in enumerate(("efficientnetlite0-faces-v2", "efficientnetv2b1-faces-v3-longer-training")):
        registry.register(
            name=name, artifact=tiny_model_path, architecture="EfficientNetLite0", input_size=224,
            is_trained=True, metrics=_metrics(seed),
        )  # fmt: skip
    version = registry.register(
        name="tiny-with-metrics", artifact=tiny_model_path, input_size=32, is_trained=True, metrics=_metrics(3)
    )
    return {"long_named": long_named, "fake": Submission.objects.get(pk=fake.pk), "version": version}


def _pages(site):
    """(name, who, path) for every main page; who is the fixture name of the user who sees it, or None."""
    long_named, fake = site["long_named"], site["fake"]
    pages = [
        ("login", None, reverse("login")),
        ("not-found", None, "/no-such-page/"),
        ("not-found-signed-in", "journalist", "/no-such-page/"),
        ("forbidden", "journalist", reverse("training:index")),
        ("submission-list", "journalist", reverse("detection:submission-list")),
        ("upload", "journalist", reverse("detection:upload")),
        ("submission-detail", "journalist", reverse("detection:submission-detail", args=[long_named.pk])),
        ("submission-detail-fake", "journalist", reverse("detection:submission-detail", args=[fake.pk])),
        ("review-queue", "moderator", reverse("review:queue")),
        ("review-item", "moderator", reverse("review:item", args=[fake.review_item.pk])),
        ("audit", "moderator", reverse("audit:event-list")),
        ("training-index", "admin_user", reverse("training:index")),
        ("training-compare", "admin_user", reverse("training:compare")),
        ("training-version", "admin_user", reverse("training:version-detail", args=[site["version"].pk])),
    ]
    for name, who, url_name, args in (
        ("submission-report", "journalist", "detection:submission-report", [long_named.pk]),
        ("api-keys", "partner_admin", "accounts:api-keys", []),
        ("api-keys", "partner_admin", "api-keys", []),
    ):
        try:  # pages other parts of the issue add: checked once they exist
            pages.append((name, who, reverse(url_name, args=args)))
        except NoReverseMatch:
            pass
    return pages


# [what, pixels off] for every button whose middle is more than 4 px off the middle of what it stands on a line with:
# the header's Sign out beside the signed-in user's name, a page heading's action beside the heading (an h1's
# margins put its box 0.1 em below its text's middle: 2.6 px).
MISALIGNED_BUTTONS = """() => {
  const middle = (element) => { const r = element.getBoundingClientRect(); return (r.top + r.bottom) / 2; };
  const off = [];
  const who = document.querySelector(".signout .who"), signOut = document.querySelector(".signout button");
  if (who && signOut) off.push(["Sign out", Math.abs(middle(who) - middle(signOut))]);
  for (const heading of document.querySelectorAll(".heading")) {
    const title = heading.querySelector("h1");
    if (!title) continue;
    const t = title.getBoundingClientRect();
    for (const button of heading.querySelectorAll(".button, button")) {
      const r = button.getBoundingClientRect();
      if (r.top < t.bottom && r.bottom > t.top) off.push([button.textContent.trim(), Math.abs(middle(title) - middle(button))]);
    }
  }
  return off.filter(([, pixels]) => pixels > 4);
}"""


def _session_cookie(user, url):
    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": url}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_main_page_fits_the_viewport_and_is_saved_as_a_screenshot(
    chromium, live_server, site, viewport, journalist, moderator, admin_user
):
    users = {"journalist": journalist, "moderator": moderator, "admin_user": admin_user}
    if any(who == "partner_admin" for _, who, _ in _pages(site)):
        from accounts.models import Organisation

        partner_org = Organisation.objects.create(name="Chirper", slug="chirper", kind=Organisation.Kind.PARTNER)
        from django.contrib.auth.models import Permission

        users["partner_admin"] = _user("keys@chirper.test", "partner", partner_org)
        users["partner_admin"].user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    size = VIEWPORTS[viewport]
    SCREENSHOTS.mkdir(exist_ok=True)
    too_wide, misaligned = [], []
    contexts = {}
    try:
        for name, who, path in _pages(site):
            if who not in contexts:
                contexts[who] = chromium.new_context(viewport=size)
                if who:
                    contexts[who].add_cookies([_session_cookie(users[who], live_server.url)])
            page = contexts[who].new_page()
            response = page.goto(live_server.url + path)
            expected = {"not-found": 404, "forbidden": 403}.get(name.rsplit("-signed-in", 1)[0], 200)
            assert response.status == expected, f"{name}: {response.status}"
            page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{viewport}.png"), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > size["width"]:
                too_wide.append(f"{name} ({path}) is {width} px wide")
            misaligned.extend(f"{name}: {what!r} {pixels:.1f} px" for what, pixels in page.evaluate(MISALIGNED_BUTTONS))
            if name == "submission-report" and viewport == "desktop":
                page.emulate_media(media="print")  # what Print gives: print.css, no navigation
                assert not page.locator(".topbar").is_visible() and not page.get_by_text("Download PDF").is_visible()
                page.screenshot(path=str(SCREENSHOTS / "layout-submission-report-print.png"), full_page=True)
            page.close()
    finally:
        for context in contexts.values():
            context.close()
    assert not too_wide, f"wider than the {size['width']} px {viewport} viewport: " + "; ".join(too_wide)
    assert not misaligned, "buttons off the line of what they stand beside: " + "; ".join(misaligned)
