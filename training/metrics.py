"""Detection metrics in NumPy (SciPy for ranks): threshold metrics, ranking metrics, EER, calibration, bootstrap.

Labels: 1 = fake (the positive class), 0 = real. Scores: the model's probability of fake.
Values agree with scikit-learn (see tests/training/test_metrics.py).
"""
import math

import numpy as np


def confusion(labels, scores, threshold=0.5):
    """{"tn", "fp", "fn", "tp"} with 'fake' predicted when score >= threshold."""
    y = np.asarray(labels).astype(int)
    pred = (np.asarray(scores, dtype=np.float64) >= threshold).astype(int)
    return {
        "tn": int(np.sum((y == 0) & (pred == 0))),
        "fp": int(np.sum((y == 0) & (pred == 1))),
        "fn": int(np.sum((y == 1) & (pred == 0))),
        "tp": int(np.sum((y == 1) & (pred == 1))),
    }


def _div(a, b):
    return float(a / b) if b else 0.0


def threshold_metrics(labels, scores, threshold=0.5):
    """Accuracy, precision, recall (sensitivity), specificity, F1, balanced accuracy, MCC and the confusion matrix."""
    c = confusion(labels, scores, threshold)
    tn, fp, fn, tp = c["tn"], c["fp"], c["fn"], c["tp"]
    precision = _div(tp, tp + fp)
    recall = _div(tp, tp + fn)
    specificity = _div(tn, tn + fp)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "threshold": float(threshold),
        "accuracy": _div(tp + tn, tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,
        "specificity": specificity,
        "f1": _div(2 * precision * recall, precision + recall),
        "balanced_accuracy": (recall + specificity) / 2,
        "mcc": _div(tp * tn - fp * fn, denominator),
        "confusion_matrix": [[tn, fp], [fn, tp]],  # rows: true real, true fake; columns: predicted real, fake
    }


def roc_curve(labels, scores):
    """(false positive rates, true positive rates, thresholds), as sklearn.metrics.roc_curve(drop_intermediate=False)."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = (1 + idx) - tps
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    thresholds = np.r_[np.inf, s[idx]]
    positives, negatives = tps[-1], fps[-1]
    tpr = tps / positives if positives else np.zeros_like(tps, dtype=float)
    fpr = fps / negatives if negatives else np.zeros_like(fps, dtype=float)
    return fpr.astype(float), tpr.astype(float), thresholds


def roc_auc(labels, scores):
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    y = np.asarray(labels).astype(int)
    if y.min(initial=1) == y.max(initial=0) or len(np.unique(y)) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.trapezoid(tpr, fpr))


def rank_aucs(labels, scores):
    """ROC AUC of each row of `scores` (rows x items) from ranks (Mann-Whitney, ties count one half): roc_auc per row."""
    from scipy.stats import rankdata

    y = np.asarray(labels).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        raise ValueError("an AUC needs real and fake items")
    ranks = rankdata(s, axis=1)
    return (ranks[:, y].sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def bootstrap_aucs(labels, scores, resamples=1000, seed=0):
    """ROC AUC of each row of `scores` on `resamples` stratified bootstrap resamples: an array (resamples, rows).

    Real and fake items are drawn with replacement separately, so every resample keeps both classes' counts,
    and every row is scored on the same draws: the difference between two rows in one resample is paired, and
    its spread over the resamples is the sampling error of that difference on this many items.
    """
    y = np.asarray(labels).astype(int)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    fake, real = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(fake) or not len(real):
        raise ValueError("an AUC needs real and fake items")
    rng = np.random.default_rng(seed)
    drawn_labels = np.r_[np.ones(len(fake), int), np.zeros(len(real), int)]
    out = np.empty((resamples, s.shape[0]))
    for b in range(resamples):
        idx = np.r_[rng.choice(fake, len(fake)), rng.choice(real, len(real))]
        out[b] = rank_aucs(drawn_labels, s[:, idx])
    return out


def precision_recall_curve(labels, scores):
    """(precision, recall, thresholds) ordered by decreasing threshold, ending at recall 0."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    idx = np.r_[np.where(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = (1 + idx) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] else np.zeros_like(tps, dtype=float)
    return np.r_[1.0, precision], np.r_[0.0, recall], np.r_[np.inf, s[idx]]


def average_precision(labels, scores):
    """Average precision: sum over thresholds of (recall step) x precision, as sklearn's."""
    y = np.asarray(labels).astype(int)
    if y.sum() == 0:
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, scores)
    return float(np.sum(np.diff(recall) * precision[1:]))


