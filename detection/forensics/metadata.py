"""Metadata: what the file says about itself (EXIF, XMP, IPTC, PNG text), read with bounded effort.

Findings are sentences a person understands. The GPS position is never read into the result: only whether
one is present.
"""
import io
import re
from datetime import datetime, timedelta

from PIL import Image, IptcImagePlugin

# Bigger blocks are not parsed (a JPEG's EXIF is at most 64 KiB; PNG, WebP and TIFF allow far more).
MAX_EXIF_BYTES = 256 * 1024
MAX_XMP_BYTES = 256 * 1024
MAX_TEXT_CHARS = 200

BASE_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x0132: "modified", 0x013B: "artist"}
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
EXIF_TAGS = {0x9003: "taken", 0x9004: "digitised"}
EXIF_DATE = "%Y:%m:%d %H:%M:%S"

EDITORS = {
    "photoshop": "Adobe Photoshop", "lightroom": "Adobe Lightroom", "gimp": "GIMP", "affinity": "Affinity Photo",
    "pixelmator": "Pixelmator", "snapseed": "Snapseed", "paint.net": "Paint.NET", "facetune": "Facetune",
    "canva": "Canva", "picsart": "PicsArt", "photopea": "Photopea", "capture one": "Capture One",
    "darktable": "darktable", "rawtherapee": "RawTherapee", "luminar": "Luminar", "krita": "Krita",
    "faceapp": "FaceApp", "remini": "Remini",
}  # fmt: skip
GENERATORS = {
    "stable diffusion": "Stable Diffusion", "midjourney": "Midjourney", "dall-e": "DALL·E", "dall·e": "DALL·E",
    "firefly": "Adobe Firefly", "imagen": "Google Imagen", "comfyui": "ComfyUI", "automatic1111": "AUTOMATIC1111",
    "novelai": "NovelAI", "invokeai": "InvokeAI", "leonardo": "Leonardo.Ai", "flux": "FLUX", "sdxl": "Stable Diffusion",
    "ideogram": "Ideogram", "chatgpt": "ChatGPT", "gpt-4o": "ChatGPT", "gemini": "Gemini", "grok": "Grok",
}  # fmt: skip
# Keys that image-generation tools write into PNG text chunks (AUTOMATIC1111, ComfyUI, NovelAI).
GENERATOR_TEXT_KEYS = {"parameters": "AUTOMATIC1111", "prompt": "ComfyUI", "workflow": "ComfyUI", "Dream": "InvokeAI"}
NO_CAMERA = "no camera data: common for screenshots, exports, social-media copies and generated images"
GPS_PRESENT = "a GPS position is recorded in the file (not shown, and removed from every copy Verity makes)"
AI_SOURCE_TYPES = ("trainedalgorithmicmedia", "compositewithtrainedalgorithmicmedia", "algorithmicmedia")


