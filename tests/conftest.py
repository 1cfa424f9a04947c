"""Shared fixtures: tiny images made on the fly, one user per role, and a tiny real Keras detector.

The tiny detector is a real .keras file whose output depends on the image's red channel:
a red image scores near 1 (fake), a green or blue one near 0 (real). Tests can therefore assert labels.
"""
import io
import os
import shutil
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if os.environ.get("PYTEST_XDIST_WORKER") and "tests.xdist_isolation" not in sys.modules:
    # Processes sharing one broker take each other's Celery tasks: `make test` loads the plugin that separates them.
    pytest.exit("pytest -n needs -p tests.xdist_isolation (as `make test` runs it: see PYTEST_PARALLEL in the Makefile)", 4)

TINY_INPUT_SIZE = 32


def make_image_bytes(fmt="JPEG", size=(64, 48), color=(200, 30, 30), **save_kwargs):
    """Bytes of a solid-colour image in the given Pillow format."""
    buf = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" and len(color) == 4 else "RGB"
    Image.new(mode, size, color).save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, and before it drops them, an end to every other session on them.

    Tests that kill workers or run a live server can leave a connection behind (an orphaned pool process's, a
    server thread's); PostgreSQL refuses to drop a database in use, and the run ended with a teardown warning.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def image_bytes():
    return make_image_bytes


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Exporting every promoted test model to ONNX would cost tens of seconds each; tests that need it ask.
    settings.VERITY_EXPORT_ON_PROMOTE = False


@pytest.fixture(autouse=True)
def _eager_celery():
    """Unit tests run tasks in-process; the e2e tests start a real worker instead."""
    set_celery_eager(True)
    yield
    set_celery_eager(False)


def set_celery_eager(eager):
    from config.celery import app

    # The app reads Django settings under the CELERY namespace: the namespaced key is the one that counts.
    app.conf.CELERY_TASK_ALWAYS_EAGER = eager


def build_tiny_detector(path):
    """A real Keras model: P(fake) = sigmoid(12 r - 8 g - 8 b - 3), with r, g, b the channel means in [0, 1]."""
    import keras
    import numpy as np

    inputs = keras.Input((TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("fake_probability").set_weights([np.array([[12.0], [-8.0], [-8.0]]), np.array([-3.0])])
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return build_tiny_detector(tmp_path_factory.mktemp("models") / "tiny.keras")


@pytest.fixture
def active_model(db, tiny_model_path):
    from training import registry

    version = registry.register(
        name="tiny-test", artifact=tiny_model_path, architecture="TinyTest", input_size=TINY_INPUT_SIZE, is_trained=True
    )
    return registry.activate(version)


@pytest.fixture
def org(db):
    from accounts.models import Organisation

    return Organisation.objects.create(name="Daily Planet", slug="daily-planet")


@pytest.fixture
def other_org(db):
    from accounts.models import Organisation

    return Organisation.objects.create(name="Gotham Gazette", slug="gotham-gazette")


def _user(email, role, organisation=None, **extra):
    from accounts.models import User

    user = User.objects.create_user(email=email, password="correct horse battery", organisation=organisation, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def journalist(org):
    return _user("lois@planet.test", "journalist", org)


@pytest.fixture
def colleague(org):
    return _user("jimmy@planet.test", "journalist", org)


@pytest.fixture
def stranger(other_org):
    return _user("vicki@gazette.test", "journalist", other_org)


@pytest.fixture
def moderator(org):
    return _user("mod@verity.test", "moderator", org)


@pytest.fixture
def partner(db):
    from accounts.models import Organisation

    partner_org = Organisation.objects.create(name="Chirper", slug="chirper", kind=Organisation.Kind.PARTNER)
    return _user("api@chirper.test", "partner", partner_org)


@pytest.fixture
def admin_user(db):
    return _user("admin@verity.test", "admin", None, is_staff=True, is_superuser=True)


# ---------------------------------------------------------------- the browser (Debian's Chromium, driven by Playwright)

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-results"
# Without these, Chromium's background connections are refused by a closed network, many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture
def chromium():
    """A headless Chromium browser (skipped where it is not installed; a failure in CI, which must have it)."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # expect() waits for what the page shows; its 5 s default is too short for a busy 2-core machine.
    expect.set_options(timeout=30_000)

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(chromium):
    """A desktop-sized page in that browser, waiting up to a minute for what it expects."""
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    return page