def equal_error_rate(labels, scores):
    """The error rate where false positive rate equals false negative rate (interpolated on the ROC curve)."""
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    fnr = 1 - tpr
    diff = fpr - fnr  # increases from -1 to +1 along the curve
    i = int(np.argmax(diff >= 0))
    if i == 0 or diff[i] == 0:
        return float((fpr[i] + fnr[i]) / 2)
    # Linear interpolation between points i-1 and i where fpr - fnr crosses zero.
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def best_threshold(labels, scores):
    """The threshold maximising balanced accuracy (Youden's J) on these scores, e.g. the validation split."""
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, scores)
    j = tpr - fpr
    i = int(np.argmax(j[1:])) + 1  # skip the +inf threshold
    return float(min(max(thresholds[i], 1e-6), 1.0))


def threshold_for_false_positive_rate(labels, scores, target):
    """The lowest threshold at which at most `target` of the real images (label 0) score at or above it.

    The operating point moderators live with: a bounded share of real uploads called fake, and as many
    fakes caught as that allows. Chosen on the validation split, applied unchanged elsewhere.
    """
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, scores)
    allowed = np.flatnonzero(fpr[1:] <= target + 1e-12) + 1  # skip the +inf threshold
    if not len(allowed):
        return 1.0
    return float(min(max(thresholds[allowed[-1]], 1e-6), 1.0))


def review_shares(labels, scores, threshold, band):
    """What the operating point sends to moderators: shares of real, fake and all images that are called fake
    or fall within `band` of the threshold (the uncertain results), and the real images called fake."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(scores, dtype=np.float64)
    fake = p >= threshold
    uncertain = np.abs(p - threshold) < band
    review = fake | uncertain

    def share(mask, of):
        return float(mask[of].mean()) if of.any() else None

    return {
        "threshold": float(threshold),
        "uncertain_band": float(band),
        "false_positive_rate": share(fake, y == 0),
        "true_positive_rate": share(fake, y == 1),
        "uncertain_share": share(uncertain, np.ones_like(y, bool)),
        "review_share": share(review, np.ones_like(y, bool)),
        "review_share_real": share(review, y == 0),
        "review_share_fake": share(review, y == 1),
    }


def choose_uncertain_band(labels, scores, threshold, max_band, max_real_review_share):
    """The widest band (steps of 0.01, up to `max_band`) that keeps the share of real images sent to review
    (called fake, or within the band) at or below `max_real_review_share`."""
    best = 0.0
    for band in np.arange(0.0, max_band + 1e-9, 0.01):
        share = review_shares(labels, scores, threshold, band)["review_share_real"]
        if share is not None and share <= max_real_review_share + 1e-12:
            best = float(round(band, 2))
    return best


def expected_calibration_error(labels, probabilities, bins=15):
    """ECE with equal-width bins: sum over bins of (bin share) x |accuracy of 'fake' - mean probability|."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(ece)


def reliability_bins(labels, probabilities, bins=10):
    """[(mean probability, observed fake rate, count)] per non-empty bin, for a reliability diagram."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    return [
        (float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


def logits(probabilities, eps=1e-7):
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def apply_temperature(probabilities, temperature):
    """Temperature scaling of the sigmoid's logit (the same formula as detection.inference.runtime)."""
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float64)
    return 1 / (1 + np.exp(-logits(probabilities) / temperature))


def log_loss(labels, probabilities, eps=1e-7):
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_temperature(labels, probabilities):
    """The temperature T minimising the negative log-likelihood of sigmoid(logit / T) (golden-section search)."""
    y = np.asarray(labels, dtype=np.float64)
    z = logits(probabilities)

    def nll(log_t):
        return log_loss(y, 1 / (1 + np.exp(-z / math.exp(log_t))))

    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    for _ in range(80):
        if nll(a) < nll(b):
            hi = b
        else:
            lo = a
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    return float(math.exp((lo + hi) / 2))


def summarise(labels, scores, threshold=0.5):
    """Every metric at 0.5 and at `threshold`, plus threshold-free ones: a JSON-ready dict."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    return {
        "n": int(y.size),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "roc_auc": _nan_to_none(roc_auc(y, s)),
        "average_precision": _nan_to_none(average_precision(y, s)),
        "eer": _nan_to_none(equal_error_rate(y, s)),
        "ece": expected_calibration_error(y, s) if y.size else None,
        "log_loss": log_loss(y, s) if y.size else None,
        "at_0_5": threshold_metrics(y, s, 0.5),
        "at_threshold": threshold_metrics(y, s, threshold),
    }


def _nan_to_none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
