import numpy as np
import pytest
from sklearn import metrics as sk

from training import metrics as M


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    # Informative but imperfect scores, with ties (rounded) to exercise tie handling.
    scores = np.round(np.clip(0.5 + (labels - 0.5) * 0.4 + rng.normal(0, 0.25, 300), 0, 1), 2)
    return labels, scores


def test_rank_aucs_score_each_row_as_roc_auc_does(scored):
    labels, scores = scored
    rows = np.stack([scores, 1 - scores, np.round(scores, 1)])  # ties in every row, heavier in the last
    np.testing.assert_allclose(M.rank_aucs(labels, rows), [sk.roc_auc_score(labels, r) for r in rows])
    with pytest.raises(ValueError, match="real and fake"):
        M.rank_aucs(np.ones(5), np.arange(5.0))


def test_bootstrap_aucs_resample_both_classes_and_pair_the_rows(scored):
    labels, scores = scored
    noisy = np.clip(scores + np.random.default_rng(1).normal(0, 0.3, scores.size), 0, 1)
    boot = M.bootstrap_aucs(labels, np.stack([scores, scores, noisy]), resamples=400, seed=5)
    assert boot.shape == (400, 3)
    np.testing.assert_array_equal(boot[:, 0], boot[:, 1])  # the same draws for every row: paired
    assert np.isfinite(boot).all()  # both classes in every resample
    point = M.roc_auc(labels, scores)
    assert abs(boot[:, 0].mean() - point) < 0.01 and boot[:, 0].std() > 0.005  # centred on the point, with a spread
    assert (boot[:, 0] > boot[:, 2]).mean() > 0.95  # the noisier scores lose on nearly every resample
    np.testing.assert_array_equal(boot, M.bootstrap_aucs(labels, np.stack([scores, scores, noisy]), 400, seed=5))


def test_threshold_metrics_agree_with_scikit_learn(scored):
    labels, scores = scored
    for threshold in (0.5, 0.37):
        pred = (scores >= threshold).astype(int)
        got = M.threshold_metrics(labels, scores, threshold)
        assert got["accuracy"] == pytest.approx(sk.accuracy_score(labels, pred))
        assert got["precision"] == pytest.approx(sk.precision_score(labels, pred))
        assert got["recall"] == pytest.approx(sk.recall_score(labels, pred))
        assert got["specificity"] == pytest.approx(sk.recall_score(labels, pred, pos_label=0))
        assert got["f1"] == pytest.approx(sk.f1_score(labels, pred))
        assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(labels, pred))
        assert got["mcc"] == pytest.approx(sk.matthews_corrcoef(labels, pred))
        assert got["confusion_matrix"] == sk.confusion_matrix(labels, pred).tolist()


def test_ranking_metrics_agree_with_scikit_learn(scored):
    labels, scores = scored
    assert M.roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores))
    assert M.average_precision(labels, scores) == pytest.approx(sk.average_precision_score(labels, scores))
    fpr, tpr, thresholds = M.roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_equal_error_rate_is_where_false_accepts_equal_false_rejects():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.85, 0.9])
    # One real above 0.4 and one fake below 0.7: at the crossing both error rates are 1/4.
    assert M.equal_error_rate(labels, scores) == pytest.approx(0.25)
    assert M.equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0


def test_perfect_and_hopeless_scores_give_the_extreme_values():
    labels = np.array([0, 0, 1, 1])
    perfect = M.summarise(labels, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["roc_auc"] == 1.0 and perfect["at_0_5"]["mcc"] == 1.0
    inverted = M.summarise(labels, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["roc_auc"] == 0.0 and inverted["at_0_5"]["accuracy"] == 0.0


def test_auc_is_undefined_with_one_class():
    assert M.summarise([1, 1, 1], [0.2, 0.5, 0.9])["roc_auc"] is None


def test_best_threshold_separates_a_separable_validation_split():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4])
    threshold = M.best_threshold(labels, scores)
    assert 0.2 < threshold <= 0.3
    assert M.threshold_metrics(labels, scores, threshold)["accuracy"] == 1.0


def test_expected_calibration_error_matches_a_hand_computation():
    labels = np.array([1, 0, 1, 1])
    probs = np.array([0.9, 0.9, 0.1, 0.1])
    # Two bins: {0.9, 0.9} observe 0.5 (gap 0.4), {0.1, 0.1} observe 1.0 (gap 0.9): ECE = (0.4 + 0.9) / 2.
    assert M.expected_calibration_error(labels, probs, bins=10) == pytest.approx(0.65)


def test_temperature_scaling_fixes_overconfident_scores():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, 4000)
    labels = (rng.uniform(size=4000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    overconfident = 1 / (1 + np.exp(-3 * true_logits))  # logits three times too large
    temperature = M.fit_temperature(labels, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.15)
    calibrated = M.apply_temperature(overconfident, temperature)
    assert M.expected_calibration_error(labels, calibrated) < M.expected_calibration_error(labels, overconfident)
    assert M.log_loss(labels, calibrated) < M.log_loss(labels, overconfident)


def test_temperature_scaling_matches_the_serving_runtime():
    from detection.inference.runtime import apply_temperature

    probs = np.array([0.01, 0.3, 0.5, 0.97])
    np.testing.assert_allclose(M.apply_temperature(probs, 2.5), apply_temperature(probs, 2.5))


def test_the_threshold_for_a_false_positive_rate_calls_at_most_that_share_of_real_images_fake():
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(200, int), np.ones(200, int)]
    scores = np.r_[rng.beta(2, 5, 200), rng.beta(5, 2, 200)]
    for target in (0.01, 0.05, 0.2):
        t = M.threshold_for_false_positive_rate(labels, scores, target)
        fpr = (scores[labels == 0] >= t).mean()
        assert fpr <= target
        # the lowest such threshold: one step lower would exceed the target
        lower = np.max(scores[(labels == 0) & (scores < t)])
        assert (scores[labels == 0] >= lower).mean() > target


def test_review_shares_count_fakes_and_uncertain_results():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.45, 0.55, 0.2, 0.9, 0.52, 0.3, 0.8])
    shares = M.review_shares(labels, scores, threshold=0.5, band=0.1)
    assert shares["false_positive_rate"] == 0.25  # 0.55
    assert shares["true_positive_rate"] == 0.75  # 0.9, 0.52, 0.8
    assert shares["uncertain_share"] == 3 / 8  # 0.45, 0.55, 0.52
    assert shares["review_share_real"] == 0.5  # 0.45 (uncertain), 0.55 (fake)
    assert shares["review_share"] == 5 / 8


def test_the_uncertain_band_is_the_widest_that_keeps_real_reviews_bounded():
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.array([0.05 * i for i in range(10)] + [0.9] * 10)  # reals up to 0.45
    band = M.choose_uncertain_band(labels, scores, threshold=0.625, max_band=0.3, max_real_review_share=0.2)
    # reals at 0.45 and 0.40 may be uncertain (2 of 10), not 0.35 as well
    assert band == pytest.approx(0.27)  # 0.625 - 0.35 = 0.275 is not within a 0.27 band
    assert M.review_shares(labels, scores, 0.625, band)["review_share_real"] <= 0.2
