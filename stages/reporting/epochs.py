"""Were the study's epochs short, enough or too many? Answered from a variation trained to
convergence (early stopping: v6) and the fixed-epoch variation it builds on (v4).

The verdict: *short* when the early-stopped variation's best epoch comes after the
study's epoch count; *capped* when, in any seed, it ran out of epochs before its
patience ran out (it never stopped early, so its maximum must rise before it can say
more); *not settled* when it stopped before the count while the parent's own validation
loss was still at its lowest on its last epoch (the two curves disagree: more patience
or more seeds would tell); *too many* when patience ran out before the count (training
past the best epoch only worsened the validation loss); *enough* when the best epoch
comes before the count and patience ran out after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from stages.core.config import Params
from stages.core.runs import read_history, run_paths

CAPPED = "capped"


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
    capped_seeds: int  # seeds that ran out of epochs before patience ran out
    seeds: int

    def _ran(self) -> str:
        """How the variation's training ended."""
        if not self.capped_seeds:
            return f"stopped at {self.stopped_epoch:g}"
        ran = f"reached its maximum of {self.maximum} epochs without stopping"
        if self.capped_seeds < self.seeds:
            ran += f" in {self.capped_seeds} of {self.seeds} seeds"
        return ran

    def _parent(self) -> str:
        """Where the parent's validation loss was lowest."""
        if self.parent_loss_rise > 0:
            return (
                f"lowest at epoch {self.parent_best_epoch} and {self.parent_loss_rise:+.4f} "
                f"from there by its last"
            )
        return f"still at its lowest on its last epoch ({self.parent_best_epoch})"

    def _conclusion(self) -> str:
        """The verdict on the study's epochs, and what to do when the maximum capped it."""
        raise_it = f"raise variations.{self.variation}.epochs"
        if self.verdict == CAPPED:
            return f"{raise_it} to settle the study's {self.epochs} epochs"
        verdict = f"the study's {self.epochs} epochs were {self.verdict}"
        return f"{verdict} ({raise_it} to learn how many)" if self.capped_seeds else verdict

    def sentence(self) -> str:
        return (
            f"Epochs: {self.variation} ({self.builds_on} with early stopping, at most "
            f"{self.maximum} epochs) was best at epoch {self.best_epoch:g} and {self._ran()}, "
            f"and {self.builds_on}'s validation loss was {self._parent()}: "
            f"{self._conclusion()}."
        )

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def verdict_of(
    epochs: int,
    best_epoch: float,
    stopped_epoch: float,
    *,
    capped: bool,
    parent_still_falling: bool,
) -> str:
    """short, capped, not settled, too many or enough (see the module's docstring)."""
    if best_epoch > epochs:
        return "short"
    if capped:
        return CAPPED
    if stopped_epoch < epochs:
        return "not settled" if parent_still_falling else "too many"
    return "enough"


def mean_validation_loss(runs: Path, variation: str, seeds: list[int]) -> pd.Series:
    """The variation's validation loss per epoch, the mean over seeds."""
    histories = [read_history(run_paths(runs, variation, seed).live) for seed in seeds]
    return pd.concat(histories).groupby("epoch")["val_loss"].mean()


def capped_seeds(metrics: dict, maximum: int, patience: int) -> int:
    """Seeds that trained all `maximum` epochs with patience left: their last epoch came
    less than `patience` epochs after their best, so early stopping never fired."""
    return sum(
        run["stopped_epoch"] >= maximum and run["stopped_epoch"] - run["best_epoch"] < patience
        for run in metrics["per_seed"].values()
    )


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
        capped = capped_seeds(metrics[name], variation.epochs, variation.early_stopping.patience)
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
                verdict=verdict_of(
                    parent.epochs, best, stopped, capped=capped > 0, parent_still_falling=rise <= 0
                ),
                capped_seeds=capped,
                seeds=len(metrics[name]["per_seed"]),
            )
        )
    return verdicts
