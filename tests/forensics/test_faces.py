"""Faces: found offline, each scored on its own, the most suspicious one boxed; no face means a warning."""
import io

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from detection.forensics import summary
from detection.forensics.faces import NO_FACE, find_faces

from .conftest import encode, face_image

RED_SKIN = (255, 60, 60)  # the conv test model finds red "fake"


def test_a_drawn_face_is_found_where_it_was_drawn():
    drawn = (150, 70, 330, 330)

    boxes = find_faces(face_image(boxes=(drawn,)))

    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    centre = (x + w / 2, y + h / 2)
    assert drawn[0] < centre[0] < drawn[2] and drawn[1] < centre[1] < drawn[3]


def test_a_plain_landscape_has_no_face():
    sky_and_field = np.zeros((300, 400, 3), dtype=np.uint8)
    sky_and_field[:150] = (120, 170, 230)
    sky_and_field[150:] = (60, 140, 50)

    assert find_faces(Image.fromarray(sky_and_field)) == []


def test_each_face_is_scored_and_the_most_suspicious_one_is_boxed(active_conv_model, scored):
    two_faces = face_image(size=(640, 360), boxes=((60, 60, 240, 320), (380, 60, 560, 320)), skins={0: RED_SKIN})
    submission = scored(encode(two_faces, "PNG"), name="two.png")

    faces = summary(submission)["signals"]["faces"]

    assert faces["status"] == "ok" and faces["count"] == 2
    suspicious = faces["faces"][faces["most_suspicious"]]
    other = faces["faces"][1 - faces["most_suspicious"]]
    assert suspicious["box"][0] < 0.5 < other["box"][0]  # the red face on the left
    assert suspicious["probability"] > other["probability"] + 0.25
    assert "2 faces found; the most suspicious face scores" in faces["message"]


def test_the_most_suspicious_face_is_drawn_in_red_on_the_faces_image(active_conv_model, scored):
    two_faces = face_image(size=(640, 360), boxes=((60, 60, 240, 320), (380, 60, 560, 320)), skins={0: RED_SKIN})
    submission = scored(encode(two_faces, "PNG"), name="two.png")
    faces = summary(submission)["signals"]["faces"]
    x, y, w, h = faces["faces"][faces["most_suspicious"]]["box"]

    with default_storage.open(submission.evidence.faces_image) as fh:
        drawn = np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB"))

    top_edge = drawn[round(y * drawn.shape[0]) + 1, round((x + w / 2) * drawn.shape[1])]
    assert tuple(top_edge) == (230, 0, 40)


def test_without_a_face_the_page_says_the_score_is_less_reliable(active_model, scored, client, journalist):
    submission = scored(encode(Image.new("RGB", (200, 150), (90, 140, 60))))
    client.force_login(journalist)

    faces = summary(submission)["signals"]["faces"]
    page = client.get(f"/submissions/{submission.pk}/").content.decode()

    assert faces["status"] == "not_applicable" and faces["count"] == 0
    assert faces["message"] == NO_FACE
    assert "No face found: the detector&#x27;s score is less reliable" in page
