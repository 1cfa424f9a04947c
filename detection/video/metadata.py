"""A clip's container and stream metadata as evidence: encoder, creation time, device, with the location left out.

Phones write where a clip was shot into its metadata (QuickTime's ISO 6709 location, Android's `location`
tag). Like the GPS position of an image (detection/forensics/metadata.py), it is never read into anything
Verity keeps: only the fact that one is present.
"""
from ..forensics.metadata import EDITORS, GENERATORS, NO_CAMERA, _match

# A tag whose name contains one of these is a position.
LOCATION_MARKERS = ("location", "gps", "xyz", "iso6709", "latitude", "longitude", "coordinates")
LOCATION_PRESENT = "a location is recorded in the file (not shown, and not kept by Verity)"
MAX_VALUE_CHARS = 200
MAKE_TAGS = ("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer")
MODEL_TAGS = ("com.apple.quicktime.model", "com.android.model", "model")
SOFTWARE_TAGS = ("com.apple.quicktime.software", "software", "encoder", "encoded_by", "com.android.version")
CREATED_TAGS = ("com.apple.quicktime.creationdate", "creation_time", "date")


def is_location(key):
    lowered = key.lower()
    return any(marker in lowered for marker in LOCATION_MARKERS)


def without_location(tags):
    """The tags, values shortened to text, with every location tag removed; and whether there was one."""
    kept, located = {}, False
    for key, value in (tags or {}).items():
        if is_location(str(key)):
            located = True
            continue
        kept[str(key)[:100]] = "".join(ch for ch in str(value) if ch.isprintable())[:MAX_VALUE_CHARS]
    return kept, located


def describe(raw, facts):
    """What Verity keeps of a clip's metadata: {"container": tags, "stream": tags, "location_present", findings...}.

    `raw` is {"container": tags, "stream": tags} as read by probe; `facts` the probed clip (codec, rotation...).
    """
    container, located_c = without_location(raw.get("container"))
    stream, located_s = without_location(raw.get("stream"))
    tags = {**stream, **container}
    lowered = {k.lower(): v for k, v in tags.items()}

    def first(keys):
        return next((lowered[k] for k in keys if lowered.get(k)), "")

    make, model = first(MAKE_TAGS), first(MODEL_TAGS)
    device = " ".join(v for v in (make, model) if v)
    software = first(SOFTWARE_TAGS)
    created = first(CREATED_TAGS)
    findings = []
    generator, editor = _match(software, GENERATORS) if software else None, _match(software, EDITORS) if software else None
    if generator:
        findings.append({"text": f"made with a video generator or AI tool: {generator}", "level": "alert"})
    if device:
        findings.append({"text": f"recorded with {device}", "level": "info"})
    elif not generator:
        findings.append({"text": NO_CAMERA, "level": "muted"})
    if editor:
        findings.append({"text": f"edited with {editor}", "level": "warning"})
    if software:
        findings.append({"text": f"encoder or software: {software}", "level": "info"})
    if created:
        findings.append({"text": f"creation time recorded in the file: {created}", "level": "info"})
    if located_c or located_s:
        findings.append({"text": LOCATION_PRESENT, "level": "info"})
    if facts.get("variable_frame_rate"):
        findings.append({"text": "variable frame rate (common for phone recordings): frames were sampled by their timestamps", "level": "muted"})
    if facts.get("rotation"):
        findings.append({"text": f"the file asks to be shown turned by {facts['rotation']}°: frames were turned upright", "level": "muted"})
    return {
        "status": "ok",
        "device": device,
        "software": software,
        "created": created,
        "location_present": located_c or located_s,
        "container": container,
        "stream": stream,
        "findings": findings,
    }
