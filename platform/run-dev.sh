#!/usr/bin/env bash
# Starts a Celery worker in the background and the development web server in the foreground;
# Ctrl-C stops both. Used by `make run`.
set -euo pipefail
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var
"$PY" -m celery -A config worker -Q inference,default,training --concurrency 1 -l info >var/worker.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Worker started (pid $worker, log: var/worker.log)."
echo "Verity is at http://$HOST:$PORT/ (sign in with a demo user above; Ctrl-C stops everything)."
"$PY" manage.py runserver --noreload "$HOST:$PORT"
