"""Stages `figures_data`, `figures@<variation>` and `figures_all`: read the pipeline's
outputs and write the study's figures as PNGs (drawn by stages.reporting.figures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from stages.core.config import Params
from stages.core.dataset import CLASS_NAMES, label_of
from stages.reporting.compare import best_variation, read_metrics
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


def _index(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"filename": str, "category": str, "row": np.int64})


def data_figures(
    images: Path, index: Path, rejected: Path, class_counts_png: Path, samples_png: Path
) -> None:
    """Fig. 1 (class counts before and after rejected files) and Fig. 2 (sample photos)."""
    table = _index(index)
    save_figure(class_counts_figure(table, pd.read_csv(rejected, dtype=str)), class_counts_png)
    save_figure(samples_figure(np.load(images, mmap_mode="r"), table), samples_png)


def variation_figures(
    name: str,
    history: Path,
    metrics: Path,
    roc: Path,
    outputs: tuple[Path, Path, Path],
) -> None:
    """Curves (train vs test), confusion matrix and ROC curve of one variation;
    `outputs` is (curves, confusion, roc) PNG paths."""
    curves_png, confusion_png, roc_png = outputs
    scores = json.loads(metrics.read_text(encoding="utf-8"))
    points = pd.read_csv(roc)
    save_figure(curves_figure(pd.read_csv(history), name), curves_png)
    save_figure(confusion_figure(scores["confusion"], name), confusion_png)
    save_figure(roc_figure(points["fpr"], points["tpr"], scores["roc_auc"], name), roc_png)


def gallery_items(predictions: pd.DataFrame, index: pd.DataFrame, images: np.ndarray) -> list:
    """The first few test photos of each class (by filename), with the model's verdict."""
    ordered = predictions.sort_values("filename", kind="stable")
    chosen = pd.concat(
        [ordered[ordered["actual"] == c].head(GALLERY_PER_CLASS) for c in CLASS_NAMES]
    )
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


def summary_figures(
    params: Params,
    plots_dir: Path,
    metrics_dir: Path,
    images: Path,
    index: Path,
    outputs: tuple[Path, Path],
) -> str:
    """All variations' test curves overlaid, and the best variation's predictions gallery
    (Fig. 14) on test photos; `outputs` is (overlay, gallery). Returns the best's name."""
    overlay_png, gallery_png = outputs
    histories = {name: pd.read_csv(plots_dir / name / "history.csv") for name in params.variations}
    save_figure(overlay_figure(histories), overlay_png)
    best = best_variation(params, read_metrics(params, metrics_dir))
    predictions = pd.read_csv(plots_dir / best / "predictions.csv", dtype={"filename": str})
    items = gallery_items(predictions, _index(index), np.load(images, mmap_mode="r"))
    title = f"Predictions of {best} (best by {params.compare.best_by}) on test photos"
    save_figure(gallery_figure(items, title), gallery_png)
    return best
