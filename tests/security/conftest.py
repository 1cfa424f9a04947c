"""Two organisations with something of everything, one signed-in client per role, and API-key clients of each scope.

Organisation A ("Alpha Wire", a partner) has a journalist, a partner admin (who manages its API keys) and keys
of every scope; organisation B ("Beta News", a newsroom) has a journalist and one key. Each has a submission
with a detection, a forensic image and a webhook signing secret. Moderators and admins belong to neither.
"""
import dataclasses
import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client
from django.utils.crypto import get_random_string

from accounts.api_keys import create_api_key
from accounts.models import Organisation, User
from detection import services, webhooks
from detection.models import Detection, Evidence, Submission
from review.models import ReviewItem
from tests.conftest import make_image_bytes
from training.models import ModelVersion, TrainingRun

# Column order of the permission matrix; every role is a way in that an attacker might hold.
ROLES = ("anon", "jA", "jB", "mod", "admin", "padmA", "kA:r", "kA:s", "kA:rs", "kB:rs")
ROLE_NAMES = {
    "anon": "anonymous (no session, no key)",
    "jA": "journalist of organisation A",
    "jB": "journalist of organisation B",
    "mod": "moderator",
    "admin": "admin (staff, superuser)",
    "padmA": "partner admin of organisation A (manages A's API keys)",
    "kA:r": "API key of A, scope read",
    "kA:s": "API key of A, scope submit",
    "kA:rs": "API key of A, scopes read and submit",
    "kB:rs": "API key of B, scopes read and submit",
}
KEY_SCOPES = {"kA:r": ("A", ["read"]), "kA:s": ("A", ["submit"]), "kA:rs": ("A", ["read", "submit"]), "kB:rs": ("B", ["read", "submit"])}


@dataclasses.dataclass
class Org:
    organisation: Organisation
    journalist: User
    submission: object
    detection: Detection
    video: object  # a clip with a poster, one sampled frame and one face track
    victim_key: object  # a key no client uses, for the revoke URLs


@dataclasses.dataclass
class World:
    A: Org
    B: Org
    moderator: User
    admin: User
    partner_admin: User
    review_item: ReviewItem
    run: TrainingRun
    version: ModelVersion
    raw_keys: dict  # role -> raw API key

    def user_for(self, role):
        return {"jA": self.A.journalist, "jB": self.B.journalist, "mod": self.moderator, "admin": self.admin,
                "padmA": self.partner_admin}.get(role)  # fmt: skip


