"""Stage `compare`: one table of every variation, with deltas against what it builds on."""

from __future__ import annotations

import json
from pathlib import Path

from stages.atomic import write_text
from stages.config import Params
from stages.errors import CatdogError

COLUMNS = (
    "variation",
    "builds on",
    "accuracy",
    "Δ accuracy",
    "loss",
    "Δ loss",
    "ROC AUC",
    "precision",
    "recall",
    "params",
    "train s",
    "img/s",
)


def _delta(value: float, parent: float | None) -> str:
    return "-" if parent is None else f"{value - parent:+.4f}"


def comparison_rows(params: Params, metrics: dict[str, dict]) -> list[list[str]]:
    """One row per variation, in params.yaml's order."""
    rows = []
    for name, variation in params.variations.items():
        mine = metrics[name]
        parent = metrics.get(variation.builds_on) if variation.builds_on else None
        rows.append(
            [
                name,
                variation.builds_on or "-",
                f"{mine['accuracy']:.4f}",
                _delta(mine["accuracy"], parent and parent["accuracy"]),
                f"{mine['loss']:.4f}",
                _delta(mine["loss"], parent and parent["loss"]),
                "-" if mine["roc_auc"] is None else f"{mine['roc_auc']:.4f}",
                f"{mine['precision']:.4f}",
                f"{mine['recall']:.4f}",
                f"{mine['params']:,}",
                f"{mine['train_seconds']:.1f}",
                f"{mine['train_images_per_second']:.0f}",
            ]
        )
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table, numbers right-aligned."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join([":---", ":---", *["---:"] * (len(COLUMNS) - 2)]) + "|"
    body = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([header, rule, *body]) + "\n"


def read_metrics(params: Params, metrics_dir: Path) -> dict[str, dict]:
    """metrics/<variation>.json for every variation in params.yaml."""
    metrics = {}
    for name in params.variations:
        path = metrics_dir / f"{name}.json"
        if not path.is_file():
            raise CatdogError(f"{path}: missing; run `dvc repro evaluate@{name}` first")
        metrics[name] = json.loads(path.read_text(encoding="utf-8"))
    return metrics


def compare(params: Params, metrics_dir: Path, output: Path) -> str:
    """Build the table, write it to `output`, and return it."""
    table = markdown_table(comparison_rows(params, read_metrics(params, metrics_dir)))
    report = (
        "# Variations compared\n\n"
        "Test-split metrics (dog is the positive class for precision and recall); "
        "each Δ is against the variation in *builds on*.\n\n" + table
    )
    write_text(output, report)
    return report
