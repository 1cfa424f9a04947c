"""An S3 bucket for real: moto's S3 server on 127.0.0.1, and Django's default storage pointed at it.

The storage is configured by config/settings.py itself, from the AWS_* variables production sets (the
settings module is evaluated again with them), so these tests cover that block too; a worker process started
with the same variables (`start_worker(**s3.env)`) uses the same bucket.

moto's server runs in a thread of this process, so its buckets survive `stop()` and `start()` on the same
port: the store goes away and comes back with its data, as a restarted S3-compatible server would.
"""
import json
import logging
import runpy
import socket
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "verity-test", "aws_secret_access_key": "verity-test-secret"}
# Tries per request in these tests: enough to show the retry, few enough that an outage costs seconds.
MAX_ATTEMPTS = 3


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ObjectStore:
    """moto's S3 on one loopback port, which can be stopped and started again on that same port."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.running = False

    def start(self):
        if not self.running:
            self._server.start()
            self.running = True

    def stop(self):
        if self.running:
            self._server.stop()  # closes the listening socket: connections are refused until start()
            self.running = False

    def client(self, service="s3", **credentials):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **(credentials or CREDENTIALS))

    def require_signatures(self, required):
        """Check every request's credentials and IAM policies (moto accepts anything until told otherwise)."""
        count = b"0" if required else b"inf"
        url = f"{self.endpoint}/moto-api/reset-auth"
        urllib.request.urlopen(urllib.request.Request(url, data=count, headers={"Content-Type": "text/plain"}, method="POST"))


@pytest.fixture(scope="session")
def object_store():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in every failure report
    store = ObjectStore()
    store.start()
    yield store
    store.stop()


@dataclass
class Bucket:
    name: str
    store: ObjectStore
    env: dict  # the AWS_* variables that point config/settings.py (and a worker) at this bucket

    def keys(self, prefix=""):
        listing = self.store.client().list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def get(self, key):
        return self.store.client().get_object(Bucket=self.name, Key=key)["Body"].read()


def storages_from_settings(env, monkeypatch):
    """STORAGES as config/settings.py builds it with these environment variables."""
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))["STORAGES"]


@pytest.fixture
def s3(object_store, settings, monkeypatch):
    """A fresh bucket, and Django's default storage (this process) pointed at it through the settings' S3 block."""
    object_store.start()
    name = f"verity-test-{uuid.uuid4().hex[:12]}"
    object_store.client().create_bucket(Bucket=name)
    env = {
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": object_store.endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_S3_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }
    default = storages_from_settings(env, monkeypatch)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    settings.STORAGES = {**settings.STORAGES, "default": default}  # Django drops its cached storage objects
    bucket = Bucket(name, object_store, env)
    yield bucket
    object_store.start()  # a test that stopped the store leaves it running for the next one


@pytest.fixture
def use_credentials(s3, settings, monkeypatch):
    """Point the default storage at `s3` with other credentials (an IAM user's key)."""

    def use(access_key, secret_key):
        env = dict(s3.env, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
        settings.STORAGES = {**settings.STORAGES, "default": storages_from_settings(env, monkeypatch)["default"]}

    return use


def read_only_user(store, bucket):
    """An IAM user who may do anything in S3 except write objects to `bucket`; returns its (key id, secret)."""
    iam = store.client("iam")
    user = f"reader-{bucket}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="no-writes", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# What the store says in each case (in StorageUnavailable's message, and the log; never to the uploader).
REFUSALS = {"writes denied": "AccessDenied", "bucket deleted": "NoSuchBucket", "store stopped": "Could not connect"}


@pytest.fixture(params=list(REFUSALS))
def refusing_store(request, s3, object_store, use_credentials):
    """The bucket refusing uploads, three ways: an IAM policy denies PutObject (403 AccessDenied), the bucket
    is gone (404 NoSuchBucket), moto is stopped (connection refused, after botocore's retries).

    Yields a function that lists what the bucket holds, to be called after the store is usable again
    (`restore()`), and the restore itself.
    """
    cause = request.param
    restored = []

    def restore():
        if cause == "writes denied":
            object_store.require_signatures(False)
        elif cause == "store stopped":
            object_store.start()
        restored.append(True)

    if cause == "writes denied":
        use_credentials(*read_only_user(object_store, s3.name))
        object_store.require_signatures(True)
    elif cause == "bucket deleted":
        object_store.client().delete_bucket(Bucket=s3.name)
    else:
        object_store.stop()
    yield Refusal(cause, s3, restore, REFUSALS[cause])
    if not restored:
        restore()


@dataclass
class Refusal:
    cause: str
    bucket: Bucket
    restore: object
    error: str

    def stored_keys(self):
        """What the bucket holds once the store answers again (nothing when the bucket was deleted)."""
        self.restore()
        if self.cause == "bucket deleted":
            return [] if self.bucket.name not in self.bucket_names() else self.bucket.keys()
        return self.bucket.keys()

    def bucket_names(self):
        return {b["Name"] for b in self.bucket.store.client().list_buckets()["Buckets"]}
