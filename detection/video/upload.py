"""What a validated clip adds to its Submission: the probed facts, the poster frame and filtered metadata."""
from . import frames, metadata
from .probe import ValidatedVideo


def is_video(validated):
    return isinstance(validated, ValidatedVideo)


def submission_fields(video):
    """Submission fields for a ValidatedVideo; stores the poster (raises storage.StorageUnavailable like store())."""
    facts = {"codec": video.codec, "rotation": video.rotation, "variable_frame_rate": video.variable_frame_rate}
    return {
        "kind": "video",
        "duration_seconds": video.duration,
        "frame_rate": video.frame_rate,
        "frame_count": video.frame_count,
        "video_info": {
            **facts,
            "container": video.format,
            "keyframes": video.keyframes,
            "poster": frames.save_poster(video),
            "metadata": metadata.describe(video.metadata, facts),
        },
    }
