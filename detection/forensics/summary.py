"""The JSON-safe view of a submission's evidence, shared by the portal, the review page and the API.

Only what the signals stored is shown, and no signal stores a GPS position, so none can leak from here.
"""
from django.urls import reverse

SIGNAL_TITLES = {
    "heatmap": "Heatmap",
    "faces": "Faces",
    "metadata": "Metadata",
    "content_credentials": "Content Credentials",
    "error_levels": "Error levels and noise",
}
IMAGES = {"heatmap": ("heatmap",), "faces": ("faces",), "error_levels": ("ela", "noise")}


def submission_summary(submission):
    from ..models import Evidence

    evidence = Evidence.objects.filter(submission=submission).select_related("detection__model_version").first()
    if evidence is None:
        return {"status": "none", "signals": {}}
    return evidence_summary(evidence)


PORTAL_IMAGE_ROUTE = "detection:evidence-image"
API_IMAGE_ROUTE = "api:evidence-image"  # the same images for API keys (partners have no portal session)


def evidence_image_url(evidence, kind, route=PORTAL_IMAGE_ROUTE):
    """The permission-checked URL of a derivative image, versioned so that a recomputed one is not cached."""
    if not evidence.image_name(kind):
        return None
    url = reverse(route, args=[evidence.submission_id, kind])
    stamp = int(evidence.computed_at.timestamp()) if evidence.computed_at else 0
    return f"{url}?v={stamp}"


def evidence_summary(evidence, image_route=PORTAL_IMAGE_ROUTE):
    signals = {}
    for name in SIGNAL_TITLES:
        result = dict(getattr(evidence, name) or {"status": "pending"})
        for kind in IMAGES.get(name, ()):
            key = f"{kind}_image_url" if name == "error_levels" else "image_url"
            result[key] = evidence_image_url(evidence, kind, image_route)
        result["title"] = SIGNAL_TITLES[name]
        signals[name] = result
    detection = evidence.detection
    return {
        "status": evidence.status,
        "computed_at": evidence.computed_at.isoformat() if evidence.computed_at else None,
        "model_version": detection.model_version.name if detection else None,
        "signals": signals,
    }
