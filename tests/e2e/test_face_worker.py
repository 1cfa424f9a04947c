"""Face-crop scoring and the no-face verdict through a real Celery worker process."""
import pytest

from detection import services
from detection.models import Detection, Submission
from tests.conftest import make_image_bytes
from tests.detection.test_face_scoring import jpeg, two_faces_one_red
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def test_the_worker_scores_faces_and_says_when_there_is_none(start_worker, settings, journalist, active_model):
    settings.VERITY_SCORE_FACES = True
    worker = start_worker(VERITY_SCORE_FACES="1")
    pair = services.submit(data=jpeg(two_faces_one_red()), name="pair.jpg", uploader=journalist)
    field = services.submit(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg", uploader=journalist)

    def both_scored():
        return Submission.objects.filter(pk__in=[pair.pk, field.pk], status="scored").count() == 2

    wait_for(both_scored, 90, "both verdicts", worker)
    faces = Detection.objects.get(submission=pair)
    assert faces.scored_on == "faces" and len(faces.faces) == 2 and faces.label == "fake"
    assert faces.probability == pytest.approx(max(f["probability"] for f in faces.faces), abs=1e-6)
    none = Detection.objects.get(submission=field)
    assert none.label == "no_face" and none.scored_on == "no_face" and none.faces == []
    # The faces were found on the prepare queue before scoring (none in the field: looked for, not found).
    assert "detection.tasks.prepare_submission" in worker.output()
    assert len(Submission.objects.get(pk=pair.pk).face_boxes) == 2
    assert Submission.objects.get(pk=field.pk).face_boxes == []


def test_the_worker_serves_an_ensemble_version_with_each_members_score(start_worker, tmp_path, journalist):
    from detection.inference.runtime import load_keras_model
    from tests.conftest import TINY_INPUT_SIZE
    from tests.training.test_ensembles import tiny_member
    from training import ensembles, registry
    from training.models import EnsembleMember

    paths = [tiny_member(tmp_path / "a.keras", [12.0, -8.0, -8.0], -3.0), tiny_member(tmp_path / "b.keras", [-6.0, 4.0, 0.0], 0.0)]
    members = [registry.register(name=f"m{i}", artifact=p, architecture="Tiny", input_size=TINY_INPUT_SIZE, is_trained=True)
               for i, p in enumerate(paths)]
    model = ensembles.build_ensemble([load_keras_model(str(p)) for p in paths], [0.5, 0.5], flip=True)
    model.save(tmp_path / "duo.keras")
    duo = registry.register(name="duo", artifact=tmp_path / "duo.keras", architecture="Ensemble", input_size=TINY_INPUT_SIZE,
                            is_trained=True)
    for position, member in enumerate(members):
        EnsembleMember.objects.create(ensemble=duo, member=member, position=position, weight=0.5)
    registry.activate(duo)

    worker = start_worker()
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)
    wait_for(lambda: Submission.objects.get(pk=submission.pk).status == "scored", 90, "the ensemble's verdict", worker)
    detection = Detection.objects.get(submission=submission)
    assert detection.model_version == duo
    scores = {m["version"]: m["probability"] for m in detection.member_scores}
    assert scores["m0"] > 0.9 and scores["m1"] < 0.1  # the members disagree; both are kept
