"""The study's figures as matplotlib PNGs: pure functions from data to a Figure, and one
deterministic, atomic save.

Fig. 1 (class counts), Fig. 2 (sample photos), Figs. 4-13 (accuracy and loss per epoch,
train vs test, per variation), all variations overlaid, a confusion matrix and ROC curve
per variation, and Fig. 14 (photos with the predicted label and confidence).
Figures are built with `matplotlib.figure.Figure` (no pyplot, no global state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stages.core.atomic import atomic_path
from stages.core.dataset import CLASS_NAMES

# 300 dpi: fit for print in a paper.
DPI = 300
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#ff7f0e"
RIGHT_COLOR, WRONG_COLOR = "#1a7f37", "#cf222e"
# A photo whose truth is not known (`catdog predict`): neither right nor wrong.
UNKNOWN_COLOR = "black"


def save_figure(figure: Figure, path: Path | str) -> None:
    """Write `figure` as a PNG, atomically and without a timestamp or version in it."""
    with atomic_path(path) as temporary:
        figure.savefig(
            temporary, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight"
        )


def class_counts_figure(index: pd.DataFrame, rejected: pd.DataFrame) -> Figure:
    """Fig. 1: photos per class in the archive, and kept after dropping rejected files
    (members that are not photos, with no class, are not counted)."""
    kept = index["category"].value_counts()
    dropped = rejected["category"].value_counts()
    photos_rejected = int(dropped.sum())
    before = [int(kept.get(c, 0) + dropped.get(c, 0)) for c in CLASS_NAMES]
    after = [int(kept.get(c, 0)) for c in CLASS_NAMES]
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.subplots()
    x = np.arange(len(CLASS_NAMES))
    width = 0.38
    for offset, values, label, color in (
        (-width / 2, before, "in the archive", "#9ecae1"),
        (width / 2, after, "kept (decodes to a picture)", "#3182bd"),
    ):
        bars = axes.bar(x + offset, values, width, label=label, color=color)
        axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2)
    axes.set_xticks(x, [f"{c}s" for c in CLASS_NAMES])
    axes.set_ylabel("photos")
    axes.set_ylim(0, max(before) * 1.3)
    axes.set_title(f"Class counts: {sum(after):,} kept, {photos_rejected:,} rejected")
    axes.legend(loc="upper center", ncols=2, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def photo_grid_figure(
    photos: Sequence[np.ndarray],
    captions: Sequence[str],
    title: str,
    colors: Sequence[str] | None = None,
    columns: int = 4,
) -> Figure:
    """Photos in a grid, each with a caption underneath (optionally coloured)."""
    rows = max(1, math.ceil(len(photos) / columns))
    columns = max(1, min(columns, len(photos)))
    figure = Figure(figsize=(2.6 * columns, 2.9 * rows + 0.5))
    grid = figure.subplots(rows, columns, squeeze=False)
    for position, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if position < len(photos):
            axes.imshow(photos[position])
            color = colors[position] if colors else "black"
            axes.text(
                0.5,
                -0.03,
                captions[position],
                transform=axes.transAxes,
                ha="center",
                va="top",
                fontsize=10,
                color=color,
            )
    figure.suptitle(title, fontsize=12)
    figure.subplots_adjust(hspace=0.55, wspace=0.08)
    return figure


def sample_rows(index: pd.DataFrame, per_class: int) -> pd.DataFrame:
    """The first `per_class` photos of each class, by filename: a stable sample."""
    ordered = index.sort_values("filename", kind="stable")
    return pd.concat(
        [ordered[ordered["category"] == c].head(per_class) for c in CLASS_NAMES]
    ).reset_index(drop=True)


def samples_figure(images: np.ndarray, index: pd.DataFrame, per_class: int = 4) -> Figure:
    """Fig. 2: a labelled grid of sample photos, as the model sees them."""
    chosen = sample_rows(index, per_class)
    photos = [images[row] for row in chosen["row"]]
    captions = [
        f"{category}\n{Path(name).name}"
        for category, name in zip(chosen["category"], chosen["filename"], strict=True)
    ]
    shape = images.shape
    return photo_grid_figure(photos, captions, f"Sample photos ({shape[1]}x{shape[2]} RGB)")


def _band(axes, history: pd.DataFrame, column: str, color: str) -> None:
    """Shade min to max over seeds, where the history has them and they differ."""
    low, high = f"{column}_min", f"{column}_max"
    if low in history and high in history and (history[low] != history[high]).any():
        axes.fill_between(history["epoch"], history[low], history[high], color=color, alpha=0.2)


def curves_figure(history: pd.DataFrame, name: str, held_out: str = "test") -> Figure:
    """Figs. 4-13: accuracy and loss per epoch, train vs the held-out photos (`held_out`:
    test or validation), side by side; the mean over seeds, shaded from min to max."""
    figure = Figure(figsize=(11, 4))
    accuracy, loss = figure.subplots(1, 2)
    for axes, metric in ((accuracy, "accuracy"), (loss, "loss")):
        axes.plot(history["epoch"], history[metric], "o-", color=TRAIN_COLOR, label="train")
        axes.plot(
            history["epoch"], history[f"val_{metric}"], "o-", color=TEST_COLOR, label=held_out
        )
        _band(axes, history, metric, TRAIN_COLOR)
        _band(axes, history, f"val_{metric}", TEST_COLOR)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(metric)
        axes.set_title(f"{name}: {metric}")
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def overlay_figure(histories: Mapping[str, pd.DataFrame], held_out: str = "test") -> Figure:
    """Every variation's accuracy and loss per epoch on the held-out photos (`held_out`:
    test or validation), in one figure."""
    figure = Figure(figsize=(12, 4), layout="constrained")
    accuracy, loss = figure.subplots(1, 2)
    for name, history in histories.items():
        accuracy.plot(history["epoch"], history["val_accuracy"], "o-", label=name, markersize=3)
        loss.plot(history["epoch"], history["val_loss"], "o-", label=name, markersize=3)
    for axes, metric in ((accuracy, "accuracy"), (loss, "loss")):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(f"{held_out} {metric}")
        axes.set_title(f"{held_out} {metric}, all variations")
        axes.grid(alpha=0.3)
    figure.legend(*accuracy.get_legend_handles_labels(), loc="outside right center")
    return figure


def confusion_figure(confusion: Mapping[str, int], name: str) -> Figure:
    """A 2x2 confusion matrix (rows: actual, columns: predicted) with counts and shares."""
    matrix = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    total = max(int(matrix.sum()), 1)
    figure = Figure(figsize=(4.6, 4.2))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
    for (actual, predicted), count in np.ndenumerate(matrix):
        dark = count > matrix.max() / 2
        axes.text(
            predicted,
            actual,
            f"{count:,}\n{count / total:.1%}",
            ha="center",
            va="center",
            color="white" if dark else "black",
            fontsize=12,
        )
    axes.set_xticks([0, 1], CLASS_NAMES)
    axes.set_yticks([0, 1], CLASS_NAMES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    accuracy = (matrix[0, 0] + matrix[1, 1]) / total
    axes.set_title(f"{name}: confusion matrix (accuracy {accuracy:.2%})")
    return figure


def roc_figure(fpr: Sequence[float], tpr: Sequence[float], auc: float | None, name: str) -> Figure:
    """The ROC curve (dog is the positive class), with the chance diagonal."""
    figure = Figure(figsize=(4.6, 4.4))
    axes = figure.subplots()
    label = "ROC" if auc is None else f"ROC (AUC {auc:.4f})"
    axes.plot(fpr, tpr, color=TEST_COLOR, label=label)
    axes.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_aspect("equal")
    axes.set_xlabel("false positive rate (cats called dogs)")
    axes.set_ylabel("true positive rate (dogs found)")
    axes.set_title(f"{name}: ROC curve, test split")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


@dataclass(frozen=True)
class Labelled:
    """One photo of the gallery: what the model said, and (if known) the truth."""

    pixels: np.ndarray
    caption: str
    label: str
    confidence: float
    truth: str | None = None


def gallery_figure(items: Sequence[Labelled], title: str, columns: int = 4) -> Figure:
    """Fig. 14: photos with 'probably a CAT, 96.86%'; green if right, red if wrong, black
    where the truth is not known."""
    captions, colors = [], []
    for item in items:
        line = f"probably a {item.label.upper()}\n{item.confidence:.2%} confidence"
        if item.truth is not None:
            line += f"\n(actually a {item.truth})"
        captions.append(f"{item.caption}\n{line}" if item.caption else line)
        if item.truth is None:
            colors.append(UNKNOWN_COLOR)
        else:
            colors.append(RIGHT_COLOR if item.truth == item.label else WRONG_COLOR)
    return photo_grid_figure(
        [item.pixels for item in items], captions, title, colors=colors, columns=columns
    )
