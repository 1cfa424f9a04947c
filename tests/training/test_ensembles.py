"""Ensembles as model versions: one Keras graph with each member's logit, flips, a fitted combination, and
every member's own score beside the combined one."""
import numpy as np
import pytest
from django.core.management import call_command

from detection import services
from detection.models import Detection
from tests.conftest import TINY_INPUT_SIZE, make_image_bytes
from training import ensembles, registry
from training.management.commands.screen_ensembles import format_decision


def tiny_member(path, weights, bias):
    """A detector whose logit is w . (channel means in [0, 1]) + b: predictable by hand."""
    import keras

    inputs = keras.Input((TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")
    model = keras.Model(inputs, head(x))
    head.set_weights([np.array(weights, dtype=np.float32).reshape(3, 1), np.array([bias], dtype=np.float32)])
    model.save(path)
    return path


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.fixture
def members(tmp_path, db):
    a = tiny_member(tmp_path / "a.keras", [12.0, -8.0, -8.0], -3.0)  # red is fake
    b = tiny_member(tmp_path / "b.keras", [4.0, 0.0, -6.0], -1.0)
    va = registry.register(name="member-a", artifact=a, architecture="TinyA", input_size=TINY_INPUT_SIZE, is_trained=True)
    vb = registry.register(name="member-b", artifact=b, architecture="TinyB", input_size=TINY_INPUT_SIZE, is_trained=True,
                           temperature=2.0)
    return va, vb


def test_the_ensemble_combines_member_logits_and_reports_each_member(members, tmp_path):
    from detection.inference.runtime import load_keras_model

    va, vb = members
    model = ensembles.build_ensemble([load_keras_model(str(v.artifact_path)) for v in members], [0.7, 0.3], bias=0.5,
                                     temperatures=[va.temperature, vb.temperature])
    model.save(tmp_path / "ensemble.keras")
    loaded = load_keras_model(str(tmp_path / "ensemble.keras"))  # standard layers: no custom objects
    rgb = np.array([0.8, 0.2, 0.1])
    image = np.broadcast_to(rgb * 255, (1, TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3)).astype(np.float32)
    out = np.asarray(loaded.predict_on_batch(image))
    la, lb = 12 * 0.8 - 8 * 0.2 - 8 * 0.1 - 3, 4 * 0.8 - 6 * 0.1 - 1
    assert out.shape == (1, 3)
    assert out[0, 0] == pytest.approx(sigmoid(0.7 * la + 0.3 * lb + 0.5), abs=1e-5)
    assert out[0, 1] == pytest.approx(sigmoid(la), abs=1e-5)
    assert out[0, 2] == pytest.approx(sigmoid(lb / 2.0), abs=1e-5)  # member b's own temperature


def test_test_time_flips_average_the_image_and_its_mirror(members):
    from detection.inference.runtime import load_keras_model

    loaded = [load_keras_model(str(v.artifact_path)) for v in members]
    model = ensembles.build_ensemble(loaded, [0.5, 0.5], flip=True)
    image = np.zeros((1, TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3), np.float32)
    image[:, :, : TINY_INPUT_SIZE // 4] = [250, 0, 0]  # a red strip on the left only
    mirrored = image[:, :, ::-1]
    assert np.asarray(model.predict_on_batch(image)) == pytest.approx(np.asarray(model.predict_on_batch(mirrored)), abs=1e-6)
    # pooled features are flip-invariant here, so flips must not change the score either
    plain = ensembles.build_ensemble(loaded, [0.5, 0.5])
    assert np.asarray(model.predict_on_batch(image)) == pytest.approx(np.asarray(plain.predict_on_batch(image)), abs=1e-5)


def test_a_stacker_fitted_on_validation_weights_the_better_member():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    good = (labels - 0.5) * 4 + rng.normal(0, 1, 400)
    noise = rng.normal(0, 1, 400)
    weights, bias = ensembles.fit_combination(np.stack([good, noise], axis=1), labels, "stacker")
    assert weights[0] > 4 * abs(weights[1])
    assert ensembles.fit_combination(np.stack([good, noise], axis=1), labels, "mean") == ([0.5, 0.5], 0.0)


def test_make_ensemble_registers_a_version_that_workers_serve_with_member_scores(members, tmp_path, journalist):
    from tests.training.conftest import make_tiny_dataset

    dataset = make_tiny_dataset(tmp_path / "faces")
    call_command("make_ensemble", "duo", "--members", "member-a", "member-b", "--dataset", str(dataset),
                 "--output", str(tmp_path / "runs" / "duo"), "--register", "--flip")
    version = registry.ModelVersion.objects.get(name="duo")
    assert version.member_names == ["member-a", "member-b"]
    assert (tmp_path / "runs" / "duo" / "report" / "report.html").exists()
    registry.activate(version)

    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist, enqueue=False)
    services.score(submission.pk)
    detection = Detection.objects.get(submission=submission)
    assert [m["version"] for m in detection.member_scores] == ["member-a", "member-b"]
    assert detection.member_scores[0]["probability"] > 0.9  # member a: red is fake
    assert detection.label == "fake"


def test_an_ensemble_exports_to_onnx_with_every_column(members, tmp_path):
    from detection.inference import export
    from detection.inference.runtime import load_keras_model

    model = ensembles.build_ensemble([load_keras_model(str(v.artifact_path)) for v in members], [0.5, 0.5], flip=True)
    model.save(tmp_path / "ensemble.keras")
    info = export.export_onnx(tmp_path / "ensemble.keras", "ensemble-test")
    batch = np.random.default_rng(1).uniform(0, 255, (3, TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3)).astype(np.float32)
    rows = export.OnnxModel(info.onnx_path).run(batch)
    assert rows.shape == (3, 3)
    assert rows == pytest.approx(np.asarray(model.predict_on_batch(batch)), abs=1e-4)


def test_make_ensemble_names_unknown_members(db, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no such model version: nope"):
        call_command("make_ensemble", "x", "--members", "nope", "--dataset", str(tmp_path))


def test_register_run_registers_a_run_folder_and_names_a_bad_one(members, tmp_path, capsys):
    from django.core.management import CommandError

    from tests.training.conftest import make_tiny_dataset

    dataset = make_tiny_dataset(tmp_path / "faces")
    call_command("make_ensemble", "pair", "--members", "member-a", "member-b", "--dataset", str(dataset),
                 "--output", str(tmp_path / "runs" / "pair"))
    call_command("register_run", str(tmp_path / "runs" / "pair"))
    assert "registered pair" in capsys.readouterr().out
    assert registry.ModelVersion.objects.get(name="pair").member_names == ["member-a", "member-b"]
    with pytest.raises(CommandError, match="cannot register"):
        call_command("register_run", str(tmp_path / "nothing"))


def test_a_shipped_ensemble_names_its_members_from_its_configuration(db, tmp_path):
    version = registry.register(
        name="shipped-duo", artifact=tmp_path / "duo.keras", architecture="Ensemble", input_size=TINY_INPUT_SIZE,
        training_config={"ensemble": {"members": [{"name": "v2", "weight": 0.5}, {"name": "v3", "weight": 0.5}]}},
    )
    assert version.member_names == ["v2", "v3"]


def test_an_ensemble_unpacks_into_its_members_which_score_as_they_did_inside_it(members, tmp_path, capsys):
    from detection.inference.runtime import load_keras_model
    from tests.training.conftest import make_tiny_dataset

    va, vb = members
    dataset = make_tiny_dataset(tmp_path / "faces")
    call_command("make_ensemble", "duo", "--members", "member-a", "member-b", "--dataset", str(dataset),
                 "--output", str(tmp_path / "runs" / "duo"), "--register", "--no-evaluate")  # fmt: skip
    duo = registry.ModelVersion.objects.get(name="duo")
    # As if the members were never registered here (a shipped ensemble, its members trained elsewhere).
    registry.ModelVersion.objects.filter(name="member-a").update(name="elsewhere-a")
    registry.ModelVersion.objects.filter(name="member-b").update(name="elsewhere-b")

    call_command("unpack_ensemble", "duo", "--output", str(tmp_path / "unpacked"))
    assert "member-a:" in capsys.readouterr().out
    unpacked = {v.name: v for v in registry.ModelVersion.objects.filter(training_config__unpacked_from="duo")}
    assert set(unpacked) == {"member-a", "member-b"}
    assert unpacked["member-b"].temperature == pytest.approx(2.0)
    image = np.broadcast_to(np.array([0.8, 0.2, 0.1]) * 255, (1, TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3)).astype(np.float32)
    inside = np.asarray(load_keras_model(str(duo.artifact_path)).predict_on_batch(image))[0]
    for column, name, original in ((1, "member-a", va), (2, "member-b", vb)):
        alone = np.asarray(load_keras_model(str(unpacked[name].artifact_path)).predict_on_batch(image))[0, 0]
        before = np.asarray(load_keras_model(str(original.artifact_path)).predict_on_batch(image))[0, 0]
        assert alone == pytest.approx(before, abs=1e-6)  # the member's own raw probability
        assert sigmoid(np.log(alone / (1 - alone)) / unpacked[name].temperature) == pytest.approx(inside[column], abs=1e-5)

    # The unpacked members take a new member like any registered version; unpacking again registers nothing.
    call_command("make_ensemble", "trio", "--members", "member-a", "member-b", "elsewhere-b", "--dataset", str(dataset),
                 "--output", str(tmp_path / "runs" / "trio"), "--register", "--no-evaluate")  # fmt: skip
    assert registry.ModelVersion.objects.get(name="trio").member_names == ["member-a", "member-b", "elsewhere-b"]
    call_command("unpack_ensemble", "duo", "--output", str(tmp_path / "unpacked"))
    assert registry.ModelVersion.objects.filter(training_config__unpacked_from="duo").count() == 2


def test_unpacking_a_single_detector_is_refused(members):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="member-a is not an ensemble"):
        call_command("unpack_ensemble", "member-a")


def test_screening_scores_every_combination_as_the_built_ensemble_evaluates(members, tmp_path, capsys):
    import json

    from django.core.management import CommandError

    from sklearn.metrics import roc_auc_score

    from tests.training.conftest import make_tiny_dataset
    from training.datasets import load_dataset

    dataset = make_tiny_dataset(tmp_path / "faces", per_class=12)
    # A third member that is the first one's opposite: alone it ranks everything backwards.
    backwards = tiny_member(tmp_path / "c.keras", [-12.0, 8.0, 8.0], 3.0)
    registry.register(name="member-c", artifact=backwards, architecture="TinyC", input_size=TINY_INPUT_SIZE, is_trained=True)
    call_command("screen_ensembles", "--members", "member-a", "member-b", "member-c", "--dataset", str(dataset),
                 "--max-members", "2", "--json", str(tmp_path / "screen.json"))
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "screen.json").read_text())
    combos = [tuple(r["members"]) for r in rows]
    assert sorted(combos) == sorted([("member-a",), ("member-b",), ("member-c",), ("member-a", "member-b"),
                                     ("member-a", "member-c"), ("member-b", "member-c")])
    valid = [r["valid"]["all"] for r in rows]
    assert valid == sorted(valid, reverse=True)  # best on validation first
    by_members = {tuple(r["members"]): r for r in rows}
    assert by_members["member-a",]["valid"]["all"] > 0.5 > by_members["member-c",]["valid"]["all"]
    assert by_members["member-a", "member-c"]["valid"]["all"] == 0.5  # opposite logits: their mean ranks nothing
    assert set(rows[0]["valid"]) == set(rows[0]["test"]) == {"all", "alpha", "beta"}  # per source too
    assert "member-a + member-b" in out and "val AUC" in out and "P(best)" in out

    # How far validation separates them: every row against the best, on the same bootstrap resamples.
    best = rows[0]["selection"]
    assert best["reference"] == rows[0]["members"] and best["delta"] == 0 and best["delta_ci95"] == [0, 0]
    assert sum(r["selection"]["p_best"] for r in rows) == pytest.approx(1)
    backwards_row = by_members["member-c",]["selection"]
    assert backwards_row["delta_ci95"][1] < 0 and backwards_row["p_beats_reference"] == 0 and backwards_row["p_best"] == 0
    for r in rows:
        low, high = r["selection"]["delta_ci95"]
        assert low <= r["selection"]["delta"] + 1e-9 and r["selection"]["resamples"] == 1000

    # The pair's figures are the ones make_ensemble's evaluation reports for the same mean-of-logits ensemble.
    call_command("make_ensemble", "pair", "--members", "member-a", "member-b", "--dataset", str(dataset),
                 "--output", str(tmp_path / "runs" / "pair"))
    report = json.loads((tmp_path / "runs" / "pair" / "report" / "metrics.json").read_text())
    pair = next(r for r in rows if r["members"] == ["member-a", "member-b"])
    for split in ("valid", "test"):
        for source, auc in pair[split].items():
            assert auc == pytest.approx(report[split][source]["roc_auc"], abs=1e-6), (split, source)

    # Against a chosen reference (a deployment's default), with fewer resamples.
    call_command("screen_ensembles", "--members", "member-a", "member-b", "member-c", "--dataset", str(dataset),
                 "--reference", "member-b", "member-a", "--resamples", "200", "--json", str(tmp_path / "ref.json"))
    against_rows = json.loads((tmp_path / "ref.json").read_text())
    against = {tuple(r["members"]): r["selection"] for r in against_rows}
    decision = ensembles.decide(against_rows)
    assert decision["action"] in ("keep", "replace")
    assert capsys.readouterr().out.strip().splitlines()[-2].startswith(
        "decision: replace the reference with" if decision["action"] == "replace" else "decision: keep the reference")
    assert against["member-a", "member-b"]["delta"] == 0 and against["member-a", "member-b"]["delta_ci95"] == [0, 0]
    assert against["member-c",]["reference"] == ["member-a", "member-b"] and against["member-c",]["resamples"] == 200
    call_command("screen_ensembles", "--members", "member-a", "member-b", "--dataset", str(dataset),
                 "--resamples", "0", "--json", str(tmp_path / "none.json"))
    assert all(r["selection"] is None for r in json.loads((tmp_path / "none.json").read_text()))

    # --robustness: each row's AUC on the validation split re-encoded, as the mean of its members' logits there.
    from training.evaluation import PERTURBATIONS, load_model, load_split

    call_command("screen_ensembles", "--members", "member-a", "member-b", "--dataset", str(dataset), "--robustness",
                 "--resamples", "0", "--json", str(tmp_path / "robust.json"))
    assert "val jpeg_75 drop" in capsys.readouterr().out
    robust = {tuple(r["members"]): r for r in json.loads((tmp_path / "robust.json").read_text())}
    assert "robustness" not in by_members["member-a", "member-b"]  # only when asked: it triples the validation passes
    valid_samples = load_dataset(dataset).split("valid")
    labels = np.array([s.label for s in valid_samples])
    for name in ("jpeg_75", "half_resolution"):
        images = load_split(valid_samples, TINY_INPUT_SIZE, PERTURBATIONS[name])
        pair = ensembles.member_logits([load_model(v.artifact_path) for v in members], images).mean(axis=1)
        figures = robust["member-a", "member-b"]["robustness"][name]
        assert figures["split"] == "valid" and figures["auc"] == pytest.approx(roc_auc_score(labels, pair), abs=1e-9)
        assert figures["auc_drop"] == pytest.approx(robust["member-a", "member-b"]["valid"]["all"] - figures["auc"])

    with pytest.raises(CommandError, match="--max-jpeg-drop must be 0 or more"):
        call_command("screen_ensembles", "--members", "member-a", "member-b", "--dataset", str(dataset),
                     "--max-jpeg-drop", "-0.1")
    with pytest.raises(CommandError, match="no such model version: nope"):
        call_command("screen_ensembles", "--members", "member-a", "nope", "--dataset", str(dataset))
    with pytest.raises(CommandError, match="reference .*member-c.* must be one to 2 of the screened versions"):
        call_command("screen_ensembles", "--members", "member-a", "member-b", "--dataset", str(dataset),
                     "--max-members", "2", "--reference", "member-c")
    for command in (["screen_ensembles"], ["make_ensemble", "x"]):  # a dataset that is not there: an error, no traceback
        with pytest.raises(CommandError, match="no-such-folder"):
            call_command(*command, "--members", "member-a", "member-b", "--dataset", str(tmp_path / "no-such-folder"))


