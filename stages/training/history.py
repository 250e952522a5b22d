"""Training's per-epoch log: each epoch's curves and seconds, kept for a resume, and logged
with dvclive to the run's dvclive folder (`dvc exp show`, `dvc plots`, the VS Code
extension and Studio see every epoch as it ends).

dvclive's `step` is set to the epoch counted from 1, so its TSVs and `metrics.json` read
in epochs (dvc.yaml plots them against `step`, titled "epoch"): one column name for
dvclive and Studio, the same numbers as the study's epochs.

Exactly once after a `kill -9`: the rows live in a CSV in the checkpoint folder (written
atomically), and a resumed run restarts from the epoch of its last weights backup, which
can be one before its last row. The first epoch a run begins drops the rows past it, and
the dvclive folder is rebuilt from the rows kept (`Live` without `resume`: DVC deletes a
stage's outputs before rerunning it anyway, and dvclive's resume would append after the
dropped rows).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import keras
import pandas as pd
from dvclive import Live

from stages.core.atomic import write_csv
from stages.core.runs import CURVES

TIMING = ("seconds", "fit_seconds")


class TrainingLog(keras.callbacks.Callback):
    """Per-epoch curves and seconds: a row per epoch (counted from 1) in `state`, written
    atomically, and the curves logged to the dvclive folder `live`.

    Each row times the whole epoch (`seconds`, validation included) and its training part
    alone (`fit_seconds`, up to the start of validation).

    Only the hooks a hand-driven `CallbackList` calls are used (on_epoch_begin,
    on_test_begin, on_epoch_end with the epoch's logs, on_train_end), nothing of `fit`'s.
    Put it before BackupAndRestore: an epoch's row is then saved before its backup.
    """

    def __init__(self, state: Path, live: Path) -> None:
        super().__init__()
        self.state, self.live_folder = state, live
        self.rows: list[dict[str, float]] = (
            pd.read_csv(state).to_dict("records") if state.exists() else []
        )
        self.live: Live | None = None
        self._started = self._fitted = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.rows = [row for row in self.rows if row["epoch"] <= epoch]
        self._open_live()
        self._started = self._fitted = time.perf_counter()

    def on_test_begin(self, logs: dict[str, float] | None = None) -> None:
        self._fitted = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        ended = time.perf_counter()
        fitted = self._fitted if self._fitted > self._started else ended
        row = {
            "epoch": epoch + 1,
            **{curve: float(logs[curve]) for curve in CURVES},
            "seconds": ended - self._started,
            "fit_seconds": fitted - self._started,
        }
        self.rows.append(row)
        write_csv(self.state, pd.DataFrame(self.rows, columns=["epoch", *CURVES, *TIMING]))
        self._log(row)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Close dvclive's run; when no epoch was left to train, first write the folder."""
        self._open_live().end()

    def _open_live(self) -> Live:
        """dvclive's run, started once: it empties the folder and logs the rows kept."""
        if self.live is None:
            self.live = Live(str(self.live_folder), resume=False, dvcyaml=False, save_dvc_exp=False)
            for row in self.rows:
                self._log(row)
        return self.live

    def _log(self, row: dict[str, float]) -> None:
        live = self._open_live()
        live.step = int(row["epoch"])
        for curve in CURVES:
            live.log_metric(curve, row[curve])
        live.next_step()

    @property
    def seconds(self) -> float:
        return sum(row["seconds"] for row in self.rows)

    @property
    def steady_fit_seconds(self) -> float:
        """Median training seconds of an epoch, leaving out the first (it compiles) when
        there are others."""
        fit_seconds = [row["fit_seconds"] for row in self.rows]
        return statistics.median(fit_seconds[1:] or fit_seconds)
