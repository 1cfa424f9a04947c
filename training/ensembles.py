"""Ensembles as model versions: member detectors combined into one Keras graph.

An ensemble is an ordinary `.keras` file, so every path a single detector takes (the workers' one batch
path, the ONNX export, int8, evaluation, the compare table) serves it unchanged. Inside:

- each member runs on the image (and, with test-time flips, on its mirror image; the two logits are
  averaged), its sigmoid head replaced by the same weights without the sigmoid: the member's logit;
- the combination is one Dense unit with a sigmoid over the members' logits: equal weights (the mean
  logit), or a logistic-regression stacker fitted on the validation split;
- the output is one row per image: column 0 the ensemble's probability, then each member's own
  probability (its temperature applied), so the result page and the API can show every member's score.

Only standard Keras layers are used (the flip is a fixed permutation matrix), so workers load it with
`keras.models.load_model(path, compile=False)` and no custom objects.
"""
import json
from pathlib import Path

import numpy as np

COMBINES = ("mean", "stacker")


def fake_column(output):
    """The probability of 'fake' per image from a model's output: column 0 of an ensemble's rows."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim == 2 and output.shape[1] > 1:
        return output[:, 0]
    return output.reshape(-1)


def member_columns(output):
    """Each member's probability per image, (n, members), or None for a single detector's output."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim == 2 and output.shape[1] > 1:
        return output[:, 1:]
    return None


def _logit_model(member, name):
    """The member with its sigmoid head replaced by the same weights without the sigmoid: its logit."""
    import keras

    head = member.get_layer("fake_probability")
    features = keras.Model(member.inputs, head.input, name=f"{name}_features")
    inputs = keras.Input(member.input_shape[1:], name=f"{name}_image")
    logit_layer = keras.layers.Dense(1, name=f"{name}_logit", dtype="float32")
    logit = logit_layer(features(inputs))
    logit_layer.set_weights(head.get_weights())
    return keras.Model(inputs, logit, name=name)


def _mirror(x, width, name):
    """Horizontal flip with standard layers: width moved last, multiplied by the anti-identity, moved back."""
    import keras

    flip = keras.layers.Dense(width, use_bias=False, trainable=False, name=f"{name}_matrix")
    y = keras.layers.Permute((1, 3, 2), name=f"{name}_to_width_last")(x)
    y = flip(y)
    flip.set_weights([np.eye(width, dtype=np.float32)[::-1]])
    return keras.layers.Permute((1, 3, 2), name=f"{name}_back")(y)


def build_ensemble(members, weights, bias=0.0, temperatures=None, flip=False):
    """One Keras model from loaded member models (same input size): rows [ensemble p, member p...]."""
    import keras

    size = members[0].input_shape[1]
    if any(m.input_shape[1:] != members[0].input_shape[1:] for m in members):
        raise ValueError("ensemble members must share one input size")
    temperatures = temperatures or [1.0] * len(members)
    inputs = keras.Input((size, size, 3), name="image")
    views = [inputs]
    if flip:
        views.append(_mirror(inputs, size, "mirror"))
    logits = []
    for index, member in enumerate(members):
        logit_model = _logit_model(member, f"member{index}")
        outputs = [logit_model(view) for view in views]
        logits.append(keras.layers.Average(name=f"member{index}_flips")(outputs) if len(outputs) > 1 else outputs[0])
    stacked = keras.layers.Concatenate(name="member_logits")(logits) if len(logits) > 1 else logits[0]
    combine = keras.layers.Dense(1, activation="sigmoid", name="fake_probability", dtype="float32")
    probability = combine(stacked)
    combine.set_weights([np.asarray(weights, dtype=np.float32).reshape(-1, 1), np.array([bias], dtype=np.float32)])
    own = keras.layers.Dense(len(members), activation="sigmoid", trainable=False, name="member_probabilities", dtype="float32")
    member_probabilities = own(stacked)
    own.set_weights([np.diag(1.0 / np.asarray(temperatures, dtype=np.float32)), np.zeros(len(members), np.float32)])
    outputs = keras.layers.Concatenate(name="ensemble_and_members")([probability, member_probabilities])
    return keras.Model(inputs, outputs, name="Ensemble")


def is_ensemble(model):
    return any(layer.name == "member_probabilities" for layer in model.layers)


