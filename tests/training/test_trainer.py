import json

import pytest
from django.core.management import CommandError, call_command

from training.pipeline import Augmentation
from training.trainer import (
    TABLE_HEADER, TrainConfig, TrainingCancelled, one_cycle_rate, plain_augmentation, read_state, resume_config, train,
)


def small_config(dataset, output, **overrides):
    fields = dict(
        dataset=str(dataset), output=str(output), architecture="SmallCNN", input_size=32, epochs=1,
        batch_size=8, weights="none", augmentation=Augmentation().to_dict(),
    )
    fields.update(overrides)
    return TrainConfig(**fields)


def test_training_runs_an_epoch_and_writes_a_checkpoint_and_the_epoch_table(tiny_dataset, tmp_path):
    seen = []
    result = train(small_config(tiny_dataset, tmp_path / "run"), progress=lambda e, n, row: seen.append((e, n)), log=lambda _: None)
    assert (tmp_path / "run" / "checkpoint.keras").exists()
    assert result.model_path.exists()
    assert seen == [(1, 1)]
    row = result.epochs[0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_loss_improvement_pct", "learning_rate", "next_learning_rate", "seconds"):
        assert key in row
    assert (tmp_path / "run" / "epochs.txt").read_text().startswith(TABLE_HEADER)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["train_images_per_second"] > 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["architecture"] == "SmallCNN" and config["dataset"]["fingerprint"]


def test_the_trained_model_loads_like_the_workers_load_it(tiny_dataset, tmp_path):
    from detection.inference.runtime import load_keras_model

    result = train(small_config(tiny_dataset, tmp_path / "run"), log=lambda _: None)
    model = load_keras_model(str(result.model_path))
    assert model.input_shape == (None, 32, 32, 3)


def test_a_cancelled_run_stops_and_keeps_its_checkpoint(tiny_dataset, tmp_path):
    with pytest.raises(TrainingCancelled):
        train(small_config(tiny_dataset, tmp_path / "run", epochs=3), should_stop=lambda: True, log=lambda _: None)
    assert (tmp_path / "run" / "model.keras").exists()


def test_a_time_budget_stops_before_the_next_epoch(tiny_dataset, tmp_path):
    result = train(small_config(tiny_dataset, tmp_path / "run", epochs=4, max_minutes=1e-4), log=lambda _: None)
    assert len(result.epochs) == 1 and result.stopped_early


@pytest.mark.slow
def test_pretrained_training_runs_a_frozen_phase_then_fine_tunes(tiny_dataset, tmp_path, settings):
    from training.architectures import BACKBONE, build_model

    weights = tmp_path / "backbone.weights.h5"
    build_model("EfficientNetLite0", 32, weights=None).get_layer(BACKBONE).save_weights(weights)
    config = small_config(tiny_dataset, tmp_path / "run", architecture="EfficientNetLite0", weights=str(weights), epochs=2, frozen_epochs=1, schedule="plateau")
    result = train(config, log=lambda _: None)
    assert [r["phase"] for r in result.epochs] == ["frozen", "fine-tune"]
    assert result.epochs[1]["learning_rate"] == pytest.approx(config.fine_tune_learning_rate)


def test_the_train_command_prints_the_table_and_a_report(tiny_dataset, tmp_path, capsys):
    call_command(
        "train", str(tiny_dataset), "--architecture", "SmallCNN", "--input-size", "32", "--epochs", "1",
        "--weights", "none", "--batch-size", "8", "--output", str(tmp_path / "run"),
    )
    out = capsys.readouterr().out
    assert TABLE_HEADER in out and "report:" in out
    assert (tmp_path / "run" / "report" / "report.html").exists()


def test_the_train_command_names_a_bad_dataset(tmp_path):
    (tmp_path / "empty" / "real").mkdir(parents=True)
    with pytest.raises(CommandError, match="no 'fake' class folder"):
        call_command("train", str(tmp_path / "empty"), "--architecture", "SmallCNN", "--weights", "none")


@pytest.mark.parametrize("minutes", ["0", "-5", "nan"])
def test_the_train_command_refuses_a_time_budget_that_is_not_positive(tiny_dataset, tmp_path, minutes):
    with pytest.raises(CommandError, match="--max-minutes must be a positive number"):
        call_command("train", str(tiny_dataset), "--architecture", "SmallCNN", "--weights", "none",
                     "--max-minutes", minutes, "--output", str(tmp_path / "run"))
    with pytest.raises(CommandError, match="--max-minutes must be a positive number"):
        call_command("train", "--resume", str(tmp_path / "run"), "--max-minutes", minutes)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_negative_time_budget_is_refused_in_the_config(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="max_minutes must be 0"):
        small_config(tiny_dataset, tmp_path / "run", max_minutes=-1)


class Crash(Exception):
    pass


def test_a_resumed_run_gives_the_same_epoch_table_as_an_uninterrupted_one(tiny_dataset, tmp_path):
    whole = train(small_config(tiny_dataset, tmp_path / "whole", epochs=3, dropout=0.5), log=lambda _: None)

    def crash_after_the_second_epoch(epoch, total, row):
        if epoch == 2:
            raise Crash()

    with pytest.raises(Crash):
        train(small_config(tiny_dataset, tmp_path / "split", epochs=3, dropout=0.5), progress=crash_after_the_second_epoch, log=lambda _: None)
    interrupted = read_state(tmp_path / "split")
    assert interrupted["epochs_done"] == 2
    assert interrupted["seconds"] >= sum(r["train_seconds"] for r in interrupted["rows"])  # the crashed sitting's time is kept
    resumed = train(resume_config(tmp_path / "split"), log=lambda _: None, resume=True)
    assert resumed.seconds > interrupted["seconds"]

    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_auc", "learning_rate"):
        assert [r[key] for r in resumed.epochs] == pytest.approx([r[key] for r in whole.epochs], rel=1e-5, abs=1e-7), key


def test_resume_refuses_a_folder_without_a_finished_epoch(tiny_dataset, tmp_path):
    config = small_config(tiny_dataset, tmp_path / "nothing")
    with pytest.raises(ValueError, match="no finished epoch"):
        train(config, log=lambda _: None, resume=True)


def test_the_train_command_resumes_a_run(tiny_dataset, tmp_path, capsys):
    train(small_config(tiny_dataset, tmp_path / "run", epochs=4, max_minutes=1e-4), log=lambda _: None)
    assert read_state(tmp_path / "run")["epochs_done"] == 1  # the time budget ended the first sitting

    # A sitting's budget is its own: given again, it ends the second sitting after one more epoch...
    call_command("train", "--resume", str(tmp_path / "run"), "--max-minutes", "1e-4", "--no-evaluate")
    out = capsys.readouterr().out
    assert "resuming" in out and "time budget" in out
    assert read_state(tmp_path / "run")["epochs_done"] == 2
    # ...and the table printed is the whole run's, the earlier sitting's epoch first.
    rows = [line.split()[0] for line in out[out.index(TABLE_HEADER):].splitlines()[1:] if line.split()[0].isdigit()]
    assert rows == ["1", "2"]

    # Not given, the first sitting's budget does not carry over: the run goes to its last epoch.
    call_command("train", "--resume", str(tmp_path / "run"), "--no-evaluate")
    assert "time budget" not in capsys.readouterr().out
    assert read_state(tmp_path / "run")["epochs_done"] == 4


def test_one_cycle_rises_to_the_peak_then_falls_to_almost_nothing():
    rates = [one_cycle_rate(step, 100, 1e-3) for step in range(101)]
    assert rates[0] == pytest.approx(1e-3 / 25)
    assert max(rates) == pytest.approx(1e-3) and rates.index(max(rates)) == 30
    assert rates[-1] < 1e-6
    assert all(a <= b for a, b in zip(rates[:30], rates[1:31])) and all(a >= b for a, b in zip(rates[30:], rates[31:]))


def test_the_default_recipe_is_the_plain_fine_tune(tiny_dataset, tmp_path):
    config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path), architecture="EfficientNetLite0")
    assert (config.optimizer, config.schedule, config.learning_rate, config.frozen_epochs) == ("adamw", "one_cycle", 1e-3, 0)
    assert config.augmentation == plain_augmentation().to_dict() and config.augmentation["flip"]


