"""`manage.py check --deploy` finds nothing to warn about in a production setup: platform/env.example's, with a
real secret key. Run in a subprocess, because the settings module reads the environment once, at import."""
import os
import secrets
import subprocess
import sys

from django.conf import settings

ENV_EXAMPLE = settings.BASE_DIR / "platform" / "env.example"


def production_env(**overrides):
    """The environment of a deployment made from platform/env.example, with a key of 50+ random characters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "AXES_")) and k not in (
        "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "DATABASE_URL",
        "CELERY_BROKER_URL", "CACHE_URL")}  # fmt: skip
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(overrides)
    return env


def check_deploy(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_deploy_check_is_clean_with_the_documented_production_settings():
    env = production_env()
    assert env["DEBUG"] == "0" and env["ALLOWED_HOSTS"] and len(env["SECRET_KEY"]) >= 50
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_https_settings_are_on_by_default_when_debug_is_off():
    """Only DEBUG, the key and the host name set: what someone who skipped env.example's HTTPS lines would get."""
    env = {k: v for k, v in production_env().items() if not k.startswith(("SECURE_", "SESSION_COOKIE", "CSRF_COOKIE"))}
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_check_would_say_so_if_https_were_switched_off():
    result = check_deploy(production_env(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0", SESSION_COOKIE_SECURE="0"))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012"):
        assert warning in result.stderr
