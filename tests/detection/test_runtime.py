"""The serving runtime: ONNX export parity, runtime choice, batches, promotions and broken artifacts."""
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

from detection import services
from detection.inference import export, runtime
from detection.models import Submission
from tests.conftest import make_image_bytes
from training import registry


@pytest.fixture
def tiny_conv_model(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    path = tmp_path / "conv.keras"
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(autouse=True)
def _fresh_runtime(settings, tmp_path):
    settings.VERITY_MODELS_DIR = tmp_path / "models"
    runtime._loaded.clear()
    yield
    runtime._loaded.clear()


def test_the_onnx_export_agrees_with_keras(tiny_conv_model):
    import keras

    info = export.export_onnx(tiny_conv_model, "abc123")
    batch = np.random.default_rng(5).uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    expected = keras.models.load_model(tiny_conv_model).predict_on_batch(batch).reshape(-1)
    got = export.OnnxModel(info.onnx_path).predict(batch)
    assert np.max(np.abs(expected - got)) < 1e-5
    assert info.max_abs_diff <= export.MAX_ABS_DIFF
    assert export.existing_export("abc123") == info


def test_onnx_runtime_runs_as_many_threads_as_the_cores_the_worker_may_use(tiny_conv_model, monkeypatch):
    info = export.export_onnx(tiny_conv_model, "threads")
    monkeypatch.setattr(export.os, "sched_getaffinity", lambda pid: {1}, raising=False)  # pinned to one core
    assert export.OnnxModel(info.onnx_path).session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setattr(export.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert export.OnnxModel(info.onnx_path).session.get_session_options().intra_op_num_threads == 3
    assert export.OnnxModel(info.onnx_path, threads=2).session.get_session_options().intra_op_num_threads == 2


def test_an_export_that_disagrees_with_keras_is_refused(tiny_conv_model):
    original = export.OnnxModel.run
    with mock.patch.object(export.OnnxModel, "run", lambda self, b: original(self, b) + 1e-3):
        with pytest.raises(export.ExportRefused, match="disagree"):
            export.export_onnx(tiny_conv_model, "drifting")
    assert export.existing_export("drifting") is None


def test_workers_serve_with_onnx_once_the_export_exists(db, tiny_conv_model, settings):
    settings.VERITY_INFERENCE_RUNTIME = "onnx"
    version = registry.activate(registry.register(name="conv", artifact=tiny_conv_model, input_size=32, is_trained=True))
    assert runtime.get_detector(version).runtime == "keras"  # no export yet: Keras serves meanwhile
    export.export_onnx(tiny_conv_model, version.artifact_sha256)
    detector = runtime.get_detector(version)
    assert detector.runtime == "onnx"
    batch = np.full((2, 32, 32, 3), 200, dtype=np.float32)
    assert np.allclose(detector.predict(batch), detector.model.predict_on_batch(batch).reshape(-1), atol=1e-5)


def test_the_keras_runtime_ignores_exports(db, tiny_conv_model, settings):
    settings.VERITY_INFERENCE_RUNTIME = "keras"
    version = registry.activate(registry.register(name="conv", artifact=tiny_conv_model, input_size=32, is_trained=True))
    export.export_onnx(tiny_conv_model, version.artifact_sha256)
    assert runtime.get_detector(version).runtime == "keras"


def submit_many(n, journalist, color=(220, 20, 20)):
    return [
        services.submit(data=make_image_bytes(color=(color[0], color[1], i)), name=f"{i}.jpg", uploader=journalist, enqueue=False)
        for i in range(n)
    ]


def test_a_batch_runs_the_model_once_for_all_its_images(active_model, journalist):
    submissions = submit_many(5, journalist)
    detector = runtime.get_detector(active_model)
    with mock.patch.object(detector, "predict_with_members", wraps=detector.predict_with_members) as predict:
        results = services.score_many([s.pk for s in submissions])
    assert predict.call_count == 1 and predict.call_args.args[0].shape == (5, 32, 32, 3)
    assert all(d.label == "fake" for d in results.values())


def test_one_unreadable_image_fails_alone_and_the_rest_of_the_batch_is_scored(active_model, journalist):
    from django.core.files.storage import default_storage

    good, bad = submit_many(2, journalist)
    default_storage.delete(bad.file)
    results = services.score_many([good.pk, bad.pk])
    assert results[str(good.pk)].label == "fake" and results[str(bad.pk)] is None
    bad.refresh_from_db()
    assert bad.status == Submission.Status.FAILED and "could not be read" in bad.failure_reason


def test_the_batch_task_scores_every_request_it_is_given(active_model, journalist):

    from detection.tasks import score_submission

    submissions = submit_many(3, journalist)
    requests = [SimpleNamespace(args=(str(s.pk),)) for s in submissions]  # what celery-batches hands the task
    with mock.patch("detection.services.score_many", wraps=services.score_many) as score_many:
        score_submission.run(requests)
    score_many.assert_called_once_with([str(s.pk) for s in submissions])
    assert set(Submission.objects.values_list("status", flat=True)) == {"scored"}


def test_a_promotion_is_picked_up_at_the_next_batch(active_model, journalist, tiny_conv_model):
    first, second = submit_many(2, journalist)
    services.score_many([first.pk])
    assert runtime.loaded_versions() == [active_model.pk]
    newer = registry.activate(registry.register(name="conv-2", artifact=tiny_conv_model, input_size=32, is_trained=True))
    detection = services.score_many([second.pk])[str(second.pk)]
    assert detection.model_version == newer and runtime.loaded_versions() == [newer.pk]


def test_a_broken_artifact_fails_its_batch_and_keeps_the_previous_model_loaded(active_model, journalist, tmp_path):
    first, second = submit_many(2, journalist)
    services.score_many([first.pk])
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    registry.activate(registry.register(name="broken", artifact=broken, input_size=32, is_trained=True))
    assert services.score_many([second.pk]) == {str(second.pk): None}
    second.refresh_from_db()
    assert second.status == Submission.Status.FAILED and "cannot be loaded" in second.failure_reason
    assert runtime.loaded_versions() == [active_model.pk]
    # Rolling back to the working version serves at once, without reloading.
    registry.activate(active_model)
    with mock.patch("detection.inference.runtime.load_keras_model") as load:
        assert services.score_many([second.pk])[str(second.pk)].model_version == active_model
    load.assert_not_called()


def test_a_promotion_exports_the_version_for_serving(
    db, tiny_conv_model, settings, django_capture_on_commit_callbacks
):
    from audit.models import AuditEvent

    settings.VERITY_EXPORT_ON_PROMOTE = True
    version = registry.register(name="conv", artifact=tiny_conv_model, input_size=32, is_trained=True)
    with django_capture_on_commit_callbacks(execute=True):
        registry.activate(version)
    info = export.existing_export(version.artifact_sha256)
    assert info is not None and info.max_abs_diff <= export.MAX_ABS_DIFF
    assert AuditEvent.objects.get(action="model.exported").data["runtime"] == "onnx"
    assert runtime.get_detector(version).runtime == "onnx"


def _labelled_images(n=40):
    """Bright images labelled fake, dark ones real: the tiny conv model separates them somewhat."""
    rng = np.random.default_rng(3)
    labels = np.arange(n) % 2
    images = np.stack([rng.uniform(0, 120, (32, 32, 3)) + 130 * label for label in labels]).astype(np.float32)
    return images, labels


@pytest.fixture
def brightness_model(tmp_path):
    """A conv model whose output rises with brightness (fixed weights), so AUC on _labelled_images is high."""
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(x)
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="head")(x)
    model = keras.Model(inputs, outputs)
    kernel = np.random.default_rng(0).normal(0.05, 0.1, (3, 3, 3, 2)).astype(np.float32)
    model.get_layer("conv").set_weights([kernel, np.full(2, 0.2, np.float32)])
    kernel2 = np.abs(np.random.default_rng(1).normal(0.1, 0.05, (3, 3, 2, 2))).astype(np.float32)
    model.get_layer("conv2").set_weights([kernel2, np.zeros(2, np.float32)])
    model.get_layer("head").set_weights([np.full((2, 1), 3.0, dtype=np.float32), np.array([-3.0], np.float32)])
    path = tmp_path / "brightness.keras"
    model.save(path)
    return path


def test_the_int8_variant_is_judged_on_test_auc_and_served_only_when_approved(db, brightness_model, settings):
    import json

    from detection.inference import quantize

    version = registry.activate(registry.register(name="bright", artifact=brightness_model, input_size=32, is_trained=True))
    fp32 = export.export_onnx(brightness_model, version.artifact_sha256)
    images, labels = _labelled_images()
    info = quantize.quantize_int8(fp32, images, images, labels, images, labels)
    assert info.fp32_auc > 0.95 and abs(info.auc_delta - (info.fp32_auc - info.reduced_auc)) < 1e-12
    assert info.approved == (info.auc_delta <= quantize.MAX_AUC_LOSS)
    int8 = export.OnnxModel(info.onnx_path).predict(images)
    # A two-channel toy averages out little quantisation error; real detectors agree far more closely.
    assert np.max(np.abs(int8 - export.OnnxModel(fp32.onnx_path).predict(images))) < 0.1
    assert info.max_probability_diff < 0.1

    settings.VERITY_REDUCED_PRECISION = True
    _, info_path = quantize.reduced_paths(version.artifact_sha256)
    for approved, allowed in ((True, {"onnx-int8", "onnx"}), (False, {"onnx"})):
        info_path.write_text(json.dumps(dict(json.loads(info_path.read_text()), approved=approved)))
        assert runtime.get_detector(version).runtime in allowed  # approved: the faster of the two serves
        assert set(runtime.runtime_choices()["bright"]["seconds"]) == set(allowed)  # what was measured this load
    settings.VERITY_REDUCED_PRECISION = False
    info_path.write_text(json.dumps(dict(json.loads(info_path.read_text()), approved=True)))
    assert runtime.get_detector(version).runtime == "onnx"


def test_a_worker_start_asks_for_a_new_int8_variant_when_it_predates_folded_activations(db, brightness_model, settings, caplog):
    import json

    from detection.inference import quantize

    settings.VERITY_REDUCED_PRECISION = True
    version = registry.activate(registry.register(name="bright", artifact=brightness_model, input_size=32, is_trained=True))
    images, labels = _labelled_images()
    quantize.quantize_int8(export.export_onnx(brightness_model, version.artifact_sha256), images, images, labels)
    _, info_path = quantize.reduced_paths(version.artifact_sha256)
    info_path.write_text(json.dumps(dict(json.loads(info_path.read_text()), approved=True)))
    with caplog.at_level("WARNING", logger="detection.inference.runtime"):
        runtime.get_detector(version)
    assert "`manage.py quantize_model` makes one" not in caplog.text  # made now: activations folded

    old = {k: v for k, v in json.loads(info_path.read_text()).items() if k != "quantized_ops"}  # as older files are
    info_path.write_text(json.dumps(old))
    runtime._loaded.clear()
    with caplog.at_level("WARNING", logger="detection.inference.runtime"):
        runtime.get_detector(version)
        runtime.get_detector(version)  # once per load, not per batch
    assert caplog.text.count("`manage.py quantize_model` makes one") == 1


def _float_and_int8_convs(onnx_path):
    """(convolutions with float weights, convolutions fed int8 weights through DequantizeLinear), in graph order."""
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    dequantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    return [c.name for c in convs if c.input[1] not in dequantized], [c.name for c in convs if c.input[1] in dequantized]


def test_int8_keeps_the_fewest_leading_convolutions_in_float_that_hold_validation_auc(db, brightness_model):
    from detection.inference import quantize

    fp32 = export.export_onnx(brightness_model, "two-convs")
    images, labels = _labelled_images()
    valid_images, valid_labels = _labelled_images(24)

    # Everything in int8 is within a generous limit: the first candidate (no float convolution) is kept.
    with mock.patch.object(quantize, "MAX_AUC_LOSS", 1.0):
        info = quantize.quantize_int8(fp32, images, images, labels, valid_images, valid_labels)
    assert info.float_convs == 0 and list(info.valid_auc_deltas) == ["0"]
    floating, int8 = _float_and_int8_convs(info.onnx_path)
    assert floating == [] and len(int8) == 2

    # No candidate can meet an impossible limit: all are tried, the one losing least is kept, and not approved.
    with mock.patch.object(quantize, "MAX_AUC_LOSS", -1.0), mock.patch.object(quantize, "FLOAT_LEADING_CONVS", (0, 1)):
        info = quantize.quantize_int8(fp32, images, images, labels, valid_images, valid_labels)
    assert sorted(info.valid_auc_deltas) == ["0", "1"] and not info.approved
    deltas = {int(k): v for k, v in info.valid_auc_deltas.items()}
    assert info.float_convs == min(deltas, key=deltas.get)
    floating, int8 = _float_and_int8_convs(info.onnx_path)
    assert len(floating) == info.float_convs and len(int8) == 2 - info.float_convs


def test_the_percentile_calibration_takes_any_number_of_images(db, brightness_model):
    from detection.inference import quantize

    fp32 = export.export_onnx(brightness_model, "odd-calibration")
    images, labels = _labelled_images()
    info = quantize.quantize_int8(fp32, images[:13], images, labels)  # 13: batches of 8 would leave a ragged one
    assert info.calibration_images == 13 and info.float_convs == quantize.DEFAULT_FLOAT_CONVS


def test_int8_calibration_reads_one_batch_at_a_time(db, brightness_model):
    """The calibrator keeps every intermediate tensor of what it reads in one go: 128 images of a four-member
    ensemble needed 24 GB. Fed a batch per call (histograms merged), memory stays that of one batch."""
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    from detection.inference import quantize

    fp32 = export.export_onnx(brightness_model, "chunked-calibration")
    images, labels = _labelled_images()  # 40 images: five batches of 8
    batches_per_call = []
    collect = HistogramCalibrater.collect_data

    def counting(self, reader):
        seen = []
        next_batch = reader.get_next
        reader.get_next = lambda: seen.append(1) or next_batch()
        collect(self, reader)
        batches_per_call.append(len(seen) - 1)  # the last get_next answers None

    with mock.patch.object(HistogramCalibrater, "collect_data", counting):
        info = quantize.quantize_int8(fp32, images, images, labels)
    assert batches_per_call == [1] * 5
    assert info.fp32_auc > 0.95 and info.reduced_auc > 0.9  # the merged histograms still calibrate


@pytest.mark.parametrize("activation, onnx_op", [("relu6", "Clip"), ("relu", "Relu")])
def test_int8_folds_the_activations_into_the_convolutions_output_range(db, tmp_path, activation, onnx_op):
    """An activation left in float between int8 convolutions costs a DequantizeLinear before it and a
    QuantizeLinear after it over the whole activation map: on v8 those took half of the int8 model's time, and
    int8 ran no faster than fp32 on a CPU without VNNI. Folded into the convolution's uint8 range, none is left."""
    import keras
    import onnx

    from detection.inference import quantize

    keras.utils.set_random_seed(2)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for i in range(3):
        x = keras.layers.Conv2D(4, 3, activation=activation, name=f"conv{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.save(tmp_path / "act.keras")
    fp32 = export.export_onnx(tmp_path / "act.keras", f"act-{activation}")
    assert [n.op_type for n in onnx.load(fp32.onnx_path).graph.node].count(onnx_op) == 3

    images, labels = _labelled_images()
    with mock.patch.object(quantize, "DEFAULT_FLOAT_CONVS", 1):
        info = quantize.quantize_int8(fp32, images, images, labels)
    graph = onnx.load(info.onnx_path).graph
    dequantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    activations = [node for node in graph.node if node.op_type == onnx_op]
    # Only the float leading convolution keeps its activation (its input is float); the int8 ones lost theirs.
    assert len(activations) == 1 and activations[0].input[0] not in dequantized
    floating, int8 = _float_and_int8_convs(info.onnx_path)
    assert len(floating) == 1 and len(int8) == 2
    # The folded clamp is the uint8 range: the int8 model still follows the float one.
    fp32_scores, int8_scores = export.OnnxModel(fp32.onnx_path).predict(images), export.OnnxModel(info.onnx_path).predict(images)
    assert np.corrcoef(fp32_scores, int8_scores)[0, 1] > 0.95
    assert info.quantized_ops == list(quantize.QUANTIZED_OPS) == quantize.existing_reduced(f"act-{activation}").quantized_ops


@pytest.fixture
def two_member_model(tmp_path):
    """Two branches of three convolutions from one input, averaged: the shape of an ensemble's graph."""
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    outputs = []
    for member in ("alpha", "beta"):
        y = x
        for i in range(3):
            y = keras.layers.Conv2D(2, 3, activation="relu", name=f"{member}{i}")(y)
        y = keras.layers.GlobalAveragePooling2D()(y)
        outputs.append(keras.layers.Dense(1, activation="sigmoid", name=f"{member}_head")(y))
    path = tmp_path / "two-members.keras"
    keras.Model(inputs, keras.layers.Average()(outputs)).save(path)
    return path


def test_int8_keeps_each_members_leading_convolutions_in_float(db, two_member_model):
    import onnx

    from detection.inference import quantize

    fp32 = export.export_onnx(two_member_model, "two-members")
    depths = quantize.conv_depths(onnx.load(fp32.onnx_path).graph)
    assert sorted(depths.values()) == [1, 1, 2, 2, 3, 3]
    by_layer = {layer: depth for name, depth in depths.items() for layer in ("alpha0", "alpha1", "alpha2", "beta0", "beta1", "beta2") if layer in name}
    assert by_layer == {"alpha0": 1, "alpha1": 2, "alpha2": 3, "beta0": 1, "beta1": 2, "beta2": 3}

    images, labels = _labelled_images()
    with mock.patch.object(quantize, "DEFAULT_FLOAT_CONVS", 1):
        info = quantize.quantize_int8(fp32, images, images, labels)
    floating, int8 = _float_and_int8_convs(info.onnx_path)
    assert info.float_convs == 1 and len(floating) == 2 and len(int8) == 4
    assert any("alpha0" in name for name in floating) and any("beta0" in name for name in floating)


def test_the_quantize_model_command_chooses_on_validation_and_reports(db, brightness_model, tmp_path, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from detection.inference import quantize
    from tests.training.conftest import make_tiny_dataset

    dataset = make_tiny_dataset(tmp_path / "faces", per_class=8)
    version = registry.activate(registry.register(name="bright", artifact=brightness_model, input_size=32, is_trained=True))
    out = StringIO()
    call_command("quantize_model", str(dataset), stdout=out)
    info = quantize.existing_reduced(version.artifact_sha256)
    assert info is not None and info.valid_auc_deltas and info.test_images == 16
    assert "leading convolutions in float" in out.getvalue() and "bright" in out.getvalue()

    with pytest.raises(CommandError):
        call_command("quantize_model", str(tmp_path / "missing"))


def test_the_export_model_command_exports_a_named_version(db, tiny_conv_model):
    from io import StringIO

    from django.core.management import CommandError, call_command

    version = registry.register(name="conv", artifact=tiny_conv_model, input_size=32, is_trained=True)
    out = StringIO()
    call_command("export_model", "--model-version", "conv", stdout=out)
    assert export.existing_export(version.artifact_sha256) is not None and "conv" in out.getvalue()
    with pytest.raises(CommandError, match="no model version named nope"):
        call_command("export_model", "--model-version", "nope")


class _Timed:
    def __init__(self, runtime, seconds):
        self.runtime, self.seconds = runtime, seconds


def test_the_faster_runtime_on_this_host_is_chosen_whichever_it_is():
    batch = np.zeros((2, 4, 4, 3), np.float32)
    measure = lambda detector, batch: detector.seconds  # noqa: E731  (the host's measurement, injected)
    for fp32_s, int8_s, expected in ((0.010, 0.007, "onnx-int8"), (0.009, 0.0095, "onnx")):
        chosen, seconds = runtime.choose_fastest([_Timed("onnx", fp32_s), _Timed("onnx-int8", int8_s)], batch, measure)
        assert chosen.runtime == expected and seconds == {"onnx": fp32_s, "onnx-int8": int8_s}


def test_reduced_precision_serves_only_where_it_is_faster_by_the_margin():
    batch = np.zeros((2, 4, 4, 3), np.float32)
    measure = lambda detector, batch: detector.seconds  # noqa: E731
    # (fp32 s, int8 s, served): the AVX2-only host's tie (int8 0.4% faster) keeps fp32; 1.18x serves int8; 1.09x
    # does not; fp32 faster serves fp32 whatever the margin.
    for fp32_s, int8_s, expected in ((0.4821, 0.4800, "onnx"), (0.010, 0.0085, "onnx-int8"), (0.010, 0.0092, "onnx"),
                                     (0.009, 0.0095, "onnx")):  # fmt: skip
        chosen, _ = runtime.choose_fastest([_Timed("onnx", fp32_s), _Timed("onnx-int8", int8_s)], batch, measure, 1.1)
        assert chosen.runtime == expected, (fp32_s, int8_s)
    chosen, _ = runtime.choose_fastest([_Timed("onnx", 0.4821), _Timed("onnx-int8", 0.4800)], batch, measure)
    assert chosen.runtime == "onnx-int8"  # without a margin, the faster by any amount


def test_a_worker_start_applies_the_reduced_precision_margin(db, brightness_model, settings):
    from detection.inference import quantize

    version = registry.activate(registry.register(name="bright", artifact=brightness_model, input_size=32, is_trained=True))
    fp32 = export.export_onnx(brightness_model, version.artifact_sha256)
    images, labels = _labelled_images()
    assert quantize.quantize_int8(fp32, images, images, labels, images, labels).approved
    settings.VERITY_REDUCED_PRECISION, settings.VERITY_MODEL_RUN_SIZE = True, 0
    timings = {"onnx": 0.010, "onnx-int8": 0.0095}  # int8 1.05x as fast
    for margin, expected in ((1.1, "onnx"), (1.0, "onnx-int8")):
        settings.VERITY_REDUCED_PRECISION_MIN_SPEEDUP = margin
        runtime._loaded.clear()
        with mock.patch.object(runtime, "measure_seconds", lambda d, b: timings[d.runtime]):
            assert runtime.get_detector(version).runtime == expected
        choice = runtime.runtime_choices()["bright"]
        assert choice["chosen"] == expected and choice["min_speedup"] == margin and choice["seconds"] == timings


def test_measuring_a_runtime_runs_it_on_the_batch(db, brightness_model):
    calls = []

    class Counting:
        runtime = "onnx"

        def predict(self, batch):
            calls.append(batch.shape)

    assert runtime.measure_seconds(Counting(), np.zeros((3, 8, 8, 3), np.float32), rounds=3) >= 0
    assert calls == [(3, 8, 8, 3)] * 4  # one warm-up and three timed runs


# ------------------------------------------------------------------------------------- images per model run


def _detector(predict_fn, members=()):
    version = SimpleNamespace(pk=1, artifact_path=None, input_size=4, temperature=1.0, member_names=list(members))
    return runtime.Detector(version, "onnx", predict_fn)


def test_a_batch_runs_in_slices_of_the_run_size_and_scores_as_one_run_would():
    calls = []

    def ensemble(batch):  # combined column, then two members: a value of each image's own pixels
        calls.append(len(batch))
        return np.stack([batch[:, 0, 0, 0], batch[:, 0, 0, 1], batch[:, 0, 0, 2]], axis=1) / 255

    detector = _detector(ensemble, members=["a", "b"])
    batch = np.random.default_rng(3).uniform(0, 255, (7, 4, 4, 3)).astype(np.float32)
    whole, whole_members = detector.predict_with_members(batch)
    assert calls == [7] and whole_members.shape == (7, 2)
    for size, runs in ((3, [3, 3, 1]), (1, [1] * 7), (7, [7]), (16, [7])):
        calls.clear()
        detector.run_size = size
        probabilities, members = detector.predict_with_members(batch)
        assert calls == runs
        np.testing.assert_array_equal(probabilities, whole)  # every image keeps its own scores, in order
        np.testing.assert_array_equal(members, whole_members)


def test_the_run_size_served_is_the_one_measured_fastest():
    detector = _detector(lambda batch: np.zeros((len(batch), 1)))
    batch = np.zeros((16, 4, 4, 3), np.float32)
    timings = {1: 0.5, 2: 0.2, 4: 0.3, 8: 0.4, 16: 0.45}
    best, seconds = runtime.choose_run_size(detector, batch, measure=lambda d, b: timings[d.run_size])
    assert (best, detector.run_size, seconds) == (2, 2, timings)
    timings[16] = 0.1  # one run of the whole batch is fastest (a GPU): no slicing at all
    best, _ = runtime.choose_run_size(detector, batch, measure=lambda d, b: timings[d.run_size])
    assert (best, detector.run_size) == (16, None)
    assert runtime.run_size_candidates(16) == [1, 2, 4, 8, 16] and runtime.run_size_candidates(12) == [1, 2, 4, 8, 12]


def test_loading_a_version_times_each_run_size_unless_the_setting_fixes_it(db, tiny_conv_model, settings):
    settings.VERITY_BATCH_SIZE, settings.VERITY_REDUCED_PRECISION = 8, False
    version = registry.activate(registry.register(name="conv", artifact=tiny_conv_model, input_size=32, is_trained=True))
    export.export_onnx(tiny_conv_model, version.artifact_sha256)
    detector = runtime.get_detector(version)
    choice = runtime.runtime_choices()["conv"]
    timed = choice["run_seconds"]["onnx"]
    assert detector.runtime == "onnx" and set(timed) == {1, 2, 4, 8}
    assert choice["run_size"] == min(timed, key=timed.get) == (detector.run_size or 8) == runtime.serving_run_size(version)

    def load():
        runtime._loaded.clear()
        with mock.patch.object(runtime, "choose_run_size") as measured:
            detector = runtime.get_detector(version)
        assert not measured.called
        return detector

    settings.VERITY_MODEL_RUN_SIZE = "4"
    assert load().run_size == 4 and runtime.serving_run_size(version) == 4
    settings.VERITY_MODEL_RUN_SIZE = "0"
    assert load().run_size is None and runtime.serving_run_size(version) == 8  # whole batches
    settings.VERITY_MODEL_RUN_SIZE, settings.VERITY_INFERENCE_RUNTIME = "auto", "keras"
    assert load().run_size is None  # Keras serves GPU workers, which want whole batches: not sliced
    settings.VERITY_MODEL_RUN_SIZE = "many"
    runtime._loaded.clear()
    with pytest.raises(ValueError, match="VERITY_MODEL_RUN_SIZE"):
        runtime.get_detector(version)
