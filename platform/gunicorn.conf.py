"""gunicorn settings for the web container (no TensorFlow is loaded in web processes)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# 2 x cores + 1 processes of 2 threads: of 1x2, 2x2, 2x4 and this, this accepted partner uploads fastest on a 2-core
# host (46.0/s against 27.9 for one process; README, Performance, "gunicorn sizing, measured").
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
