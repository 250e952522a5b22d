"""The statistics of the comparison, against values worked out by hand: the summary over
seeds (stages/reporting/summarize.py) and the paired tests (stages/reporting/paired.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from stages.reporting.paired import (
    PairedComparison,
    Verdicts,
    compare_runs,
    discordant,
    mcnemar_p,
    seed_interval,
)
from stages.reporting.summarize import mean_history, spread, summarize_runs


def verdicts(right: list[bool]) -> Verdicts:
    names = [f"p{i}.jpg" for i in range(len(right))]
    return Verdicts(pd.Series(right, index=names))


@pytest.mark.parametrize(
    ("a_only", "b_only", "p"),
    [
        (6, 0, 2 / 2**6),  # all six discordant photos one way
        (0, 6, 2 / 2**6),
        (3, 3, 1.0),
        (0, 0, 1.0),  # no discordant photo: no evidence at all
        (10, 2, 2 * (1 + 12 + 66) / 2**12),  # P(X <= 2) + P(X >= 10), X ~ Bin(12, 1/2)
    ],
)
def test_mcnemar_exact_p_values(a_only, b_only, p) -> None:
    assert mcnemar_p(a_only, b_only) == pytest.approx(p, rel=1e-12)


def test_discordant_counts_each_direction_by_filename() -> None:
    a = verdicts([True, True, False, False, True])
    b = Verdicts(verdicts([True, False, True, False, False]).correct.iloc[::-1])
    assert discordant(a, b) == (2, 1)
    with pytest.raises(ValueError, match="different test photos"):
        discordant(a, verdicts([True, True]))


def test_runs_are_paired_seed_by_seed_and_pooled() -> None:
    # 10 photos; seed 1: a gains 3; seed 2: a gains 1 and loses 1.
    mine = [verdicts([True] * 8 + [False] * 2), verdicts([True] * 6 + [False] * 4)]
    theirs = [verdicts([True] * 5 + [False] * 5), verdicts([False] + [True] * 6 + [False] * 3)]
    pair = compare_runs(mine, theirs)
    assert pair.discordant == (4, 1)
    assert pair.difference == pytest.approx((0.3 + 0.0) / 2)
    assert pair.p_value == pytest.approx(2 * (1 + 5) / 2**5)  # P(X <= 1) + P(X >= 4), n = 5
    assert pair.seed_p_values == pytest.approx([2 / 2**3, 1.0])
    assert pair.verdict == "no evidence"


@pytest.mark.parametrize(
    ("difference", "interval", "p_value", "verdict"),
    [
        (0.05, None, 0.01, "better"),
        (-0.05, None, 0.01, "worse"),
        (0.05, None, 0.05, "no evidence"),  # p must be below 0.05
        (0.05, (-0.01, 0.1), 0.01, "no evidence"),  # the interval straddles 0
        (0.05, (0.0, 0.1), 0.01, "no evidence"),  # ... or touches it
        (-0.05, (-0.1, -0.02), 0.001, "worse"),
    ],
)
def test_verdicts(difference, interval, p_value, verdict) -> None:
    pair = PairedComparison(difference, interval, p_value, [p_value], (0, 0))
    assert pair.verdict == verdict


def test_seed_interval_needs_two_seeds_and_brackets_the_mean() -> None:
    assert seed_interval([0.1]) is None
    assert seed_interval([0.02, 0.02, 0.02]) == (0.02, 0.02)
    low, high = seed_interval([0.01, 0.03, 0.02, 0.04, 0.05])
    assert 0.01 <= low < 0.03 < high <= 0.05
    assert seed_interval([0.01, 0.03, 0.02, 0.04, 0.05]) == (low, high), "fixed random state"


def test_spread_is_the_sample_sd_and_students_t_interval() -> None:
    assert spread([0.8]) == (None, None)
    sd, (low, high) = spread([0.8, 0.9])
    # sd = 0.05 * sqrt(2); sem = 0.05; t(0.975, 1 dof) = 12.706204736...
    assert sd == pytest.approx(0.0707106781)
    assert (low, high) == pytest.approx((0.85 - 0.05 * 12.7062047362, 0.85 + 0.05 * 12.7062047362))
    assert spread([0.7, 0.7, 0.7]) == (0.0, (0.7, 0.7))


def run(accuracy: float, seconds: float) -> dict:
    return {
        "accuracy": accuracy,
        "loss": 1 - accuracy,
        "precision": 0.5,
        "recall": 0.5,
        "roc_auc": None,
        "confusion": {"tn": 1, "fp": 2, "fn": 3, "tp": 4},
        "train_seconds": seconds,
        "train_images_per_second": 100.0,
        "steady_train_images_per_second": 120.0,
        "params": 7,
        "epochs": 3,
        "test_images": 10,
    }


def test_one_seed_keeps_its_values_exactly() -> None:
    summary = summarize_runs({42: run(0.123456789, 12.5)})
    assert summary["accuracy"] == 0.123457 and summary["seeds"] == 1
    assert summary["sd"]["accuracy"] is None and summary["ci95"]["accuracy"] is None
    assert summary["roc_auc"] is None
    assert summary["confusion"] == {"tn": 1, "fp": 2, "fn": 3, "tp": 4}


def test_seeds_are_summed_up_with_their_spread_and_kept_one_by_one() -> None:
    summary = summarize_runs({1: run(0.8, 10.0), 2: run(0.9, 20.0), 3: run(0.85, 30.0)})
    assert summary["accuracy"] == pytest.approx(0.85) and summary["train_seconds"] == 20.0
    assert summary["sd"]["accuracy"] == pytest.approx(0.05)
    low, high = summary["ci95"]["accuracy"]["low"], summary["ci95"]["accuracy"]["high"]
    assert (low, high) == pytest.approx(
        (0.85 - 4.30265273 * 0.05 / 3**0.5, 0.85 + 4.30265273 * 0.05 / 3**0.5), abs=1e-6
    )
    assert summary["confusion"] == {"tn": 3, "fp": 6, "fn": 9, "tp": 12}
    assert summary["per_seed"]["2"]["accuracy"] == 0.9 and summary["seeds"] == 3
    assert (summary["params"], summary["epochs"], summary["test_images"]) == (7, 3, 10)


def test_mean_history_with_min_and_max_per_epoch() -> None:
    one = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.5, 0.7], "loss": [0.9, 0.5],
                        "val_accuracy": [0.4, 0.6], "val_loss": [1.0, 0.8]})  # fmt: skip
    two = one.assign(accuracy=[0.7, 0.9])
    table = mean_history([one, two])
    assert list(table["accuracy"]) == pytest.approx([0.6, 0.8])
    assert list(table["accuracy_min"]) == [0.5, 0.7] and list(table["accuracy_max"]) == [0.7, 0.9]
    assert list(table["val_loss"]) == [1.0, 0.8] and list(table["epoch"]) == [1, 2]
    assert mean_history([one])[list(one.columns)].equals(one), "one seed: the same history"
