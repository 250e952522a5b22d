"""The statistics of the comparison, against values worked out by hand: the summary over
seeds (stages/reporting/summarize.py) and the paired tests (stages/reporting/paired.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.reporting.paired import (
    MIN_SEEDS_FOR_VERDICT,
    NO_DIFFERENCE,
    TOO_FEW_SEEDS,
    Verdicts,
    compare_runs,
    discordant,
    mcnemar_p,
    seed_test,
)
from stages.reporting.summarize import POSITIVE, UNIT, mean_history, spread, summarize_runs

T_975_2 = 4.30265272975  # Student's t, 97.5th percentile, 2 degrees of freedom


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


def test_runs_are_paired_seed_by_seed_with_mcnemar_for_each_pair_of_models() -> None:
    # 10 photos; seed 1: a gains 3; seed 2: a gains 1 and loses 1.
    mine = [verdicts([True] * 8 + [False] * 2), verdicts([True] * 6 + [False] * 4)]
    theirs = [verdicts([True] * 5 + [False] * 5), verdicts([False] + [True] * 6 + [False] * 3)]
    pair = compare_runs(mine, theirs)
    assert pair.discordant == ((3, 0), (1, 1))
    assert pair.mcnemar == pytest.approx([2 / 2**3, 1.0])
    assert pair.accuracy.differences == pytest.approx((0.3, 0.0))
    assert pair.accuracy.difference == pytest.approx(0.15)
    assert pair.accuracy.verdict == TOO_FEW_SEEDS
    assert pair.as_json()["models"] == {"mcnemar_p": pair.mcnemar, "discordant": [[3, 0], [1, 1]]}


def test_one_seed_gives_no_verdict_however_clear_the_photos() -> None:
    """McNemar on 100 discordant photos all one way: p ~ 1e-30 about those two models,
    yet one seed says nothing of the two variations."""
    pair = compare_runs([verdicts([True] * 100)], [verdicts([False] * 100)])
    assert pair.mcnemar[0] < 1e-29
    assert (pair.accuracy.interval, pair.accuracy.p_value) == (None, None)
    assert pair.accuracy.verdict == TOO_FEW_SEEDS
    assert pair.as_json()["verdict"] == "too few seeds"


def test_two_seeds_have_an_interval_but_still_no_verdict() -> None:
    assert MIN_SEEDS_FOR_VERDICT == 3
    test = seed_test([0.95, 0.96], [0.50, 0.52])
    assert test.p_value is not None and test.p_value < 0.05
    assert test.verdict == TOO_FEW_SEEDS


@pytest.mark.parametrize(
    ("mine", "theirs", "p", "verdict"),
    [
        # differences 0.04, 0.05, 0.06: t = 5 sqrt(3); with 2 dof, p = 1 - t / sqrt(t^2 + 2)
        ([0.90, 0.92, 0.94], [0.86, 0.87, 0.88], 1 - 75**0.5 / 77**0.5, "better"),
        ([0.86, 0.87, 0.88], [0.90, 0.92, 0.94], 1 - 75**0.5 / 77**0.5, "worse"),
        # differences 0.01, 0.03, 0.05 (the seeds overlap): t = 1.5 sqrt(3), p = 0.12
        ([0.88, 0.90, 0.93], [0.87, 0.87, 0.88], 1 - 6.75**0.5 / 8.75**0.5, NO_DIFFERENCE),
        ([0.88, 0.80, 0.90], [0.88, 0.80, 0.90], 1.0, NO_DIFFERENCE),  # no difference at all
        ([0.90, 0.85, 0.80], [0.89, 0.84, 0.79], 0.0, "better"),  # the same gain every seed
    ],
)
def test_a_verdict_over_three_seeds_is_the_paired_t_test(mine, theirs, p, verdict) -> None:
    test = seed_test(mine, theirs)
    assert test.p_value == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert test.verdict == verdict
    assert test.seeds == 3


def test_the_seed_interval_is_students_t_on_the_differences_cut_to_its_span() -> None:
    test = seed_test([0.90, 0.92, 0.94], [0.86, 0.87, 0.88])
    sem = 0.01 / 3**0.5
    assert test.interval == pytest.approx((0.05 - T_975_2 * sem, 0.05 + T_975_2 * sem))
    assert seed_test([1.0, 0.0], [0.0, 0.0]).interval == (-1.0, 1.0)  # t: -5.9 to 6.9
    assert seed_test([0.9, 0.9], [0.8, 0.8]).interval == (0.1, 0.1)


def test_spread_is_the_sample_sd_and_students_t_interval_cut_to_the_range() -> None:
    assert spread([0.8], UNIT) == (None, None)
    sd, (low, high) = spread([0.8, 0.9], UNIT)
    # sd = 0.05 * sqrt(2); sem = 0.05; t(0.975, 1 dof) = 12.706204736...; 1.49 cut to 1.
    assert sd == pytest.approx(0.0707106781)
    assert (low, high) == pytest.approx((0.85 - 0.05 * 12.7062047362, 1.0))
    assert spread([10.0, 11.0, 12.0], POSITIVE)[1] == pytest.approx(
        (11 - T_975_2 / 3**0.5, 11 + T_975_2 / 3**0.5)
    )
    assert spread([1.0, 30.0], POSITIVE)[1] == pytest.approx((0.0, 15.5 + 14.5 * 12.7062047362))
    assert spread([0.7, 0.7, 0.7], UNIT) == (0.0, (0.7, 0.7))


def values_in_the_unit_interval(draws: int) -> list[list[float]]:
    """2-6 values in [0, 1] per draw: uniform, piled at the bounds, or nearly equal."""
    rng = np.random.default_rng(0)
    cases: list[list[float]] = []
    for _ in range(draws):
        size = int(rng.integers(2, 7))
        kind = rng.integers(3)
        if kind == 0:
            values = rng.uniform(0, 1, size)
        elif kind == 1:
            values = rng.choice([0.0, 1e-9, 0.001, 0.5, 0.999, 1 - 1e-9, 1.0], size)
        else:
            values = np.clip(rng.choice([0.0, 0.3, 1.0]) + rng.normal(0, 1e-7, size), 0, 1)
        cases.append([float(value) for value in values])
    return cases


def test_the_interval_of_any_values_in_0_1_stays_in_0_1_and_holds_their_mean() -> None:
    for values in values_in_the_unit_interval(3000):
        summary = summarize_runs({seed: run(value, 1.0) for seed, value in enumerate(values)})
        mean, interval = summary["accuracy"], summary["ci95"]["accuracy"]
        assert 0.0 <= interval["low"] <= mean <= interval["high"] <= 1.0, values


def test_a_metric_piled_at_its_bounds_keeps_its_interval_inside_them() -> None:
    """metrics/v4.json over 3 seeds, one model calling every photo a cat: recall 0, 0, 1
    gave a t interval from -1.10 to 1.77, precision 0, 0.5, 0 one from -0.55 to 0.88."""
    runs = {seed: run(0.5, 1.0) for seed in (1, 2, 3)}
    for seed, recall, precision in ((1, 0.0, 0.0), (2, 0.0, 0.5), (3, 1.0, 0.0)):
        runs[seed] |= {"recall": recall, "precision": precision, "loss": 0.01 + seed / 10}
    summary = summarize_runs(runs)
    assert summary["ci95"]["recall"] == {"low": 0.0, "high": 1.0}
    # precision: mean 1/6, sem 1/6; loss 0.11, 0.21, 0.31: sem 0.1 / sqrt(3)
    high = pytest.approx((1 + T_975_2) / 6, abs=1e-6)
    assert summary["ci95"]["precision"] == {"low": 0.0, "high": high}
    high = pytest.approx(0.21 + T_975_2 * 0.1 / 3**0.5, abs=1e-6)
    assert summary["ci95"]["loss"] == {"low": 0.0, "high": high}


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
