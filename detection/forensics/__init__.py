"""Forensic signals shown beside the detector's score: heatmap, faces, metadata, Content Credentials, error levels.

Public entry points:
- `summary(submission)`: a JSON-safe dict of every signal for pages and the API (never GPS coordinates);
- `run.compute(submission_id, heatmap=None)`: compute and store the signals (called by the
  `compute_evidence` task after scoring).

Heavy libraries (OpenCV, c2pa, TensorFlow) load on first use, never at import time.
"""


def summary(submission):
    """JSON-safe summary of a submission's evidence; {"status": "none"} when nothing was computed yet."""
    from .summary import submission_summary

    return submission_summary(submission)