@pytest.fixture(autouse=True)
def _security_settings(settings):
    """Fast password hashing, generous API limits, and throttle counters (a cache key prefix) of this test only."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min", "organisation": "100000/min"},
    }


def _person(email, role, organisation=None, **extra):
    user = User.objects.create_user(email=email, password=None, organisation=organisation, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _org(name, slug, kind, journalist_email, version, color):
    organisation = Organisation.objects.create(name=name, slug=slug, kind=kind)
    journalist = _person(journalist_email, "journalist", organisation)
    submission = services.submit(data=make_image_bytes(color=color), name=f"{slug}.jpg", uploader=journalist, enqueue=False)
    detection = Detection.objects.create(
        submission=submission, model_version=version, probability=0.9, label="fake", threshold=0.5,
        preprocess_ms=1, inference_ms=1, total_ms=1,
    )  # fmt: skip
    heatmap = default_storage.save(f"evidence/{submission.pk}-heatmap.png", ContentFile(make_image_bytes("PNG")))
    Evidence.objects.create(submission=submission, detection=detection, status="done", heatmap_image=heatmap)
    webhooks.signing_secret(organisation)
    victim_key, _ = create_api_key(organisation=organisation, name="victim", scopes=["read"])
    return Org(organisation, journalist, submission, detection, _video(submission, version), victim_key)


def _video(image, version):
    """A scored clip as the video pipeline leaves it (the image's bytes stand in for the clip: only access is tested)."""
    jpeg = default_storage.save(f"frames/{image.pk}-0.jpg", ContentFile(make_image_bytes("JPEG", size=(64, 48))))
    video = Submission.objects.create(
        uploader=image.uploader, organisation=image.organisation, original_name=f"{image.organisation.slug}.mp4",
        content_type="video/mp4", size_bytes=image.size_bytes, width=64, height=48, sha256="0" * 64, file=image.file,
        kind=Submission.Kind.VIDEO, status=Submission.Status.SCORED, duration_seconds=1.0, frame_rate=25.0,
        frame_count=25, frames_to_score=1, frames_scored=1,
        video_info={"codec": "h264", "rotation": 0, "variable_frame_rate": False, "container": "MP4", "poster": jpeg},
    )  # fmt: skip
    face = {"box": [0.2, 0.2, 0.5, 0.5], "probability": 0.9, "track": 0}
    best = {"index": 0, "t": 0.0, "box": face["box"], "probability": 0.9}
    track = {"id": 0, "probability": 0.9, "frames": 1, "start": 0.0, "end": 0.0, "best": best}
    detection = Detection.objects.create(
        submission=video, model_version=version, probability=0.9, label="fake", threshold=0.5, preprocess_ms=1,
        inference_ms=1, total_ms=1, timeline=[{"index": 0, "t": 0.0, "probability": 0.9, "faces": [face], "image": jpeg}],
        tracks=[track],
    )  # fmt: skip
    face_heatmap = default_storage.save(f"evidence/{video.pk}-face-0.png", ContentFile(make_image_bytes("PNG")))
    Evidence.objects.create(submission=video, detection=detection, status="done", heatmap={"faces": [{"track": 0, "image": face_heatmap}]})
    return video


@pytest.fixture
def world(db, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("<h1>report</h1>")
    version = ModelVersion.objects.create(name="matrix-v1", artifact=str(tmp_path / "missing.keras"), report=str(report / "report.html"))
    a = _org("Alpha Wire", "alpha-wire", Organisation.Kind.PARTNER, "jane@alpha.test", version, (200, 30, 30))
    b = _org("Beta News", "beta-news", Organisation.Kind.NEWSROOM, "bob@beta.test", version, (30, 200, 30))
    partner_admin = _person("keys@alpha.test", "partner", a.organisation)
    partner_admin.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    raw_keys = {}
    for role, (org_label, scopes) in KEY_SCOPES.items():
        organisation = (a if org_label == "A" else b).organisation
        raw_keys[role] = create_api_key(organisation=organisation, name=role, scopes=scopes)[1]
    return World(
        A=a,
        B=b,
        moderator=_person("mod@verity.test", "moderator"),
        admin=_person("admin@verity.test", "admin", is_staff=True, is_superuser=True),
        partner_admin=partner_admin,
        review_item=ReviewItem.objects.create(submission=a.submission, detection=a.detection, reasons=["fake"]),
        run=TrainingRun.objects.create(name="matrix-run", status="succeeded"),
        version=version,
        raw_keys=raw_keys,
    )


def client_as(world, role):
    """A client that enforces CSRF like a browser and carries a valid token: what a real session or key would send."""
    token = get_random_string(32)
    client = Client(enforce_csrf_checks=True, raise_request_exception=False, HTTP_X_CSRFTOKEN=token)
    client.cookies["csrftoken"] = token
    user = world.user_for(role)
    if user is not None:
        client.force_login(user)
    if role in world.raw_keys:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.raw_keys[role]}"
    return client


def send(client, method, path, **extra):
    """One request whose changes (a revoked key, a claimed item, an audit event) are undone before the next."""
    with transaction.atomic():
        response = getattr(client, method.lower())(path, **extra)
        # Reading a streamed body to its end also closes it (the test client's wrapper does, as a server would).
        body = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    response.body = body
    return response
