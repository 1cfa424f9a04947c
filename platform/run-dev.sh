#!/usr/bin/env bash
# Starts a Celery worker in the background and the web server in the foreground; Ctrl-C stops both.
# Used by `make run`, whose users are given demo passwords and shown the portal: so DEBUG is off (no
# Django debug pages listing URLs and settings), static files come from WhiteNoise as in production, and
# the HTTPS-only settings (Secure cookies, redirect to HTTPS, HSTS) are off because the server speaks plain HTTP
# on this machine.
set -euo pipefail
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VAR=${VERITY_VAR_DIR:-var}
mkdir -p "$VAR"

# A secret key of this checkout's own, kept across restarts so that sign-ins survive them.
if [ ! -s "$VAR/secret-key" ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$VAR/secret-key")
fi
export DEBUG="${DEBUG:-0}" SECRET_KEY="${SECRET_KEY:-$(cat "$VAR/secret-key")}"
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-0}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-0}"
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-0}" SECURE_HSTS_SECONDS="${SECURE_HSTS_SECONDS:-0}"
"$PY" manage.py collectstatic --noinput --verbosity 0

worker_warnings=${PYTHONWARNINGS:-}
if [ "$(id -u)" = 0 ]; then
  # Celery writes a long "superuser privileges" warning into the worker log; say it once, here, instead.
  echo "Note: running as root. Fine in a throwaway container; on a shared machine run 'make run' as an ordinary user."
  worker_warnings="${worker_warnings:+$worker_warnings,}ignore:You're running the worker with superuser privileges"
fi
PYTHONWARNINGS=$worker_warnings "$PY" -m celery -A config worker -Q inference,prepare,sweep,default,training --concurrency 1 -l info \
  >"$VAR/worker.log" 2>&1 &
worker=$!
# Celery beat runs the recovery sweep (detection/sweeper.py): uploads whose message was lost are sent again.
"$PY" -m celery -A config beat -l info --schedule "$VAR/celerybeat-schedule" >"$VAR/beat.log" 2>&1 &
beat=$!
trap 'kill "$worker" "$beat" 2>/dev/null; wait "$worker" "$beat" 2>/dev/null || true' EXIT INT TERM
echo "Worker started (pid $worker, log: $VAR/worker.log); recovery sweep every ${VERITY_SWEEP_INTERVAL_SECONDS:-10} s (log: $VAR/beat.log)."
echo "Verity is at http://$HOST:$PORT/ (sign in with a demo user above; Ctrl-C stops everything)."
# With DEBUG off the development server serves no static files itself: WhiteNoise answers /static/ first.
"$PY" manage.py runserver --noreload "$HOST:$PORT"
