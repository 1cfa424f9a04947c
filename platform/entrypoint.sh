#!/usr/bin/env bash
# Container entrypoint: web | worker | gpu-worker | training-worker | migrate | manage ARGS...
set -euo pipefail
cd /app
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    python manage.py ensure_default_model
    exec gunicorn config.wsgi:application -c platform/gunicorn.conf.py
    ;;
  worker)
    # CPU inference worker: one process per core is plenty; TensorFlow threads inside each.
    exec celery -A config worker -Q inference,default --concurrency "${WORKER_CONCURRENCY:-1}" \
      --prefetch-multiplier 1 -l "${LOG_LEVEL:-info}" -n "cpu@%h"
    ;;
  gpu-worker)
    # One process owns the GPU; it takes large batches.
    exec celery -A config worker -Q inference --concurrency 1 --prefetch-multiplier 1 -l "${LOG_LEVEL:-info}" -n "gpu@%h"
    ;;
  training-worker)
    exec celery -A config worker -Q training --concurrency 1 --prefetch-multiplier 1 -l "${LOG_LEVEL:-info}" -n "training@%h"
    ;;
  migrate)
    exec python manage.py migrate --noinput
    ;;
  manage)
    shift
    exec python manage.py "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
