"""Stage `summarize@<variation>`: one variation's runs (one per seed in `train.seeds`)
summed up in `metrics/<variation>.json` and a mean history for the plots.

Each metric gets its mean over seeds at the top level (so `dvc metrics show` and
`dvc metrics diff` read as before), with its standard deviation and a 95% confidence
interval beside it, the number of seeds, and every seed's own value. With one seed the
mean is that seed's value and the spread is null.

The interval is Student's t over seeds (SciPy) cut to the metric's range (`RANGES`):
[0, 1] for accuracy, precision, recall and ROC AUC, never below 0 for loss and times.
The true mean lies in that range, so the cut keeps the t interval's coverage, and the
interval still holds the mean it is drawn around. With 2-5 seeds this beats the
alternatives: a percentile bootstrap over 2 seeds is [min, max] and covers the mean about
half the time, and a t interval on the logit scale brackets the back-transformed mean of
logits, which can leave out the arithmetic mean reported here (0.98 and four seeds at
0.999999: mean 0.9960, interval from 0.9965).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from stages.core.atomic import write_csv, write_json
from stages.core.errors import CatdogError
from stages.core.runs import CURVES, RunPaths, read_history, run_paths

# Test metrics (evaluate's) and training metrics (train's) summarised over seeds.
TEST_METRICS = ("accuracy", "loss", "precision", "recall", "roc_auc")
TRAIN_METRICS = ("train_seconds", "train_images_per_second", "steady_train_images_per_second")
# Early stopping's best epoch and last epoch trained (null for a variation without it).
CONVERGENCE = ("best_epoch", "stopped_epoch")
# The same for every seed of a variation.
CONSTANTS = ("params", "epochs", "test_images")
CONFIDENCE = 0.95
UNIT = (0.0, 1.0)
POSITIVE = (0.0, float("inf"))
# Where each metric's values (and so its mean) can lie.
RANGES: dict[str, tuple[float, float]] = {
    **{key: UNIT for key in ("accuracy", "precision", "recall", "roc_auc")},
    **{key: POSITIVE for key in ("loss", *TRAIN_METRICS)},
    **{key: (1.0, float("inf")) for key in CONVERGENCE},
}


def read_run(paths: RunPaths, stage: str) -> dict:
    """A run's training summary merged with its test metrics."""
    merged: dict = {}
    for path, writer in ((paths.train, "train"), (paths.test, "evaluate")):
        if not path.is_file():
            raise CatdogError(f"{path}: missing; run `dvc repro {writer}@{stage}` first")
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def spread(
    values: list[float], bounds: tuple[float, float]
) -> tuple[float | None, tuple[float, float] | None]:
    """Sample standard deviation and the 95% t-interval of the mean cut to `bounds`, the
    range the values lie in (None for one value)."""
    if len(values) < 2:
        return None, None
    if len(set(values)) == 1:
        return 0.0, (values[0], values[0])
    sd = float(np.std(values, ddof=1))
    low, high = stats.t.interval(
        CONFIDENCE, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    return sd, (max(float(low), bounds[0]), min(float(high), bounds[1]))


def summarize_runs(runs: dict[int, dict]) -> dict:
    """The variation's metrics from its runs by seed: means at the top level, then `sd`,
    `ci95` (low, high), `seeds` and `per_seed`."""
    summary: dict = {"seeds": len(runs), "sd": {}, "ci95": {}, "per_seed": {}}
    first = next(iter(runs.values()))
    for key in CONSTANTS:
        summary[key] = first[key]
    for key in (*TEST_METRICS, *TRAIN_METRICS, *CONVERGENCE):
        found = [run.get(key) for run in runs.values()]
        values = [float(value) for value in found if value is not None]
        if len(values) < len(found):
            summary[key] = None
            continue
        sd, interval = spread(values, RANGES[key])
        summary[key] = round(float(np.mean(values)), 6)
        summary["sd"][key] = None if sd is None else round(sd, 6)
        summary["ci95"][key] = (
            None
            if interval is None
            else {"low": round(interval[0], 6), "high": round(interval[1], 6)}
        )
    summary["confusion"] = {
        cell: sum(run["confusion"][cell] for run in runs.values())
        for cell in ("tn", "fp", "fn", "tp")
    }
    summary["per_seed"] = {
        str(seed): {
            **{key: run[key] for key in (*TEST_METRICS, "train_seconds")},
            **{key: run.get(key) for key in CONVERGENCE},
        }
        for seed, run in runs.items()
    }
    return summary


def mean_history(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per epoch, the mean of each curve over seeds, and its min and max (`<column>_min`,
    `<column>_max`) for the band the figures draw."""
    stacked = pd.concat(histories, ignore_index=True)
    grouped = stacked.groupby("epoch", sort=True)
    table = grouped[list(CURVES)].mean()
    for column in CURVES:
        table[f"{column}_min"] = grouped[column].min()
        table[f"{column}_max"] = grouped[column].max()
    return table.reset_index()


@dataclass(frozen=True)
class SummarizeInputs:
    """What the stage reads: the folder of runs (`<runs>/<variation>/<seed>/`)."""

    runs: Path


@dataclass(frozen=True)
class SummarizeOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    metrics: Path
    history: Path


def read_runs(runs: Path, variation: str, seeds: list[int]) -> dict[int, RunPaths]:
    """The variation's run folders under `runs`, by seed."""
    return {seed: run_paths(runs, variation, seed) for seed in seeds}


def variation_summary(runs: Path, variation: str, seeds: list[int]) -> dict:
    """The variation's metrics over its seeds (what `metrics/<variation>.json` holds)."""
    paths = read_runs(runs, variation, seeds)
    return summarize_runs(
        {seed: read_run(path, f"{variation}-{seed}") for seed, path in paths.items()}
    )


def variation_history(runs: Path, variation: str, seeds: list[int]) -> pd.DataFrame:
    """The variation's per-epoch curves, the mean over its seeds."""
    paths = read_runs(runs, variation, seeds)
    return mean_history([read_history(path.live) for path in paths.values()])


def summarize(
    variation: str, seeds: list[int], inputs: SummarizeInputs, outputs: SummarizeOutputs
) -> dict:
    """The stage: read the variation's run for every seed, write its summary metrics and its
    mean history."""
    summary = variation_summary(inputs.runs, variation, seeds)
    write_csv(outputs.history, variation_history(inputs.runs, variation, seeds))
    write_json(outputs.metrics, summary)
    sd = summary["sd"].get("accuracy")
    spread_text = "" if sd is None else f" ± {sd:.4f} (sd)"
    print(
        f"summarize@{variation}: accuracy {summary['accuracy']:.4f}{spread_text} "
        f"over {len(seeds)} seed(s)",
        file=sys.stderr,
    )
    return summary