def test_one_cycle_training_follows_the_schedule(tiny_dataset, tmp_path):
    result = train(small_config(tiny_dataset, tmp_path / "run", epochs=3, learning_rate=1e-2), log=lambda _: None)
    rates = [r["learning_rate"] for r in result.epochs]
    assert rates[0] < rates[1] and rates[2] < rates[1]


def test_training_status_shows_a_runs_progress_and_how_to_resume(tiny_dataset, tmp_path, capsys):
    train(small_config(tiny_dataset, tmp_path / "run", epochs=3, max_minutes=1e-4), log=lambda _: None)
    call_command("training_status", str(tmp_path / "run"))
    out = capsys.readouterr().out
    assert "1 of 3 epochs" in out and f"train --resume {tmp_path / 'run'}" in out and TABLE_HEADER in out


def test_a_second_stage_starts_from_the_given_model(tiny_dataset, tmp_path):
    import keras
    import numpy as np

    first = train(small_config(tiny_dataset, tmp_path / "first"), log=lambda _: None)
    # With a vanishing learning rate the second stage must end where the first one did.
    second = train(small_config(tiny_dataset, tmp_path / "second", init_model=str(first.model_path), learning_rate=1e-12),
                   log=lambda _: None)
    before = keras.models.load_model(first.model_path, compile=False).get_layer("fake_probability").get_weights()[0]
    after = keras.models.load_model(second.model_path, compile=False).get_layer("fake_probability").get_weights()[0]
    assert np.allclose(before, after, atol=1e-6)