def unpack(model):
    """Each member of a loaded ensemble as a detector of its own (its logit, then a sigmoid named like every
    detector's head), with its temperature: [(keras model, temperature)], in the ensemble's column order."""
    import keras

    inverse_temperatures = np.diag(model.get_layer("member_probabilities").get_weights()[0])
    size = model.input_shape[1]
    members = []
    for index, scale in enumerate(inverse_temperatures):
        logit_model = model.get_layer(f"member{index}")
        inputs = keras.Input((size, size, 3), name="image")
        head = keras.layers.Dense(1, activation="sigmoid", name="fake_probability", dtype="float32")
        detector = keras.Model(inputs, head(logit_model(inputs)), name=f"member{index}_detector")
        head.set_weights([np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
        members.append((detector, float(1.0 / scale)))
    return members


def member_logits(members, images, batch_size=32, flip=False):
    """(n, members) logits of each member on float32 images (averaged with the mirror image when flipping)."""
    columns = []
    for member in members:
        logit_model = _logit_model(member, "probe")
        out = []
        for i in range(0, len(images), batch_size):
            batch = images[i : i + batch_size]
            value = np.asarray(logit_model(batch, training=False)).reshape(-1)
            if flip:
                value = (value + np.asarray(logit_model(batch[:, :, ::-1, :], training=False)).reshape(-1)) / 2
            out.append(value)
        columns.append(np.concatenate(out))
    return np.stack(columns, axis=1)


def fit_combination(logits, labels, combine="mean"):
    """(weights, bias) over the members' logits: the mean, or a logistic-regression stacker."""
    m = logits.shape[1]
    if combine == "mean":
        return [1.0 / m] * m, 0.0
    if combine != "stacker":
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}")
    from sklearn.linear_model import LogisticRegression

    stacker = LogisticRegression(C=1.0).fit(logits, np.asarray(labels).astype(int))
    return [float(w) for w in stacker.coef_[0]], float(stacker.intercept_[0])


def make_ensemble(versions, dataset_root, output, combine="mean", flip=False, log=print):
    """Build an ensemble of registered versions into the run folder `output` (model.keras, config.json).

    The combination is fitted on the validation split of `dataset_root`; evaluate the folder afterwards
    (`training.evaluation.evaluate_run`) like any training run.
    """
    from .datasets import load_dataset
    from .evaluation import load_model, load_split
    from .trainer import CONFIG_FILE, MODEL_FILE

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if len(versions) < 2 and not flip:
        raise ValueError("an ensemble needs two members or more (or one with test-time flips)")
    models = [load_model(v.artifact_path) for v in versions]
    size = int(models[0].input_shape[1])
    dataset = load_dataset(dataset_root)
    valid = dataset.split("valid")
    labels = np.array([s.label for s in valid])
    logits = member_logits(models, load_split(valid, size), flip=flip)
    weights, bias = fit_combination(logits, labels, combine)
    log(f"combination ({combine}): weights {', '.join(f'{w:.3f}' for w in weights)}, bias {bias:.3f}")
    model = build_ensemble(models, weights, bias, [v.temperature for v in versions], flip=flip)
    model.save(output / MODEL_FILE)
    params = int(sum(int(w.numpy().size) for w in model.weights))
    members = [{"name": v.name, "architecture": v.architecture, "weight": w, "temperature": v.temperature}
               for v, w in zip(versions, weights)]
    config = {
        "architecture": "Ensemble(" + " + ".join(v.architecture for v in versions) + (", flips" if flip else "") + ")",
        "input_size": size,
        "dataset": str(dataset_root),
        "ensemble": {"members": members, "combine": combine, "bias": bias, "flip": flip},
    }
    (output / CONFIG_FILE).write_text(json.dumps({"config": config, "dataset": dataset.summary(), "params": params}, indent=2))
    return output / MODEL_FILE


SCREEN_PERTURBATIONS = ("jpeg_75", "half_resolution")  # the robustness targets, measured where choices are made


def screen(versions, dataset_root, max_members=3, splits=("valid", "test"), log=print, reference=None,
           resamples=1000, seed=0, robustness=False):
    """Every mean-of-logits ensemble of up to `max_members` of `versions`, scored from one pass of each member.

    Each member runs once over each split; a combination's score is the mean of its members' logits, the
    ensemble `make_ensemble --combine mean` builds (so its ROC AUC is the one that ensemble's evaluation
    reports). Returns rows, best validation AUC first: {"members": [names], split: {"all": auc, source: auc},
    "selection": ...}. Only AUCs: build the chosen one with `make_ensemble` for its robustness, operating point
    and calibration.

    "selection" says how far the choosing split can be trusted to separate the rows: on `resamples` stratified
    bootstrap resamples of it (the same draws for every row), each row's AUC minus the `reference` combination's
    (member names; default the best row) with its 95% interval, the share of resamples where the row beats the
    reference, and the share where it is the best of all rows. None when `resamples` is 0 or the split lacks a class.
    """
    from itertools import combinations

    from . import metrics
    from .datasets import load_dataset
    from .evaluation import PERTURBATIONS, by_source, load_model, load_split

    if len(versions) < 2:
        raise ValueError("screening needs two versions or more")
    if max_members < 1:
        raise ValueError("max_members must be at least 1")
    names = [v.name for v in versions]
    if reference is not None and (not reference or len(reference) > max_members or set(reference) - set(names)):
        raise ValueError(f"the reference ({' + '.join(reference)}) must be one to {max_members} of the screened versions")
    if resamples < 0:
        raise ValueError("resamples must be 0 or more")
    dataset = load_dataset(dataset_root)
    samples = {split: dataset.split(split) for split in splits}
    empty = [split for split, found in samples.items() if not found]
    if empty:
        raise ValueError(f"{dataset_root} has no {' or '.join(empty)} split")
    chosen_on = splits[0]
    perturbed = SCREEN_PERTURBATIONS if robustness else ()
    # (key, split, perturbation): each split as stored, then the choosing split under each perturbation.
    passes = [(split, split, None) for split in splits]
    passes += [((chosen_on, name), chosen_on, PERTURBATIONS[name]) for name in perturbed]
    logits, images = {}, {}
    for version in versions:
        model = load_model(version.artifact_path)
        size = int(model.input_shape[1])
        for key, split, perturb in passes:
            if (key, size) not in images:
                images[key, size] = load_split(samples[split], size, perturb)
            logits[version.name, key] = member_logits([model], images[key, size])[:, 0]
        log(f"{version.name}: logits on {', '.join(splits)}" + "".join(f", {chosen_on} {name}" for name in perturbed))

    labels = {split: np.array([s.label for s in samples[split]]) for split in splits}

    def auc(y, score):
        value = metrics.roc_auc(y, score)
        return None if np.isnan(value) else value  # one class only: no AUC

    def aucs(split, score):  # grouped as evaluate's report groups them
        return by_source(samples[split], labels[split], score, auc)

    rows, chosen_scores = [], []
    for k in range(1, min(max_members, len(versions)) + 1):
        for combo in combinations(names, k):
            row = {"members": list(combo)}
            for split in splits:
                score = np.mean([logits[name, split] for name in combo], axis=0)
                row[split] = aucs(split, score)
                if split == chosen_on:
                    chosen_scores.append(score)
            if perturbed:
                row["robustness"] = {}
                for name in perturbed:
                    value = auc(labels[chosen_on], np.mean([logits[member, (chosen_on, name)] for member in combo], axis=0))
                    clean = row[chosen_on]["all"]
                    drop = None if value is None or clean is None else clean - value
                    row["robustness"][name] = {"split": chosen_on, "auc": value, "auc_drop": drop}
            rows.append(row)
    _selection(rows, labels[chosen_on], np.array(chosen_scores), chosen_on, reference, resamples, seed)
    rows.sort(key=lambda r: -r[chosen_on]["all"] if r[chosen_on]["all"] is not None else np.inf)
    return rows


def decide(rows, max_jpeg_drop=0.02):
    """Whether screened `rows` (screen's, with a reference) make a case for replacing the reference.

    The rule the default is chosen by: among rows whose validation AUC drops at most `max_jpeg_drop` under JPEG 75
    (when the screen measured robustness; None: no such limit), the one with the highest validation AUC; it
    replaces the reference only when its lead is clear of the bootstrap's 95% interval (the interval's lower end
    above 0). A lead inside the interval is a tie, and a tie keeps the reference: replacing a deployment's model
    costs its int8 variant, its figures and its users' trust for a difference validation cannot show.

    Returns {"action": "replace" | "keep", "candidate": row or None, "reason": str}; None when the rows carry no
    bootstrap standing (screened with resamples 0).
    """
    if not rows or not rows[0].get("selection"):
        return None
    reference = sorted(rows[0]["selection"]["reference"])

    def within(row):
        if max_jpeg_drop is None or not row.get("robustness"):
            return True
        drop = row["robustness"]["jpeg_75"]["auc_drop"]
        return drop is not None and drop <= max_jpeg_drop

    eligible = [r for r in rows if within(r) and r["valid"]["all"] is not None]
    best = max(eligible, key=lambda r: r["valid"]["all"], default=None)
    if best is None or sorted(best["members"]) == reference:
        return {"action": "keep", "candidate": None,
                "reason": "no eligible combination leads the reference on validation AUC"}
    selection = best["selection"]
    low, high = selection["delta_ci95"]
    lead = f"{selection['delta']:+.4f} [{low:+.4f}, {high:+.4f}]"
    if low > 0:
        return {"action": "replace", "candidate": best, "reason": f"its validation lead {lead} is clear of 0"}
    return {"action": "keep", "candidate": best,
            "reason": f"its validation lead {lead} is inside the 95% interval: a tie, which keeps the reference"}


def _selection(rows, labels, scores, split, reference, resamples, seed):
    """Each row's "selection": its bootstrap standing on `split` against the reference row (see screen)."""
    from . import metrics

    if not resamples or len(np.unique(labels)) < 2:
        for row in rows:
            row["selection"] = None
        return
    point = np.array([row[split]["all"] for row in rows])
    ref = int(np.argmax(point)) if reference is None else next(
        i for i, row in enumerate(rows) if sorted(row["members"]) == sorted(reference))
    boot = metrics.bootstrap_aucs(labels, scores, resamples, seed)
    delta = boot - boot[:, [ref]]
    best = np.argmax(boot, axis=1)
    for i, row in enumerate(rows):
        low, high = np.quantile(delta[:, i], [0.025, 0.975])
        row["selection"] = {
            "reference": rows[ref]["members"], "split": split, "resamples": int(resamples),
            "delta": float(point[i] - point[ref]), "delta_ci95": [float(low), float(high)],
            "p_beats_reference": float(np.mean(delta[:, i] > 0)), "p_best": float(np.mean(best == i)),
        }
