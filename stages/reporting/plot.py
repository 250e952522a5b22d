"""The study's figures, drawn where their data is made: `inspect` draws the photos' (Figs. 1
and 2), `summarize@<variation>` its own curves, confusion matrix and ROC curve, and
`compare` the overlay of every variation and the predictions gallery (Fig. 14). Also the
curves as long tables for DVC's own plots (template `curves`: one line per `curve`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stages.core.atomic import write_csv
from stages.core.dataset import CLASS_NAMES, CachePaths, label_of, read_index
from stages.core.runs import run_paths
from stages.reporting.figures import (
    Labelled,
    class_counts_figure,
    confusion_figure,
    curves_figure,
    gallery_figure,
    overlay_figure,
    roc_figure,
    samples_figure,
    save_figure,
)

GALLERY_PER_CLASS = 4


@dataclass(frozen=True)
class DataFigureInputs:
    """What `inspect` draws from: the decode cache and its rejected files."""

    cache: CachePaths
    rejected: Path


@dataclass(frozen=True)
class DataFigureOutputs:
    """Where `inspect` draws: Fig. 1 and Fig. 2."""

    class_counts: Path
    samples: Path


def data_figures(inputs: DataFigureInputs, outputs: DataFigureOutputs) -> None:
    """Fig. 1 (class counts before and after rejected files) and Fig. 2 (sample photos)."""
    table = read_index(inputs.cache.index)
    rejected = pd.read_csv(inputs.rejected, dtype=str)
    save_figure(class_counts_figure(table, rejected), outputs.class_counts)
    save_figure(samples_figure(np.load(inputs.cache.images, mmap_mode="r"), table), outputs.samples)


@dataclass(frozen=True)
class VariationFigureInputs:
    """What `summarize@<variation>` draws from: its mean history over seeds, its summary metrics,
    and the ROC points of one seed's run."""

    history: Path
    metrics: Path
    roc: Path
    roc_seed: int


@dataclass(frozen=True)
class VariationFigureOutputs:
    """Where `summarize@<variation>` draws: curves, confusion matrix and ROC curve."""

    curves: Path
    confusion: Path
    roc: Path


def variation_figures(
    name: str, held_out: str, inputs: VariationFigureInputs, outputs: VariationFigureOutputs
) -> None:
    """Curves (train vs `held_out` photos, mean over seeds), confusion matrix (summed over
    seeds) and one seed's ROC curve of one variation."""
    scores = json.loads(inputs.metrics.read_text(encoding="utf-8"))
    points = pd.read_csv(inputs.roc)
    seeds = scores["seeds"]
    titled = name if seeds == 1 else f"{name} ({seeds} seeds)"
    auc = scores["per_seed"][str(inputs.roc_seed)]["roc_auc"]
    save_figure(curves_figure(pd.read_csv(inputs.history), titled, held_out), outputs.curves)
    save_figure(confusion_figure(scores["confusion"], titled), outputs.confusion)
    roc_name = name if seeds == 1 else f"{name} (seed {inputs.roc_seed})"
    save_figure(roc_figure(points["fpr"], points["tpr"], auc, roc_name), outputs.roc)


