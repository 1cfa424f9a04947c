#!/usr/bin/env bash
# Container entrypoint: web | worker | prepare-worker | default-worker | gpu-worker | training-worker | beat | migrate | manage ARGS...
set -euo pipefail
cd /app
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    python manage.py ensure_default_model
    exec gunicorn config.wsgi:application -c platform/gunicorn.conf.py
    ;;
  worker)
    # CPU inference worker on ONNX Runtime, batching with celery-batches (prefetch must hold a batch).
    export VERITY_INFERENCE_RUNTIME="${VERITY_INFERENCE_RUNTIME:-onnx}"
    exec celery -A config worker -Q "${WORKER_QUEUES:-inference}" --concurrency "${WORKER_CONCURRENCY:-1}" \
      -l "${LOG_LEVEL:-info}" -n "cpu@%h"
    ;;
  prepare-worker)
    # Face search for new uploads (the prepare queue), so that the inference workers' cores only run the model.
    exec celery -A config worker -Q prepare --concurrency "${WORKER_CONCURRENCY:-2}" -l "${LOG_LEVEL:-info}" -n "prepare@%h"
    ;;
  default-worker)
    # Forensic evidence, ONNX exports and webhooks: the default queue, one task at a time per process; and the
    # recovery sweep, on a queue of its own so that it never waits behind them.
    exec celery -A config worker -Q sweep,default --concurrency "${WORKER_CONCURRENCY:-2}" --prefetch-multiplier 1 \
      -l "${LOG_LEVEL:-info}" -n "default@%h"
    ;;
  gpu-worker)
    # One process owns the GPU; TensorFlow runs the Keras model there, in large batches.
    export VERITY_INFERENCE_RUNTIME="${VERITY_INFERENCE_RUNTIME:-keras}" VERITY_BATCH_SIZE="${VERITY_BATCH_SIZE:-64}"
    exec celery -A config worker -Q inference --concurrency 1 -l "${LOG_LEVEL:-info}" -n "gpu@%h"
    ;;
  training-worker)
    exec celery -A config worker -Q training --concurrency 1 --prefetch-multiplier 1 -l "${LOG_LEVEL:-info}" -n "training@%h"
    ;;
  beat)
    # The recovery sweep (detection/sweeper.py) every VERITY_SWEEP_INTERVAL_SECONDS: exactly one beat per deployment.
    exec celery -A config beat -l "${LOG_LEVEL:-info}" --schedule "${VERITY_VAR_DIR:-/var/lib/verity}/celerybeat-schedule"
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
