"""Report plots (matplotlib, no display): training curves, ROC, precision-recall, confusion matrix,
score histograms per class, reliability diagram, robustness."""
import numpy as np

from . import metrics as M


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, output, name):
    fig.tight_layout()
    fig.savefig(output / name, dpi=90)
    _pyplot().close(fig)
    return name


def write_all(output, data, labels, scores, raw_scores, samples, perturbed=None):
    """Write every plot into `output`; returns their file names."""
    names = []
    if data.get("history") and data["history"].get("epochs"):
        names.append(training_curves(output, data["history"]["epochs"]))
    names.append(roc_plot(output, labels, scores, samples, perturbed or {}))
    names.append(pr_plot(output, labels, scores, samples))
    names.append(confusion_plot(output, data["test"]["all"]["at_threshold"]["confusion_matrix"], data["threshold"]))
    names.append(histogram_plot(output, labels, scores, data["threshold"]))
    names.append(reliability_plot(output, labels, raw_scores, scores, data.get("temperature", 1.0)))
    return names


def training_curves(output, rows):
    plt = _pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [r["loss"] for r in rows], "o-", label="train")
    a.plot(epochs, [r["val_loss"] for r in rows], "o-", label="validation")
    a.set(xlabel="epoch", ylabel="loss", title="Loss")
    a.legend()
    b.plot(epochs, [r["accuracy"] for r in rows], "o-", label="train")
    b.plot(epochs, [r["val_accuracy"] for r in rows], "o-", label="validation")
    b.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    b.legend()
    return _save(fig, output, "training_curves.png")


def _by_source(labels, scores, samples):
    yield "all", labels, scores
    sources = sorted({s.source for s in samples})
    if len(sources) > 1:
        src = np.array([s.source for s in samples])
        for source in sources:
            mask = src == source
            if len(np.unique(labels[mask])) == 2:
                yield source, labels[mask], scores[mask]


def roc_plot(output, labels, scores, samples, perturbed):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, y, s in _by_source(labels, scores, samples):
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = M.roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {M.roc_auc(y, s):.3f})")
    for name, s in perturbed.items():
        if len(np.unique(labels)) == 2:
            fpr, tpr, _ = M.roc_curve(labels, s)
            ax.plot(fpr, tpr, "--", label=f"all, {name} (AUC {M.roc_auc(labels, s):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, output, "roc.png")


def pr_plot(output, labels, scores, samples):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, y, s in _by_source(labels, scores, samples):
        if y.sum() == 0:
            continue
        precision, recall, _ = M.precision_recall_curve(y, s)
        ax.plot(recall, precision, label=f"{name} (AP {M.average_precision(y, s):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)", ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, output, "precision_recall.png")


def confusion_plot(output, matrix, threshold):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 3.6))
    matrix = np.asarray(matrix)
    ax.imshow(matrix, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color="black", fontsize=14)
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix (test, t={threshold:.2f})")
    return _save(fig, output, "confusion_matrix.png")


def histogram_plot(output, labels, scores, threshold):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 31)
    ax.hist(scores[labels == 0], bins=bins, alpha=0.6, label="real")
    ax.hist(scores[labels == 1], bins=bins, alpha=0.6, label="fake")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set(xlabel="P(fake), calibrated", ylabel="images", title="Scores per class (test)")
    ax.legend()
    return _save(fig, output, "score_histogram.png")


def reliability_plot(output, labels, raw_scores, scores, temperature):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, s in (("before", raw_scores), (f"after (T={temperature:.2f})", scores)):
        bins = M.reliability_bins(labels, s)
        ax.plot([b[0] for b in bins], [b[1] for b in bins], "o-", label=f"{name}, ECE {M.expected_calibration_error(labels, s):.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    ax.set(xlabel="mean predicted P(fake)", ylabel="observed fake rate", title="Reliability (test)")
    ax.legend(fontsize=8)
    return _save(fig, output, "reliability.png")
