"""Where one training run (a variation from one seed) keeps its files: `runs/<v>/<seed>/`,
as dvc.yaml declares them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    """One training run's files (`runs/<variation>/<seed>/`): train's summary and history,
    evaluate's test metrics, per-photo verdicts and ROC points."""

    folder: Path

    @property
    def train(self) -> Path:
        return self.folder / "train.json"

    @property
    def history(self) -> Path:
        return self.folder / "history.csv"

    @property
    def test(self) -> Path:
        return self.folder / "test.json"

    @property
    def predictions(self) -> Path:
        return self.folder / "predictions.csv"

    @property
    def roc(self) -> Path:
        return self.folder / "roc.csv"


def run_paths(runs: Path, variation: str, seed: int) -> RunPaths:
    """Where dvc.yaml puts the run of `variation` from `seed` under the folder `runs`."""
    return RunPaths(runs / variation / str(seed))