def test_a_model_trained_on_crops_is_saved_at_the_input_size_with_the_weights_it_learned(tiny_dataset, tmp_path):
    import keras
    import numpy as np

    from detection.inference.runtime import load_keras_model

    config = small_config(tiny_dataset, tmp_path / "run", architecture="NPR", input_size=48, crop=32, epochs=2,
                          augmentation=plain_augmentation().to_dict())  # fmt: skip
    result = train(config, log=lambda _: None)
    served = load_keras_model(str(result.model_path))
    assert served.input_shape == (None, 48, 48, 3)  # what the workers read the input size from
    trained = keras.models.load_model(tmp_path / "run" / "checkpoint.keras", compile=False)
    assert trained.input_shape == (None, None, None, 3)  # it took crops, and was validated on whole images
    images = np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 3)).astype("float32")
    np.testing.assert_allclose(served.predict(images, verbose=0), trained.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["crop"] == 32


def test_a_resumed_crop_run_gives_the_same_epoch_table_as_an_uninterrupted_one(tiny_dataset, tmp_path):
    def config(name):
        return small_config(tiny_dataset, tmp_path / name, architecture="NPR", input_size=48, crop=32, epochs=2,
                            mixup=0.4, augmentation=plain_augmentation().to_dict())  # fmt: skip

    whole = train(config("whole"), log=lambda _: None)

    def crash_after_the_first_epoch(epoch, total, row):
        if epoch == 1:
            raise Crash()

    with pytest.raises(Crash):
        train(config("split"), progress=crash_after_the_first_epoch, log=lambda _: None)
    resumed = train(resume_config(tmp_path / "split"), log=lambda _: None, resume=True)
    for key in ("loss", "val_loss", "val_auc"):
        assert [r[key] for r in resumed.epochs] == pytest.approx([r[key] for r in whole.epochs], rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("overrides, message", [
    ({"crop": 32}, "SmallCNN has a fixed-size head"),
    ({"architecture": "TResNetM", "input_size": 64, "crop": 32}, "TResNetM has a space-to-depth stem"),
    ({"architecture": "NPR", "input_size": 48, "crop": 48}, "smaller than the input size"),
    ({"architecture": "NPR", "input_size": 48, "crop": 34}, "multiple of 4"),
    ({"mixup": -1}, "mixup must be"),
    ({"cutmix": -0.5}, "cutmix must be"),
    ({"mixup": 0.2, "cutmix": 1.0}, "mixup and cutmix are alternatives"),
    ({"augmentation": {**Augmentation().to_dict(), "downscale_probability": 1.5}}, "downscale probability"),
    ({"augmentation": {**Augmentation().to_dict(), "downscale_probability": 0.2, "downscale_min": 1.0}}, "smallest factor"),
])
def test_crop_and_mixup_settings_that_cannot_work_are_refused(tiny_dataset, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(tiny_dataset, tmp_path / "run", **overrides)


def test_the_train_command_takes_cutmix_and_downscaling(tiny_dataset, tmp_path):
    call_command("train", str(tiny_dataset), "--architecture", "SmallCNN", "--weights", "none", "--input-size", "32",
                 "--epochs", "1", "--batch-size", "8", "--cutmix", "1.0", "--downscale-probability", "0.3",
                 "--downscale-min", "0.6", "--no-evaluate", "--output", str(tmp_path / "run"))  # fmt: skip
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["cutmix"] == 1.0 and config["mixup"] == 0.0
    assert (config["augmentation"]["downscale_probability"], config["augmentation"]["downscale_min"]) == (0.3, 0.6)
    assert config["augmentation"]["flip"] and not config["augmentation"]["jpeg_probability"]  # flips, as by default
    assert read_state(tmp_path / "run")["epochs_done"] == 1
