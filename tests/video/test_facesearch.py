"""Faces in a clip: searched whole every few sampled frames and near the faces found in the frames between;
and the cascades safe to use from the scorer's threads."""
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageFilter

from detection.forensics import faces
from detection.inference import crops
from detection.video import facesearch
from detection.video.tracks import iou

from .clips import FACE

SIZE = (640, 360)


def frame(face_at=None, face_side=150, blank=False):
    """A frame: a blurred photo as the background, the face photo pasted at `face_at` (none when None)."""
    photo = Image.open(FACE).convert("RGB")
    background = photo.resize(SIZE).filter(ImageFilter.GaussianBlur(12))
    if blank:
        background = Image.new("RGB", SIZE, (90, 110, 100))
    if face_at is not None:
        background.paste(photo.resize((face_side, face_side)), face_at)
    return background


def drifting(count, step=12):
    return [frame((60 + i * step, 80 + i * step // 3)) for i in range(count)]


def position(images, image):
    return next(i for i, candidate in enumerate(images) if candidate is image)  # PIL's == compares pixels


def whole_search(images):
    return [crops.find_face_boxes(image, SIZE[0]) for image in images]


def test_frames_between_whole_searches_find_the_face_where_the_whole_search_finds_it():
    images = drifting(10)
    expected = whole_search(images)
    assert all(expected), "the test frames must show a face the cascade finds"
    found = facesearch.search(images, SIZE[0])
    for mine, theirs in zip(found, expected):
        for face in theirs:  # every face the whole search finds is found between whole searches too
            assert any(iou(face, box) > 0.5 for box in mine), (face, mine)


def test_only_every_few_frames_and_the_last_are_searched_whole(monkeypatch, settings):
    calls = []
    real = crops.find_face_boxes
    monkeypatch.setattr(crops, "find_face_boxes", lambda image, side: calls.append(image) or real(image, side))
    images = drifting(11)
    facesearch.search(images, SIZE[0])
    assert len(calls) == 5  # 0, 3, 6, 9 and the last, 10 (VERITY_VIDEO_FULL_SEARCH_EVERY=3)
    calls.clear()
    settings.VERITY_VIDEO_FULL_SEARCH_EVERY = 1
    assert facesearch.search(images, SIZE[0]) == whole_search(images) and len(calls) == 2 * 11
    assert calls[0] is images[0] and calls[-1] is images[-1]


def test_a_face_that_enters_is_found_from_the_whole_search_after_it_and_in_the_frames_just_before():
    images = [frame(blank=True) for _ in range(4)] + drifting(6)[4:]  # no face in 0-3, a face from 4 on
    found = facesearch.search(images, SIZE[0])
    assert found[:4] == [[], [], [], []]
    assert all(found[4:])


def test_between_two_whole_searches_that_found_no_face_nothing_is_looked_for(monkeypatch):
    images = [frame(blank=True) for _ in range(7)]
    monkeypatch.setattr(faces, "faces_in_grey", lambda *a, **k: (_ for _ in ()).throw(AssertionError("searched")))
    monkeypatch.setattr(crops, "find_face_boxes", lambda image, side: [])
    assert facesearch.search(images, SIZE[0]) == [[]] * 7


def test_windows_at_the_edges_and_larger_than_the_frame_are_searched_without_error():
    image = frame((60, 80))
    known = [(0, 0, 40, 40), (SIZE[0] - 30, SIZE[1] - 30, 30, 30), (100, 50, 900, 700), (5, 5, 2, 2)]
    assert isinstance(facesearch.follow(image, known, SIZE[0]), list)
    assert facesearch.follow(image, [], SIZE[0]) == []


def test_the_cascades_give_the_same_faces_from_two_threads_as_from_one():
    # A CascadeClassifier keeps the image it searches inside itself: shared by two threads, each thread's
    # search read the other's image (26 of 60 frames came out different before each thread had its own).
    images = [frame((40 + 17 * i, 30 + 9 * i), face_side=110 + 5 * (i % 5)) for i in range(16)]
    images = [image.resize((SIZE[0] - 32 * (i % 3), SIZE[1] - 18 * (i % 3))) for i, image in enumerate(images)]
    one_by_one = [faces.find_faces(image) for image in images]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(3):
            assert list(pool.map(faces.find_faces, images)) == one_by_one


def test_a_frame_is_never_followed_from_across_a_cut(monkeypatch):
    # Shot A (a face on the left) for frames 0-1, shot B (a face on the right, another background) from 2 on:
    # frame 1 follows from frame 0 only; frame 2 has a cut before it and frame 3 (its whole search) after
    # it in the same shot, so it follows from 3; no window of shot A is searched in shot B's frames.
    shot_a = [frame((40, 60)) for _ in range(2)]
    shot_b = [frame((420, 150), face_side=150, blank=True) for _ in range(2)]
    images = shot_a + shot_b
    windows = []
    real_follow = facesearch.follow
    monkeypatch.setattr(facesearch, "follow", lambda image, known, side: windows.append((image, known)) or real_follow(image, known, side))
    facesearch.search(images, SIZE[0])
    followed = {position(images, image): known for image, known in windows}
    assert sorted(followed) == [1, 2]
    assert all(box[0] < 300 for box in followed[1]) and all(box[0] > 300 for box in followed[2])


def test_a_frame_with_cuts_on_both_sides_is_searched_whole(monkeypatch):
    images = [frame((40, 60)), frame((420, 150), blank=True), frame((40, 60)), frame((40, 60))]
    whole = []
    real = crops.find_face_boxes
    monkeypatch.setattr(crops, "find_face_boxes", lambda image, side: whole.append(position(images, image)) or real(image, side))
    facesearch.search(images, SIZE[0])
    assert sorted(whole) == [0, 1, 3]  # 0 and 3 as planned, 1 because cuts fall on both its sides
