"""Paired tests between two variations on the same test photos, over the same seeds.

- McNemar's exact test on the per-photo verdicts: under "no difference", a photo that one
  variation gets right and the other wrong is equally likely to fall either way, so the
  discordant counts follow Binomial(b + c, 1/2) (SciPy's `binomtest`). Seeds are combined
  by pooling their discordant pairs (seed s of one variation against seed s of the other)
  into one test; each seed's own p-value is kept too.
- With two or more seeds, a 95% interval for the mean accuracy difference: a bootstrap of
  the per-seed differences (SciPy's `bootstrap`, percentile method, fixed random state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

SIGNIFICANCE = 0.05
RESAMPLES = 9999


@dataclass(frozen=True)
class Verdicts:
    """Whether each test photo was labelled right, by filename, for one run."""

    correct: pd.Series  # bool, indexed by filename

    @classmethod
    def of(cls, predictions: pd.DataFrame) -> Verdicts:
        """From evaluate's `filename, actual, predicted` table."""
        right = predictions["actual"] == predictions["predicted"]
        return cls(pd.Series(right.to_numpy(), index=predictions["filename"].to_numpy()))


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


def seed_interval(differences: list[float]) -> tuple[float, float] | None:
    """95% bootstrap interval of the mean of per-seed differences (None for one seed)."""
    if len(differences) < 2:
        return None
    if len(set(differences)) == 1:
        return differences[0], differences[0]
    result = stats.bootstrap(
        (np.asarray(differences),),
        np.mean,
        confidence_level=1 - SIGNIFICANCE,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=0,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairedComparison:
    """One variation against another on the same photos and seeds: the mean accuracy
    difference, its interval over seeds, the pooled McNemar p-value, and a verdict."""

    difference: float
    interval: tuple[float, float] | None
    p_value: float
    seed_p_values: list[float]
    discordant: tuple[int, int]

    @property
    def verdict(self) -> str:
        """better | worse | no evidence (p < 0.05, and an interval, if any, clear of 0)."""
        clear = self.interval is None or not self.interval[0] <= 0.0 <= self.interval[1]
        if self.p_value >= SIGNIFICANCE or not clear or self.difference == 0:
            return "no evidence"
        return "better" if self.difference > 0 else "worse"

    def as_json(self) -> dict[str, object]:
        return {
            "difference": round(self.difference, 6),
            "interval": None if self.interval is None else [round(x, 6) for x in self.interval],
            "p_value": self.p_value,
            "seed_p_values": self.seed_p_values,
            "discordant": list(self.discordant),
            "verdict": self.verdict,
        }


def compare_runs(runs: list[Verdicts], baseline: list[Verdicts]) -> PairedComparison:
    """`runs` against `baseline`, seed by seed (the lists are in the same seed order)."""
    counts = [discordant(mine, theirs) for mine, theirs in zip(runs, baseline, strict=True)]
    photos = [len(run.correct) for run in runs]
    differences = [(a - b) / n for (a, b), n in zip(counts, photos, strict=True)]
    pooled = (sum(a for a, _ in counts), sum(b for _, b in counts))
    return PairedComparison(
        difference=float(np.mean(differences)),
        interval=seed_interval(differences),
        p_value=mcnemar_p(*pooled),
        seed_p_values=[mcnemar_p(a, b) for a, b in counts],
        discordant=pooled,
    )
