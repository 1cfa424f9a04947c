"""Video: validate a clip, sample its frames, follow faces across them, and combine their scores into a verdict.

How a clip flows (the image path is unchanged; a video is one Submission of kind "video"):

1. `probe.validate_video` (called by `detection.services.submit`) opens the container with PyAV, which bundles
   FFmpeg's libraries in its wheel, and refuses anything broken or outside the limits in settings before
   a byte is stored. Animated GIF and WebP are read with Pillow and go the same way.
2. `scoring.score_video` (called by `detection.services.score_many` for a video in a batch) samples frames
   (`reader.sample_times`: VERITY_VIDEO_SAMPLE_RATE per second, at most VERITY_VIDEO_MAX_FRAMES), seeking to
   the keyframe before each sample instead of decoding the whole clip, cuts each frame's faces the way
   images are cut (detection/inference/crops.py) and scores them with the active model version in batches.
   Every scored chunk of frames is kept (`VideoFrame`), so a killed worker's successor resumes where it
   stopped; the detection itself is stored once per model version, like an image's.
3. `tracks.follow_faces` links the faces of consecutive frames into tracks; `verdict.combine` turns frame
   and track scores into the clip's probability by the rule documented there.
"""