def gallery_items(predictions: pd.DataFrame, index: pd.DataFrame, images: np.ndarray) -> list:
    """Per class, the model's most confident mistakes beside its most confident right
    verdicts (GALLERY_PER_CLASS photos, up to half of them mistakes; ties by filename)."""
    scored = predictions.assign(
        _confidence=(predictions["dog_probability"] - 0.5).abs(),
        _wrong=predictions["actual"] != predictions["predicted"],
    ).sort_values(["_confidence", "filename"], ascending=[False, True], kind="stable")
    parts = []
    for name in CLASS_NAMES:
        of_class = scored[scored["actual"] == name]
        wrong = of_class[of_class["_wrong"]].head(GALLERY_PER_CLASS // 2)
        right = of_class[~of_class["_wrong"]].head(GALLERY_PER_CLASS - len(wrong))
        parts.extend([wrong, right])
    chosen = pd.concat(parts)
    row_of = dict(zip(index["filename"], index["row"], strict=True))
    items = []
    for record in chosen.itertuples(index=False):
        label, confidence = label_of(float(record.dog_probability))
        items.append(
            Labelled(
                pixels=images[row_of[record.filename]],
                caption=Path(record.filename).name,
                label=label,
                confidence=confidence,
                truth=record.actual,
            )
        )
    return items


@dataclass(frozen=True)
class SummaryFigureInputs:
    """What `compare` draws from: every variation's mean history over seeds, the
    comparison's verdict (which variation is best), the best's first run's verdicts under
    `<runs>`, and the decode cache."""

    histories: dict[str, pd.DataFrame]
    runs: Path
    comparison: Path
    cache: CachePaths


@dataclass(frozen=True)
class SummaryFigureOutputs:
    """Where `compare` draws: the overlay of every variation and Fig. 14."""

    overlay: Path
    gallery: Path


def summary_figures(
    held_out: str,
    inputs: SummaryFigureInputs,
    outputs: SummaryFigureOutputs,
) -> str:
    """All variations' curves on the `held_out` photos overlaid, and the predictions
    gallery (Fig. 14) of the variation the comparison names best. Returns its name."""
    save_figure(overlay_figure(inputs.histories, held_out), outputs.overlay)
    verdict = json.loads(inputs.comparison.read_text(encoding="utf-8"))
    best, seed = verdict["best"], verdict["seeds"][0]
    run = run_paths(inputs.runs, best, seed)
    predictions = pd.read_csv(run.predictions, dtype={"filename": str})
    pixels = np.load(inputs.cache.images, mmap_mode="r")
    items = gallery_items(predictions, read_index(inputs.cache.index), pixels)
    ranked = "best" if verdict["best_is_supported"] else "highest"
    run_name = best if len(verdict["seeds"]) == 1 else f"{best}, seed {seed}"
    title = (
        f"Predictions of {run_name} ({ranked} by {verdict['best_by']}) on test photos:"
        " its most confident mistakes and right verdicts"
    )
    save_figure(gallery_figure(items, title), outputs.gallery)
    return best


# The curves DVC plots with template `curves` (.dvc/plots/curves.json): one line per value
# of `curve`, the y field named for what it measures.
CURVE_METRICS = ("accuracy", "loss")


def curve_tables(history: pd.DataFrame, held_out: str) -> dict[str, pd.DataFrame]:
    """One variation's mean curves, per metric: `epoch, curve, <metric>`, with `curve`
    train or `held_out` (test or validation)."""
    tables = {}
    for metric in CURVE_METRICS:
        parts = [
            pd.DataFrame({"epoch": history["epoch"], "curve": curve, metric: history[column]})
            for curve, column in (("train", metric), (held_out, f"val_{metric}"))
        ]
        tables[metric] = pd.concat(parts, ignore_index=True)
    return tables


def overlay_tables(histories: dict[str, pd.DataFrame], held_out: str) -> dict[str, pd.DataFrame]:
    """Every variation's mean curve on the held-out photos, per metric: `epoch, curve,
    <held_out>_<metric>`, with `curve` the variation."""
    tables = {}
    for metric in CURVE_METRICS:
        parts = [
            pd.DataFrame(
                {
                    "epoch": history["epoch"],
                    "curve": name,
                    f"{held_out}_{metric}": history[f"val_{metric}"],
                }
            )
            for name, history in histories.items()
        ]
        tables[metric] = pd.concat(parts, ignore_index=True)
    return tables


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Each table as `<folder>/<metric>.csv`."""
    for metric, table in tables.items():
        write_csv(folder / f"{metric}.csv", table)


VARIATION_FIGURES = ("curves", "confusion", "roc")


def variation_plots(name: str, held_out: str, inputs: VariationFigureInputs, folder: Path) -> None:
    """One variation's figures (`<folder>/{curves,confusion,roc}.png`) and curve tables."""
    figures = VariationFigureOutputs(*(folder / f"{figure}.png" for figure in VARIATION_FIGURES))
    variation_figures(name, held_out, inputs, figures)
    write_tables(curve_tables(pd.read_csv(inputs.history), held_out), folder)
