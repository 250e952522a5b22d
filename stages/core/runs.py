"""Where one training run (a variation from one seed) keeps its files: `runs/<v>/<seed>/`,
as dvc.yaml declares them; and how to read the per-epoch curves dvclive logged there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stages.core.errors import CatdogError

# The per-epoch curves training logs, as Keras names them in each epoch's `logs`.
CURVES = ("accuracy", "loss", "val_accuracy", "val_loss")


@dataclass(frozen=True)
class RunPaths:
    """One training run's files (`runs/<variation>/<seed>/`): train's summary and dvclive
    folder (the per-epoch curves), evaluate's test metrics, per-photo verdicts and ROC
    points."""

    folder: Path

    @property
    def train(self) -> Path:
        return self.folder / "train.json"

    @property
    def live(self) -> Path:
        return self.folder / "dvclive"

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


def curve_file(live: Path, curve: str) -> Path:
    """The TSV dvclive writes for one curve under a run's dvclive folder (`step`, value)."""
    return live / "plots" / "metrics" / f"{curve}.tsv"


def read_history(live: Path) -> pd.DataFrame:
    """A run's curves from its dvclive folder, one row per epoch: `epoch` (dvclive's `step`,
    which training sets to the 1-based epoch), then accuracy, loss, val_accuracy, val_loss."""
    paths = [curve_file(live, curve) for curve in CURVES]
    if missing := [str(path) for path in paths if not path.is_file()]:
        raise CatdogError(f"{live}: no per-epoch curves ({', '.join(missing)} missing)")
    curves = [pd.read_csv(path, sep="\t", index_col="step") for path in paths]
    return pd.concat(curves, axis=1).rename_axis("epoch").reset_index()