def _text(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(ch for ch in str(value) if ch.isprintable()).strip().strip("\x00")
    return text[:MAX_TEXT_CHARS]


def _match(text, names):
    lowered = text.lower()
    for needle, name in names.items():
        if needle in lowered:
            return name
    return None


def _date(text):
    try:
        return datetime.strptime(text[:19], EXIF_DATE)
    except (TypeError, ValueError):
        return None


def read(data):
    """Signal: camera, software, timestamps, GPS presence and the findings they lead to."""
    result = {"camera": {}, "software": "", "timestamps": {}, "gps_present": False, "xmp": {}, "iptc": {}}
    limits, findings = [], []
    with Image.open(io.BytesIO(data)) as image:
        _read_exif(image, result, limits)
        _read_xmp(image, result, limits)
        _read_iptc(image, result, limits)
        generator_keys = sorted(k for k in GENERATOR_TEXT_KEYS if k in image.info and image.format == "PNG")

    camera = " ".join(v for v in (result["camera"].get("make"), result["camera"].get("model")) if v)
    tools = [t for t in (result["software"], result["xmp"].get("creator_tool", "")) if t]
    generator = next((g for g in (_match(t, GENERATORS) for t in tools) if g), None)
    editor = next((e for e in (_match(t, EDITORS) for t in tools) if e), None)
    if generator:
        findings.append(_finding("generator", f"made with an image generator: {generator}", "alert"))
    for key in generator_keys:
        tool = GENERATOR_TEXT_KEYS[key]
        findings.append(_finding("generator", f"PNG text '{key}' as written by {tool}, an image generator", "alert"))
    if result["xmp"].get("ai_source"):
        findings.append(_finding("generator", "XMP/IPTC metadata says the image was made by an AI generator", "alert"))
    if editor:
        findings.append(_finding("edited", f"edited with {editor}", "warning"))
    elif tools and not generator:
        findings.append(_finding("software", f"software recorded: {tools[0]}", "info"))
    if camera:
        findings.append(_finding("camera", f"taken with {camera}", "info"))
    else:
        findings.append(_finding("no_camera", NO_CAMERA, "info"))
    findings.extend(_date_findings(result["timestamps"]))
    if result["gps_present"]:
        findings.append(_finding("gps", GPS_PRESENT, "info"))
    result.update(findings=findings, limits=limits)
    return result


def _finding(kind, text, level):
    return {"kind": kind, "text": text[0].upper() + text[1:], "level": level}


def _read_exif(image, result, limits):
    raw = image.info.get("exif") or b""
    if len(raw) > MAX_EXIF_BYTES:
        size, limit = len(raw) // 1024, MAX_EXIF_BYTES // 1024
        limits.append(f"the EXIF block is {size} KiB, over the {limit} KiB read: it was skipped")
        return
    exif = image.getexif()
    for tag, key in BASE_TAGS.items():
        if tag in exif:
            value = _text(exif[tag])
            if key in ("make", "model"):
                result["camera"][key] = value
            elif key == "software":
                result["software"] = value
            elif key == "modified":
                result["timestamps"]["modified"] = value
    try:
        exif_ifd = exif.get_ifd(EXIF_IFD)
    except Exception:  # a damaged sub-IFD: keep what the base IFD said
        exif_ifd = {}
        limits.append("the EXIF sub-directory could not be read")
    for tag, key in EXIF_TAGS.items():
        if tag in exif_ifd:
            result["timestamps"][key] = _text(exif_ifd[tag])
    # Presence only: the coordinates are never copied out of the file.
    result["gps_present"] = GPS_IFD in exif


def _read_xmp(image, result, limits):
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if not xmp:
        return
    if len(xmp) > MAX_XMP_BYTES:
        limits.append(f"the XMP packet is {len(xmp) // 1024} KiB: only its first {MAX_XMP_BYTES // 1024} KiB were read")
        xmp = xmp[:MAX_XMP_BYTES]
    text = xmp.decode("utf-8", "replace")
    tool = re.search(r"CreatorTool(?:=\"|>)([^\"<]{1,500})", text)
    if tool:
        result["xmp"]["creator_tool"] = _text(tool.group(1))
    if any(source in text.lower() for source in AI_SOURCE_TYPES):
        result["xmp"]["ai_source"] = True
    result["xmp"]["history"] = "photoshop:History" in text or "stEvt:softwareAgent" in text
    result["gps_present"] = result["gps_present"] or "exif:GPSLatitude" in text  # presence only, as for EXIF


def _read_iptc(image, result, limits):
    if image.format != "JPEG":
        return
    try:
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:
        limits.append("the IPTC block could not be read")
        return
    for (record, dataset), key in {(2, 80): "by_line", (2, 110): "credit", (2, 115): "source"}.items():
        value = iptc.get((record, dataset))
        if value:
            result["iptc"][key] = _text(value[0] if isinstance(value, list) else value)


def _date_findings(stamps):
    taken, digitised, modified = (_date(stamps.get(k)) for k in ("taken", "digitised", "modified"))
    texts = []
    if taken and modified and modified - taken > timedelta(minutes=1):
        texts.append(f"saved again after it was taken ({stamps['taken']} → {stamps['modified']})")
    if taken and modified and taken - modified > timedelta(minutes=1):
        texts.append(f"dates inconsistent: modified ({stamps['modified']}) before taken ({stamps['taken']})")
    if taken and digitised and abs(taken - digitised) > timedelta(days=1):
        texts.append(f"dates inconsistent: taken {stamps['taken']}, digitised {stamps['digitised']}")
    if taken and taken > datetime.now() + timedelta(days=1):
        texts.append(f"dates inconsistent: taken in the future ({stamps['taken']})")
    return [_finding("dates", text, "warning") for text in texts]
