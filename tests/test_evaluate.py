"""`evaluate`'s scoring on hand-made labels and probabilities: every expected number below
was worked out by hand from the definitions (dog is the positive class, and a probability
of exactly 0.5 is a dog), never with the code under test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stages.reporting.evaluate import predictions_table, roc_table, score

# Four cats (0) and six dogs (1). At the 0.5 threshold:
#   cats 0.1, 0.4 -> cat (tn = 2); cats 0.5, 0.7 -> dog (fp = 2)
#   dogs 0.9, 0.8, 0.5, 0.6, 0.55 -> dog (tp = 5); dog 0.3 -> cat (fn = 1)
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=np.float32)
PROBABILITY = np.array([0.1, 0.4, 0.5, 0.7, 0.9, 0.8, 0.5, 0.3, 0.6, 0.55], dtype=np.float32)


def test_the_confusion_counts_by_name() -> None:
    assert score(LABELS, PROBABILITY)["confusion"] == {"tn": 2, "fp": 2, "fn": 1, "tp": 5}


def test_accuracy_precision_recall_by_hand() -> None:
    metrics = score(LABELS, PROBABILITY)
    assert metrics["accuracy"] == 0.7  # (tn + tp) / 10 = 7 / 10
    assert metrics["precision"] == 0.714286  # tp / (tp + fp) = 5 / 7, to 6 places
    assert metrics["recall"] == 0.833333  # tp / (tp + fn) = 5 / 6, to 6 places


def test_roc_auc_counts_ordered_pairs_with_ties_as_halves() -> None:
    # For each dog, the cats it outranks (a tie counts 1/2), over the 6 x 4 = 24 pairs:
    # 0.9: 4, 0.8: 4, 0.5: 2 + 1/2 (ties the 0.5 cat), 0.3: 1, 0.6: 3, 0.55: 3 -> 17.5
    assert score(LABELS, PROBABILITY)["roc_auc"] == 0.729167  # 17.5 / 24, to 6 places


def test_loss_is_the_mean_negative_log_likelihood() -> None:
    p = PROBABILITY.astype(float)
    by_hand = -sum(
        math.log(p[i]) if LABELS[i] == 1 else math.log(1 - p[i]) for i in range(len(p))
    ) / len(p)
    assert score(LABELS, PROBABILITY)["loss"] == pytest.approx(by_hand, abs=2e-6)


def test_a_probability_of_exactly_one_half_is_a_dog() -> None:
    half = np.array([0.5, 0.5], dtype=np.float32)
    metrics = score(np.array([0.0, 1.0]), half)
    assert metrics["confusion"] == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}
    assert metrics["accuracy"] == 0.5 and metrics["precision"] == 0.5 and metrics["recall"] == 1.0
    assert metrics["roc_auc"] == 0.5  # one pair, tied
    just_below = score(np.array([0.0, 1.0]), np.array([0.4999, 0.4999], dtype=np.float32))
    assert just_below["confusion"] == {"tn": 1, "fp": 0, "fn": 1, "tp": 0}
    assert just_below["precision"] == 0.0  # no dog predicted: 0, not an error


def test_perfect_and_inverted_classifiers() -> None:
    labels = np.array([0, 0, 1, 1])
    perfect = score(labels, np.array([0.2, 0.3, 0.7, 0.8]))
    assert perfect["confusion"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 2}
    assert (perfect["accuracy"], perfect["roc_auc"]) == (1.0, 1.0)
    inverted = score(labels, np.array([0.8, 0.7, 0.3, 0.2]))
    assert inverted["confusion"] == {"tn": 0, "fp": 2, "fn": 2, "tp": 0}
    assert (inverted["accuracy"], inverted["roc_auc"]) == (0.0, 0.0)


def test_one_class_has_no_roc_auc() -> None:
    metrics = score(np.array([1.0, 1.0, 1.0]), np.array([0.9, 0.2, 0.6]))
    assert metrics["roc_auc"] is None
    assert metrics["confusion"] == {"tn": 0, "fp": 0, "fn": 1, "tp": 2}
    assert metrics["recall"] == 0.666667


def test_the_predictions_table_names_the_classes() -> None:
    table = predictions_table(
        ["a.jpg", "b.jpg", "c.jpg"], np.array([0.0, 0.0, 1.0]), PROBABILITY[:3]
    )
    assert table.to_dict("list") == {
        "filename": ["a.jpg", "b.jpg", "c.jpg"],
        "actual": ["cat", "cat", "dog"],
        "predicted": ["cat", "cat", "dog"],  # c.jpg is at exactly 0.5
        "dog_probability": [0.1, 0.4, 0.5],
    }


def test_the_roc_table_is_the_curve_through_every_threshold() -> None:
    # Thresholds 0.8, 0.6, 0.4, 0.2 down the sorted scores: dog, cat, dog, cat.
    table = roc_table(np.array([1, 0, 1, 0]), np.array([0.8, 0.6, 0.4, 0.2]))
    assert table["fpr"].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert table["tpr"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert roc_table(np.array([1, 1]), np.array([0.8, 0.6])).empty


def test_one_class_predicted_and_true_still_counts_all_four_cells() -> None:
    dogs = score(np.array([1.0, 1.0, 1.0]), np.array([0.9, 0.5, 0.6]))
    assert dogs["confusion"] == {"tn": 0, "fp": 0, "fn": 0, "tp": 3}
    cats = score(np.array([0.0, 0.0]), np.array([0.1, 0.2]))
    assert cats["confusion"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 0}


def test_undefined_precision_and_recall_are_zero_without_warnings() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's UndefinedMetricWarning included
        cats = score(np.array([0.0, 0.0]), np.array([0.1, 0.2]))  # no dog, none predicted
    assert (cats["precision"], cats["recall"], cats["accuracy"]) == (0.0, 0.0, 1.0)


def test_metrics_are_rounded_to_six_places() -> None:
    metrics = score(np.array([1.0, 1.0, 1.0]), np.array([0.9, 0.2, 0.6]))
    assert metrics["accuracy"] == 0.666667  # 2 / 3
    assert metrics["loss"] == round(metrics["loss"], 6) != round(metrics["loss"], 5)


def test_certain_wrong_answers_cost_a_bounded_loss() -> None:
    # Probabilities are clipped to [1e-7, 1 - 1e-7]: a certain, wrong answer costs
    # -ln(1e-7) = 7 ln 10 = 16.118096, not infinity (nor scikit-learn's own clip).
    wrong_dog = score(np.array([1.0, 0.0]), np.array([0.0, 0.9]))  # + -ln(0.1) = 2.302585
    assert wrong_dog["loss"] == pytest.approx((16.118096 + 2.302585) / 2, abs=2e-6)
    wrong_cat = score(np.array([0.0, 1.0]), np.array([1.0, 0.9]))  # + -ln(0.9) = 0.105361
    assert wrong_cat["loss"] == pytest.approx((16.118096 + 0.105361) / 2, abs=2e-6)
