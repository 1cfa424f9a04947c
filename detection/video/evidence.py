"""A clip's evidence (computed by detection.forensics.run, like an image's): metadata, Content Credentials, and
a Grad-CAM heatmap of each face that drove the verdict. Error-level analysis is for still JPEGs: not run."""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ..forensics import content_credentials
from ..forensics.heatmap import HeatmapUnavailable, colourise, grad_cam
from ..forensics.imaging import png_bytes
from ..forensics.limits import capture
from . import frames

HEATMAP_FACES = 3
NOT_FOR_VIDEO = "error-level analysis applies to still JPEG images; it is not computed for video frames"
HEATMAP_CAPTION = "Warm colours: the parts of each face that pushed the detector towards fake (Grad-CAM)."


def signals(submission, detection, data, detector, unavailable):
    """The Evidence fields of a clip. `detector` is None (with `unavailable` saying why) when none can load."""
    result = {
        "metadata": dict(submission.video_info.get("metadata") or {"status": "ok", "findings": []}),
        "content_credentials": capture("Content Credentials", content_credentials.read, data, submission.content_type),
        "error_levels": {"status": "not_applicable", "message": NOT_FOR_VIDEO},
    }
    tracks = detection.tracks if detection is not None else []
    result["faces"] = (
        {"status": "ok", "count": len(tracks), "tracks": [{"id": t["id"], "probability": t["probability"]} for t in tracks]}
        if tracks else {"status": "not_applicable", "message": "no face track in the clip", "count": 0}
    )
    if detector is None:
        result["heatmap"] = dict(unavailable)
    elif not tracks:
        result["heatmap"] = {"status": "not_applicable", "message": "no face to explain: the clip has no face track"}
    else:
        result["heatmap"] = capture("heatmap", face_heatmaps, submission, detection, detector)
    return result


def face_heatmaps(submission, detection, detector):
    """Signal: Grad-CAM of the best face of the most suspicious tracks, each a PNG the size of its face crop."""
    from training.preprocessing import image_to_array

    faces = []
    for track in detection.tracks[:HEATMAP_FACES]:
        best = track["best"]
        frame = frames.open_frame(detection.timeline[best["index"]]["image"])
        face = frame.crop(frames.face_region(best["box"], frame.size))
        try:
            cam, layer = grad_cam(detector.model, image_to_array(face, detector.input_size))
        except HeatmapUnavailable as exc:
            return {"status": "not_applicable", "message": str(exc)}
        name = f"{frames.folder(submission.sha256)}/heat-{detection.model_version_id}-{track['id']}.png"
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(png_bytes(colourise(cam, face.size))))
        faces.append({"track": track["id"], "t": best["t"], "image": name, "layer": layer})
    return {"faces": faces, "caption": HEATMAP_CAPTION}