def _screened(members, valid_auc, delta_ci95, jpeg_drop=None, reference=("a", "b")):
    row = {"members": list(members), "valid": {"all": valid_auc},
           "selection": {"reference": list(reference), "delta": sum(delta_ci95) / 2, "delta_ci95": list(delta_ci95)}}
    if jpeg_drop is not None:
        row["robustness"] = {"jpeg_75": {"split": "valid", "auc_drop": jpeg_drop}}
    return row


def test_a_candidate_replaces_the_reference_only_when_validation_separates_them_and_it_keeps_the_jpeg_target():
    reference = _screened(("b", "a"), 0.950, (0, 0), jpeg_drop=0.019)
    clear = _screened(("a", "c"), 0.958, (0.002, 0.014), jpeg_drop=0.018)
    tie = _screened(("a", "d"), 0.955, (-0.002, 0.012), jpeg_drop=0.015)
    fragile = _screened(("c", "d"), 0.970, (0.010, 0.030), jpeg_drop=0.035)

    decision = ensembles.decide([fragile, clear, tie, reference])
    assert decision["action"] == "replace" and decision["candidate"] is clear  # the fragile row leads but fails JPEG
    assert "+0.0080 [+0.0020, +0.0140] is clear of 0" in decision["reason"]
    assert ensembles.decide([fragile, clear, tie, reference], max_jpeg_drop=None)["candidate"] is fragile

    decision = ensembles.decide([fragile, tie, reference])
    assert decision["action"] == "keep" and decision["candidate"] is tie and "a tie" in decision["reason"]

    assert ensembles.decide([fragile, reference]) == {
        "action": "keep", "candidate": None, "reason": "no eligible combination leads the reference on validation AUC"}
    no_robustness = [{k: v for k, v in r.items() if k != "robustness"} for r in (fragile, reference)]
    assert ensembles.decide(no_robustness)["action"] == "replace"  # screened without --robustness: AUC alone
    assert ensembles.decide([{**reference, "selection": None}]) is None  # --resamples 0: no standing to decide on


def test_the_decision_line_names_the_jpeg_limit_whenever_one_applied_zero_included():
    reference = _screened(("b", "a"), 0.950, (0, 0), jpeg_drop=0.0)
    tie = _screened(("a", "d"), 0.955, (-0.002, 0.012), jpeg_drop=0.0)
    decision = ensembles.decide([tie, reference], max_jpeg_drop=0.0)
    assert decision["candidate"] is tie
    assert "among combinations losing at most 0.0 under JPEG 75 on validation" in format_decision(decision, 0.0)
    assert "JPEG" not in format_decision(decision, None)  # screened without --robustness: no limit to name
