"""Verity settings: one module, driven by environment variables.

With nothing set: SQLite, media on local disk, a Celery broker that needs no server
(kombu's SQLAlchemy transport on a SQLite file) and DEBUG on. Production and CI set
DATABASE_URL, CELERY_BROKER_URL and the storage variables.
"""
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Runtime state (SQLite files, local media, built models) lives here unless told otherwise.
VAR_DIR = Path(env.str("VERITY_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-not-for-production")
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off") from exc

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from static files: the docs work offline
    "drf_standardized_errors",
    "accounts",
    "audit",
    "detection",
    "review",
    "training",
    "ops",
    "axes",  # failed sign-ins counted and limited (accounts/sign_in_limit.py)
]

MIDDLEWARE = [
    # /healthz and /readyz, answered before the host check: probes call 127.0.0.1, not an ALLOWED_HOSTS name.
    "ops.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the sign-in page with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a worker process started by the tests sees the test database;
    # one per test run, so that two runs at once do not destroy each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
    # Web, worker and command share one file: WAL lets readers run beside the writer, and IMMEDIATE
    # transactions take the write lock up front, so a read-then-write transaction waits for the lock
    # (up to `timeout`) instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
# Persistent connections: a worker reconnecting for every batch spent more time connecting than scoring.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# ...checked before each request or task reuses one: after a database restart every kept connection is dead, and
# the first request on each web thread answered 503 after the outage was over (bench/faults.py postgres-restart).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "detection:submission-list"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Storage: local disk by default; S3-compatible object storage through django-storages when a bucket is set.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            # Every request is retried with exponential backoff through a short outage (AWS_S3_MAX_ATTEMPTS tries
            # in all); after that detection.storage raises StorageUnavailable: uploads get "try again", scoring
            # waits. A store that does not answer is given up on within seconds, not botocore's minute.
            "client_config": _BotoConfig(
                retries={"mode": "standard", "total_max_attempts": env.int("AWS_S3_MAX_ATTEMPTS", default=3)},
                connect_timeout=5,
                read_timeout=30,
            ),
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Files browsers ask for at the site's root (/favicon.ico), served by WhiteNoise like the static files.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# Uploads: limits checked before anything is stored.
VERITY_MAX_UPLOAD_BYTES = env.int("VERITY_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
VERITY_MAX_IMAGE_PIXELS = env.int("VERITY_MAX_IMAGE_PIXELS", default=50_000_000)
VERITY_MAX_FILES_PER_UPLOAD = env.int("VERITY_MAX_FILES_PER_UPLOAD", default=50)
# Django refuses request bodies over this size before our validation runs; leave room for several files.
DATA_UPLOAD_MAX_MEMORY_SIZE = VERITY_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = VERITY_MAX_FILES_PER_UPLOAD
# Video uploads (detection/video/): each limit has its own rejection, checked before anything is stored.
VERITY_MAX_VIDEO_BYTES = env.int("VERITY_MAX_VIDEO_BYTES", default=200 * 1024 * 1024)
VERITY_MAX_VIDEO_SECONDS = env.float("VERITY_MAX_VIDEO_SECONDS", default=600.0)
VERITY_MAX_VIDEO_PIXELS = env.int("VERITY_MAX_VIDEO_PIXELS", default=4096 * 2304)  # per frame: 4K UHD fits
VERITY_MAX_VIDEO_FPS = env.float("VERITY_MAX_VIDEO_FPS", default=240.0)
# Scoring a video: frames sampled per second of video, and at most this many (spread over the whole clip).
VERITY_VIDEO_SAMPLE_RATE = env.float("VERITY_VIDEO_SAMPLE_RATE", default=2.0)
VERITY_VIDEO_MAX_FRAMES = env.int("VERITY_VIDEO_MAX_FRAMES", default=120)
# Faces are searched for in the whole frame every this many sampled frames, near the faces found in between
# (detection/video/facesearch.py); 1 searches every frame whole (about twice the time).
VERITY_VIDEO_FULL_SEARCH_EVERY = env.int("VERITY_VIDEO_FULL_SEARCH_EVERY", default=3)

# Detection: decision threshold and the band around it that is flagged uncertain.
VERITY_THRESHOLD = env.float("VERITY_THRESHOLD", default=0.5)
VERITY_UNCERTAIN_BAND = env.float("VERITY_UNCERTAIN_BAND", default=0.15)
# Score faces the way the detector was trained (crops with the training margin, the most suspicious face
# decides; an image without a face is labelled no_face). Off: the whole image, resized (the older behaviour).
VERITY_SCORE_FACES = env.bool("VERITY_SCORE_FACES", default=True)
VERITY_MAX_FACES_SCORED = env.int("VERITY_MAX_FACES_SCORED", default=16)
# Look for an image's faces on the prepare queue, off the inference worker's cores, before it is scored
# (services.prepare); off, or with no worker consuming "prepare", the inference worker looks itself (an upload
# waiting for a prepare worker that never comes is sent on by the sweep after VERITY_STUCK_AFTER_SECONDS).
VERITY_PREPARE_FACES = env.bool("VERITY_PREPARE_FACES", default=True)
# Operating point chosen by `evaluate` on the validation split: the threshold that calls at most this share
# of real images fake (0 or unset: the balanced-accuracy optimum), then the widest uncertain band (up to
# VERITY_UNCERTAIN_BAND) that sends at most VERITY_TARGET_REAL_REVIEW_SHARE of real images to review.
VERITY_TARGET_FALSE_POSITIVE_RATE = env.float("VERITY_TARGET_FALSE_POSITIVE_RATE", default=0.05)
VERITY_TARGET_REAL_REVIEW_SHARE = env.float("VERITY_TARGET_REAL_REVIEW_SHARE", default=0.12)
VERITY_MODELS_DIR = Path(env.str("VERITY_MODELS_DIR", default=str(VAR_DIR / "models")))
VERITY_DEFAULT_MODEL_DIR = BASE_DIR / "models"

# Celery. The default broker is a SQLite file, so the platform runs with no server at all.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite'}")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Inference batches: up to VERITY_BATCH_SIZE images, or what arrived within VERITY_BATCH_WAIT_MS.
VERITY_BATCH_SIZE = env.int("VERITY_BATCH_SIZE", default=16)
VERITY_BATCH_WAIT_MS = env.int("VERITY_BATCH_WAIT_MS", default=50)
# The prepare queue's face search is batched the same way, with a shorter wait: it runs before scoring's.
VERITY_PREPARE_WAIT_MS = env.int("VERITY_PREPARE_WAIT_MS", default=10)
# Worker processes load the model (inference) or the face cascades (prepare) as they start (detection/warmup.py).
VERITY_WARM_UP_WORKERS = env.bool("VERITY_WARM_UP_WORKERS", default=True)
# onnx (ONNX Runtime, CPU workers) or keras (TensorFlow; GPU workers).
VERITY_INFERENCE_RUNTIME = env.str("VERITY_INFERENCE_RUNTIME", default="onnx")
# Images per model run within a batch: "auto" times each size at load (ONNX runtimes; a CPU runs small slices
# faster than one whole batch), 0 runs whole batches, N runs slices of N (detection/inference/runtime.py).
VERITY_MODEL_RUN_SIZE = env.str("VERITY_MODEL_RUN_SIZE", default="auto")
# Export every promoted version to ONNX (a default-queue task); workers use Keras until the export exists.
VERITY_EXPORT_ON_PROMOTE = env.bool("VERITY_EXPORT_ON_PROMOTE", default=True)
# Serve the int8 variant where one exists and lost no more than 0.005 test AUC (`manage.py quantize_model`).
VERITY_REDUCED_PRECISION = env.bool("VERITY_REDUCED_PRECISION", default=True)
# ...and only where it is at least this many times as fast as fp32 on the worker's host, timed at start: a tie
# within the timing noise keeps fp32, which loses no AUC (an AVX2-only host timed v8's int8 variant 0.4% faster).
VERITY_REDUCED_PRECISION_MIN_SPEEDUP = env.float("VERITY_REDUCED_PRECISION_MIN_SPEEDUP", default=1.1)
# A worker must hold a whole batch of unacknowledged messages for celery-batches to fill it, and the next batch
# fills while one is scored (detection.tasks.AdaptiveBatches): two batches.
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=2 * VERITY_BATCH_SIZE)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "detection.tasks.score_submission": {"queue": "inference"},
    "detection.tasks.prepare_submission": {"queue": "prepare"},
    # The recovery sweep has a queue of its own, consumed beside `default`: behind a backlog of evidence tasks in
    # `default` every pass expired unrun, and uploads the broker refused waited 67 s after it came back
    # (bench/faults.py `together` at 10,000 uploads).
    "detection.tasks.sweep": {"queue": "sweep"},
    "training.tasks.*": {"queue": "training"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to a dead broker fails within seconds instead of hanging the web request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
if CELERY_BROKER_URL.startswith("redis"):
    # An unacknowledged task (its worker vanished with the machine) is redelivered after this many seconds.
    # It must exceed the longest task that acknowledges late, or a task still running is delivered a second time:
    # a scoring batch takes seconds (a cold model load, 16 images of up to 16 faces), evidence is killed at 360 s,
    # training claims its run in the database so a redelivered copy does nothing. So 400 s; lost scoring
    # messages do not wait for it: the sweeper sends stuck submissions again after VERITY_STUCK_AFTER_SECONDS.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=400)}
else:
    # kombu's SQLAlchemy transport hands its options to create_engine(): give it none.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Each worker writes its heartbeat row (ops.WorkerHeartbeat) this often; /ops/ calls it live for 60 s after.
VERITY_WORKER_HEARTBEAT_SECONDS = env.float("VERITY_WORKER_HEARTBEAT_SECONDS", default=15.0)
# Recovery (detection/sweeper.py): celery beat runs the sweep every VERITY_SWEEP_INTERVAL_SECONDS; it sends
# again what has shown no sign of life for VERITY_STUCK_AFTER_SECONDS (at most VERITY_SWEEP_LIMIT a pass), so an
# upload whose message was lost is scored within about their sum once the broken service is back.
VERITY_SWEEP_INTERVAL_SECONDS = env.float("VERITY_SWEEP_INTERVAL_SECONDS", default=10.0)
VERITY_STUCK_AFTER_SECONDS = env.int("VERITY_STUCK_AFTER_SECONDS", default=30)
VERITY_SWEEP_LIMIT = env.int("VERITY_SWEEP_LIMIT", default=1000)
# A submission whose scoring batches died this many times (it kills its worker) fails with that reason.
VERITY_MAX_SCORING_ATTEMPTS = env.int("VERITY_MAX_SCORING_ATTEMPTS", default=5)
CELERY_BEAT_SCHEDULE = {
    "sweep": {
        "task": "detection.tasks.sweep",
        "schedule": VERITY_SWEEP_INTERVAL_SECONDS,
        # A pass that waited longer than an interval is replaced by the next one, never piled up.
        "options": {"expires": VERITY_SWEEP_INTERVAL_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Celery's Django fixup closes the database connection before and after every task unless this is set;
# tasks call django.db.close_old_connections() instead, which honours CONN_MAX_AGE and drops broken ones.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes: failures and lockouts (WARNING), not a line for every successful sign-in.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# With DEBUG off the site is served over HTTPS (a TLS proxy in front sets X-Forwarded-Proto): cookies only over
# HTTPS, plain HTTP redirected, and browsers told to use HTTPS for a year (HSTS). `manage.py check --deploy` is
# clean with platform/env.example (tests/security/test_deploy_check.py). `make run` serves plain HTTP on this
# machine: platform/run-dev.sh turns each of these off.
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The preload directive (check --deploy asks for it) matters only once the domain is submitted to browsers'
    # built-in HTTPS-only list, which takes a whole registrable domain (example.org); hard to undo, so say 0 if that
    # domain, or any name under it, may ever need plain HTTP.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Failed sign-ins (django-axes, accounts/sign_in_limit.py): after VERITY_SIGN_IN_FAILURE_LIMIT failures for one
# email address from one IP address, that pair waits VERITY_SIGN_IN_LOCKOUT_MINUTES, counted again from each
# further try; a successful sign-in clears its failures. Counted in the database, so every web process agrees.
# The IP address is REMOTE_ADDR: behind a proxy that is the proxy's, and the limit is per email address.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("VERITY_SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("VERITY_SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.sign_in_limit.attempted_email"
AXES_LOCKOUT_CALLABLE = "accounts.sign_in_limit.locked_out_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit trail already

# Partner REST API (detection.api): keys, errors, schema, limits.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["detection.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_standardized_errors.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("VERITY_API_KEY_RATE", default="120/min"),
        "organisation": env.str("VERITY_API_ORGANISATION_RATE", default="600/min"),
    },
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    # A database outage is a 503 with Retry-After, not a 500 (config/errors.py).
    "EXCEPTION_HANDLER_CLASS": "config.errors.ApiExceptionHandler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Verity partner API",
    "DESCRIPTION": (
        "Submit images, read versioned detection results, receive signed webhooks.\n\n"
        "Send an API key with every request: `Authorization: Bearer <key>` (the **Authorize** button here). "
        "Your organisation's partner admins make and revoke keys on the portal's *API keys* page "
        "(`/accounts/api-keys/`). The guide, with errors, limits and webhook signatures, is `docs/api.md`."
    ),
    "TAGS": [
        {"name": "submissions", "description": "Send images and read their verdicts (API key)."},
        {"name": "webhook-secret", "description": "Check the signature of the webhooks Verity sends (API key)."},
        {"name": "keys", "description": "Manage your organisation's API keys (signed in to the portal as a partner admin)."},
    ],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "detection.api.schema.describe_list_item_error_attrs",
        "detection.api.schema.close_request_bodies",
        "detection.api.schema.one_plain_callback_url_schema",
        "detection.api.schema.add_links",
    ],
}
# Throttle counters must be shared by every web process: Redis when the broker is Redis, else this process.
_default_cache_url = CELERY_BROKER_URL.replace("redis://", "rediscache://", 1) if CELERY_BROKER_URL.startswith("redis://") else "locmemcache://"
CACHES = {"default": env.cache("CACHE_URL", default=_default_cache_url)}
VERITY_API_DAILY_QUOTA = env.int("VERITY_API_DAILY_QUOTA", default=10_000)  # submissions per organisation per UTC day
VERITY_API_MAX_BATCH = env.int("VERITY_API_MAX_BATCH", default=20)
VERITY_API_IDEMPOTENCY_HOURS = env.int("VERITY_API_IDEMPOTENCY_HOURS", default=24)
VERITY_API_FETCH_TIMEOUT = env.float("VERITY_API_FETCH_TIMEOUT", default=10.0)  # seconds for a whole URL fetch
VERITY_API_FETCH_MAX_REDIRECTS = env.int("VERITY_API_FETCH_MAX_REDIRECTS", default=3)
# Tests only: lets the URL fetcher and webhooks reach 127.0.0.0/8, where the tests run their servers.
VERITY_API_FETCH_ALLOW_LOOPBACK = False
VERITY_WEBHOOK_TIMEOUT = env.float("VERITY_WEBHOOK_TIMEOUT", default=10.0)
VERITY_WEBHOOK_MAX_ATTEMPTS = env.int("VERITY_WEBHOOK_MAX_ATTEMPTS", default=8)
VERITY_WEBHOOK_BACKOFF_SECONDS = env.int("VERITY_WEBHOOK_BACKOFF_SECONDS", default=30)  # doubled after each failure

# Review: which scored images go to the moderator queue (any of fake, uncertain, requested: the uploader
# asked for a review), and how long a moderator's claim on an item lasts before it returns to the queue.
VERITY_REVIEW_ROUTES = env.list("VERITY_REVIEW_ROUTES", default=["fake", "uncertain", "requested"])
VERITY_REVIEW_CLAIM_MINUTES = env.int("VERITY_REVIEW_CLAIM_MINUTES", default=15)
