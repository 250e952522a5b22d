"""Is one variation better than another? Two questions, kept apart.

- About the variations (the verdict): a variation is a recipe and each seed draws one
  trained model from it, so whether one beats another rests on the spread over seeds: a
  paired t-test on the per-seed values (seed s of one against seed s of the other: the
  same split, batch order and, where the networks match, starting weights; SciPy's
  `ttest_1samp` on the differences), with the 95% t interval of the mean difference. It
  needs `MIN_SEEDS_FOR_VERDICT` seeds; with fewer there is no verdict.
- About two trained models (one seed of each): McNemar's exact test on the per-photo
  verdicts. Under "no difference", a photo one model gets right and the other wrong is
  equally likely to fall either way, so the discordant counts follow Binomial(b + c, 1/2)
  (SciPy's `binomtest`). The photos are its random unit, so seed-to-seed variance never
  enters it, and pooling seeds would not change that: it speaks for those two models only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

SIGNIFICANCE = 0.05
# Seeds per variation below which no better/worse verdict is given: two seeds give one
# degree of freedom, too few to tell a variation's spread from luck.
MIN_SEEDS_FOR_VERDICT = 3
BETTER, WORSE = "better", "worse"
NO_DIFFERENCE, TOO_FEW_SEEDS = "no significant difference", "too few seeds"
# Per-seed differences are rounded to this many decimals before the test, so that equal
# differences computed in floating point count as equal (no spread).
DECIMALS = 9


@dataclass(frozen=True)
class Verdicts:
    """Whether each test photo was labelled right, by filename, for one run."""

    correct: pd.Series  # bool, indexed by filename

    @classmethod
    def of(cls, predictions: pd.DataFrame) -> Verdicts:
        """From evaluate's `filename, actual, predicted` table."""
        right = predictions["actual"] == predictions["predicted"]
        return cls(pd.Series(right.to_numpy(), index=predictions["filename"].to_numpy()))

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def discordant(a: Verdicts, b: Verdicts) -> tuple[int, int]:
    """(photos a gets right and b wrong, photos a gets wrong and b right)."""
    if set(a.correct.index) != set(b.correct.index):
        raise ValueError("the two runs were scored on different test photos")
    right_a = a.correct.to_numpy(dtype=bool)
    right_b = b.correct.loc[a.correct.index].to_numpy(dtype=bool)
    return int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))


def mcnemar_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    if a_only + b_only == 0:
        return 1.0
    return float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)


@dataclass(frozen=True)
class SeedTest:
    """One variation against another over matched seeds: the per-seed differences, the
    95% interval of their mean and the paired t-test's p-value (None for one seed)."""

    differences: tuple[float, ...]
    interval: tuple[float, float] | None
    p_value: float | None

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def difference(self) -> float:
        return float(np.mean(self.differences))

    @property
    def verdict(self) -> str:
        """better | worse (p < 0.05) | no significant difference, or too few seeds."""
        if self.seeds < MIN_SEEDS_FOR_VERDICT or self.p_value is None:
            return TOO_FEW_SEEDS
        if self.p_value >= SIGNIFICANCE or self.difference == 0:
            return NO_DIFFERENCE
        return BETTER if self.difference > 0 else WORSE


def seed_test(mine: list[float], theirs: list[float], span: float = 1.0) -> SeedTest:
    """Paired t-test of `mine` against `theirs` (the same seeds in the same order); the
    interval is cut to [-span, span], the range of a difference (1 for metrics in [0, 1])."""
    differences = tuple(round(a - b, DECIMALS) for a, b in zip(mine, theirs, strict=True))
    if len(differences) < 2:
        return SeedTest(differences, None, None)
    mean = float(np.mean(differences))
    if len(set(differences)) == 1:  # no spread: t is infinite, or 0 / 0 for no difference
        return SeedTest(differences, (mean, mean), 1.0 if mean == 0 else 0.0)
    result = stats.ttest_1samp(differences, 0.0)
    low, high = result.confidence_interval(1 - SIGNIFICANCE)
    return SeedTest(
        differences, (max(float(low), -span), min(float(high), span)), float(result.pvalue)
    )


@dataclass(frozen=True)
class PairedComparison:
    """One variation against another on the same photos and seeds: accuracy over seeds
    (the verdict), and McNemar per seed on the trained models."""

    accuracy: SeedTest
    discordant: tuple[tuple[int, int], ...]  # per seed

    @property
    def mcnemar(self) -> list[float]:
        """Each seed's McNemar p-value: about those two trained models only."""
        return [mcnemar_p(a, b) for a, b in self.discordant]

    def as_json(self) -> dict[str, object]:
        interval = self.accuracy.interval
        return {
            "difference": round(self.accuracy.difference, 6),
            "interval": None if interval is None else [round(x, 6) for x in interval],
            "p_value": self.accuracy.p_value,
            "test": "paired t over seeds",
            "seeds": self.accuracy.seeds,
            "verdict": self.accuracy.verdict,
            "models": {"mcnemar_p": self.mcnemar, "discordant": [list(c) for c in self.discordant]},
        }


def compare_runs(runs: list[Verdicts], baseline: list[Verdicts]) -> PairedComparison:
    """`runs` against `baseline`, seed by seed (the lists are in the same seed order)."""
    counts = tuple(discordant(mine, theirs) for mine, theirs in zip(runs, baseline, strict=True))
    accuracy = seed_test([run.accuracy for run in runs], [run.accuracy for run in baseline])
    return PairedComparison(accuracy, counts)
