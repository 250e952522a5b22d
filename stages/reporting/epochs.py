"""Were the study's epochs short, enough or too many? Answered from a variation trained to
convergence (early stopping: v6) and the fixed-epoch variation it builds on (v4).

The verdict: *short* when the early-stopped variation's best epoch comes after the
study's epoch count; *not settled* when it stopped before the count while the parent's
own validation loss was still at its lowest on its last epoch (the two curves disagree:
more patience or more seeds would tell); *too many* when patience ran out before the
count (training past the best epoch only worsened the validation loss); *enough* when
the best epoch comes before the count and patience ran out after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from stages.core.config import Params
from stages.core.runs import read_history, run_paths


@dataclass(frozen=True)
class EpochsVerdict:
    """The early-stopped `variation` against the fixed `epochs` of the one it builds on."""

    variation: str
    builds_on: str
    epochs: int
    best_epoch: float
    stopped_epoch: float
    maximum: int
    parent_best_epoch: int  # where the parent's mean validation loss was lowest
    parent_loss_rise: float  # its last epoch's validation loss above that lowest
    verdict: str

    def sentence(self) -> str:
        if self.parent_loss_rise > 0:
            parent = (
                f"lowest at epoch {self.parent_best_epoch} and {self.parent_loss_rise:+.4f} "
                f"from there by its last"
            )
        else:
            parent = f"still at its lowest on its last epoch ({self.parent_best_epoch})"
        return (
            f"Epochs: {self.variation} ({self.builds_on} with early stopping, at most "
            f"{self.maximum} epochs) was best at epoch {self.best_epoch:g} and stopped at "
            f"{self.stopped_epoch:g}, and {self.builds_on}'s validation loss was {parent}: "
            f"the study's {self.epochs} epochs were {self.verdict}."
        )

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def verdict_of(
    epochs: int, best_epoch: float, stopped_epoch: float, parent_still_falling: bool
) -> str:
    """short, not settled, too many or enough (see the module's docstring)."""
    if best_epoch > epochs:
        return "short"
    if stopped_epoch < epochs:
        return "not settled" if parent_still_falling else "too many"
    return "enough"


def mean_validation_loss(runs: Path, variation: str, seeds: list[int]) -> pd.Series:
    """The variation's validation loss per epoch, the mean over seeds."""
    histories = [read_history(run_paths(runs, variation, seed).live) for seed in seeds]
    return pd.concat(histories).groupby("epoch")["val_loss"].mean()


def epochs_verdicts(params: Params, metrics: dict[str, dict], runs: Path) -> list[EpochsVerdict]:
    """One verdict per early-stopped variation that builds on one without early stopping."""
    verdicts = []
    for name, variation in params.variations.items():
        parent_name = variation.builds_on
        if variation.early_stopping is None or parent_name is None:
            continue
        parent = params.variations[parent_name]
        best, stopped = metrics[name].get("best_epoch"), metrics[name].get("stopped_epoch")
        if parent.early_stopping is not None or best is None or stopped is None:
            continue
        loss = mean_validation_loss(runs, parent_name, params.train.seeds)
        rise = round(float(loss.iloc[-1] - loss.min()), 6)
        verdicts.append(
            EpochsVerdict(
                variation=name,
                builds_on=parent_name,
                epochs=parent.epochs,
                best_epoch=best,
                stopped_epoch=stopped,
                maximum=variation.epochs,
                parent_best_epoch=int(loss.idxmin()),
                parent_loss_rise=rise,
                verdict=verdict_of(parent.epochs, best, stopped, parent_still_falling=rise <= 0),
            )
        )
    return verdicts
