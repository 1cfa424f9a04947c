"""Face-crop scoring: the detector sees faces cut the way its training images were, the most suspicious face
decides, and an image with no face says it is outside what the detector was trained for."""
import io
from pathlib import Path

import pytest
from PIL import Image

from detection import services
from detection.inference import crops
from detection.models import Detection
from tests.conftest import make_image_bytes

FACE = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"


def jpeg(image, quality=90):
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def face_photo():
    return Image.open(FACE).convert("RGB")


def scene(tint, size=(1200, 800)):
    """A large photo: a blurred, tinted copy of the face photo as the background, the face photo in the middle.

    (OpenCV's cascade misses faces pasted on flat synthetic backgrounds; a textured one behaves like a photo.)
    """
    face = face_photo()
    photo = Image.blend(face.resize(size), Image.new("RGB", size, tint), 0.5)
    photo.paste(face, (size[0] // 2 - 160, size[1] // 2 - 160))
    return photo


def two_faces_one_red():
    """A wide photo with two faces; the right one tinted red (the tiny test detector scores red as fake)."""
    face = face_photo()
    canvas = Image.new("RGB", (1000, 420), (128, 128, 128))
    canvas.paste(face, (20, 50))
    canvas.paste(Image.blend(face, Image.new("RGB", face.size, (255, 0, 0)), 0.45), (640, 50))
    return canvas


def scored(**upload):
    submission = services.submit(enqueue=False, **upload)
    services.score(submission.pk)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def faces_on(settings):
    settings.VERITY_SCORE_FACES = True


def test_a_photo_with_a_face_is_scored_on_the_face_crop():
    photo = scene(tint=(255, 0, 0))
    found = crops.scoring_input(jpeg(photo), 32)
    assert found.subject == crops.FACES and found.faces_found == 1 and len(found.crops) == 1
    x, y, w, h = found.boxes[0]
    assert 0.4 < x < 0.5 and 0.3 < y < 0.4 and w < 0.1  # where the face was pasted, as fractions


def test_the_crop_has_the_training_margin_and_stays_inside_the_image():
    photo = face_photo()
    box = crops.find_face_boxes(photo)[0]
    left, top, right, bottom = crops.training_crop(photo, box)
    assert right - left == bottom - top  # square, like the training crops
    assert (right - left) == pytest.approx(box[2] / crops.TRAINING_FACE_FRACTION, abs=1)
    assert left <= box[0] and top <= box[1] and right >= box[0] + box[2] and bottom >= box[1] + box[3]
    corner = crops.training_crop(photo, (0, 0, 120, 120))  # a face in the corner: the crop is shifted inside
    assert corner[0] == 0 and corner[1] == 0 and corner[2] <= photo.width and corner[3] <= photo.height


def test_an_image_that_is_already_a_face_crop_is_scored_whole():
    photo = face_photo()
    tight = photo.crop(crops.training_crop(photo, crops.find_face_boxes(photo)[0]))
    found = crops.scoring_input(jpeg(tight), 32)
    assert found.subject == crops.WHOLE_IMAGE and len(found.crops) == 1 and found.faces_found == 1


def test_a_close_up_is_found_without_searching_for_small_faces_and_decided_as_the_full_search_decides(monkeypatch):
    from detection.forensics import faces

    photo = face_photo()
    tight = photo.crop(crops.training_crop(photo, crops.find_face_boxes(photo)[0]))
    sizes = []
    real = faces.faces_in_grey
    monkeypatch.setattr(faces, "faces_in_grey", lambda grey, side, *a, **k: sizes.append(side) or real(grey, side, *a, **k))
    found = crops.scoring_input(jpeg(tight), 32)
    assert found.subject == crops.WHOLE_IMAGE
    assert sizes == [int(crops.WHOLE_IMAGE_FACE_FRACTION * min(tight.size))]  # one search, for large faces only
    sizes.clear()
    assert crops.scoring_input(jpeg(tight), 32, close_up_first=False).subject == crops.WHOLE_IMAGE
    assert sizes == [faces.min_face_side(tight)]  # the full search: every size from the smallest


def test_with_no_close_up_the_fallback_cascades_look_for_a_close_up_only_and_the_frontal_one_for_small_faces(
    monkeypatch,
):
    from detection.forensics import faces

    searches = []
    real = faces.faces_in_grey

    def spy(grey, side, max_side=None, classifier=None, *args, **kwargs):
        searches.append((side, "frontal" if classifier is None else "fallback"))
        return real(grey, side, max_side, classifier, *args, **kwargs)

    monkeypatch.setattr(faces, "faces_in_grey", spy)
    faceless = Image.new("RGB", (400, 300), (30, 160, 40))
    close_up, small = int(crops.WHOLE_IMAGE_FACE_FRACTION * 300), faces.min_face_side(faceless)
    assert crops.find_face_boxes(faceless, close_up_first=True) == []
    # The fallbacks' small windows cost three times the frontal search and found a face in 4 of 1,138 images.
    fallbacks = [(close_up, "fallback")] * len(crops.FALLBACK_CASCADES)
    assert searches == [(close_up, "frontal"), *fallbacks, (small, "frontal")]
    searches.clear()
    assert crops.find_face_boxes(faceless) == []  # the full search (close_up_first off): every cascade, every size
    assert searches == [(small, "frontal")] + [(small, "fallback")] * len(crops.FALLBACK_CASCADES)


def test_a_photo_whose_faces_are_small_is_still_searched_for_them():
    photo = two_faces_one_red()
    assert crops.scoring_input(jpeg(photo), 32).subject == crops.FACES


def test_an_image_without_a_face_is_marked_so():
    found = crops.scoring_input(make_image_bytes(size=(300, 200), color=(30, 160, 40)), 32)
    assert found.subject == crops.NO_FACE and found.boxes == [] and len(found.crops) == 1


def test_the_most_suspicious_face_decides_and_every_face_is_kept(faces_on, journalist, active_model):
    submission = scored(data=jpeg(two_faces_one_red()), name="pair.jpg", uploader=journalist)
    detection = Detection.objects.get(submission=submission)
    assert detection.scored_on == Detection.ScoredOn.FACES
    assert len(detection.faces) == 2
    red, plain = detection.faces  # most suspicious first
    assert red["probability"] > 0.5 > plain["probability"]
    assert red["box"][0] > 0.5  # the tinted face is the right-hand one
    assert detection.probability == pytest.approx(red["probability"], abs=1e-6)
    assert detection.label == Detection.Label.FAKE


def test_a_real_looking_face_in_a_red_photo_is_judged_by_the_face_not_the_photo(faces_on, journalist, active_model):
    photo = scene(tint=(255, 0, 0))  # the whole image scores about 0.92 with the tiny detector
    submission = scored(data=jpeg(photo), name="red-room.jpg", uploader=journalist)
    detection = Detection.objects.get(submission=submission)
    assert detection.scored_on == Detection.ScoredOn.FACES
    assert detection.label == Detection.Label.REAL


def test_an_image_without_a_face_gets_the_no_face_verdict_not_real(faces_on, journalist, active_model):
    submission = scored(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg", uploader=journalist)
    detection = Detection.objects.get(submission=submission)
    assert detection.label == Detection.Label.NO_FACE and not detection.uncertain
    assert detection.scored_on == Detection.ScoredOn.NO_FACE and detection.faces == []
    assert 0.0 <= detection.probability <= 1.0  # the whole image's score, kept for information
    assert submission.final_verdict == (Detection.Label.NO_FACE, "detector")
    assert not hasattr(submission, "review_item") or submission.review_item is None


def test_no_face_results_go_to_review_when_the_rule_is_on(faces_on, settings, journalist, active_model):
    from review.models import ReviewItem

    settings.VERITY_REVIEW_ROUTES = ["fake", "uncertain", "requested", "no_face"]
    submission = scored(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg", uploader=journalist)
    item = ReviewItem.objects.get(submission=submission)
    assert item.reasons == [ReviewItem.Reason.NO_FACE.value]


def test_with_face_scoring_off_the_whole_image_is_scored(settings, journalist, active_model):
    settings.VERITY_SCORE_FACES = False
    submission = scored(data=jpeg(two_faces_one_red()), name="pair.jpg", uploader=journalist)
    detection = Detection.objects.get(submission=submission)
    assert detection.scored_on == Detection.ScoredOn.IMAGE and detection.faces == []


def test_the_submission_page_says_no_face_instead_of_a_verdict(faces_on, client, journalist, active_model):
    from django.urls import reverse

    submission = scored(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg", uploader=journalist)
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert "No face found: outside what this detector was trained for" in html
    assert 'id="no-face-note"' in html and "Likely real" not in html and "flags at" not in html.split('id="verdict-card"')[1].split("</section>")[0]
    listing = client.get(reverse("detection:submission-list")).content.decode()
    assert "No face found" in listing and "Likely real" not in listing


def test_the_submission_page_lists_each_scored_face(faces_on, client, journalist, active_model):
    from django.urls import reverse

    submission = scored(data=jpeg(two_faces_one_red()), name="pair.jpg", uploader=journalist)
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert "2 faces, each cut out the way the training images were" in html
    assert html.count("<li><span class=\"score") >= 2 and "(decides)" in html
    assert reverse("detection:submission-report", args=[submission.pk]) in html


def test_the_api_result_carries_the_faces_and_the_no_face_label(faces_on, journalist, active_model):
    from detection.api.serializers import DetectionResultSerializer

    submission = scored(data=jpeg(two_faces_one_red()), name="pair.jpg", uploader=journalist)
    data = DetectionResultSerializer(Detection.objects.get(submission=submission)).data
    assert data["scored_on"] == "faces" and len(data["faces"]) == 2 and len(data["faces"][0]["box"]) == 4
    field = scored(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg", uploader=journalist)
    assert DetectionResultSerializer(Detection.objects.get(submission=field)).data["label"] == "no_face"


def test_a_face_finder_error_fails_the_submission_with_its_reason(faces_on, journalist, active_model, monkeypatch):
    from detection.models import Submission

    def broken(image, *args, **kwargs):
        raise RuntimeError("cascade exploded")

    monkeypatch.setattr(crops, "find_face_boxes", broken)
    submission = scored(data=jpeg(face_photo()), name="face.jpg", uploader=journalist)
    assert submission.status == Submission.Status.FAILED and "cascade exploded" in submission.failure_reason
