"""Stage `compare`: one table of every variation, with deltas against what it builds on,
the study's reported figures beside ours, and the best variation by `compare.best_by`.
Written as Markdown (metrics/compare.md) and as an HTML twin."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from stages.core.atomic import write_json, write_text
from stages.core.config import Params
from stages.core.errors import CatdogError
from stages.reporting.study import STUDY, STUDY_BEST, StudyFigures

COLUMNS = (
    "variation",
    "builds on",
    "accuracy",
    "Δ accuracy",
    "loss",
    "Δ loss",
    "ROC AUC",
    "Δ AUC",
    "precision",
    "recall",
    "params",
    "train s",
    "img/s",
    "study: accuracy",
    "study: loss",
    "study: time",
)
LEFT_ALIGNED = {"variation", "builds on", "study: accuracy", "study: loss", "study: time"}
LOWER_IS_BETTER = frozenset({"loss"})
METRIC_NAMES = {
    "accuracy": "test accuracy",
    "loss": "test loss",
    "roc_auc": "ROC AUC",
    "precision": "precision",
    "recall": "recall",
}


def _delta(value: float | None, parent: float | None) -> str:
    return "-" if parent is None or value is None else f"{value - parent:+.4f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def comparison_rows(params: Params, metrics: dict[str, dict]) -> list[list[str]]:
    """One row per variation, in params.yaml's order (the study's)."""
    rows = []
    for name, variation in params.variations.items():
        mine = metrics[name]
        parent = metrics.get(variation.builds_on) if variation.builds_on else None
        study = STUDY.get(name, StudyFigures("-", "-"))
        rows.append(
            [
                name,
                variation.builds_on or "-",
                _number(mine["accuracy"]),
                _delta(mine["accuracy"], parent["accuracy"] if parent else None),
                _number(mine["loss"]),
                _delta(mine["loss"], parent["loss"] if parent else None),
                _number(mine["roc_auc"]),
                _delta(mine["roc_auc"], parent["roc_auc"] if parent else None),
                _number(mine["precision"]),
                _number(mine["recall"]),
                f"{mine['params']:,}",
                f"{mine['train_seconds']:.1f}",
                f"{mine['train_images_per_second']:.0f}",
                study.accuracy,
                study.loss,
                study.time,
            ]
        )
    return rows


def best_variation(params: Params, metrics: dict[str, dict]) -> str:
    """The variation with the best `compare.best_by` metric (first in params.yaml on a tie)."""
    metric = params.compare.best_by
    scored = {name: metrics[name][metric] for name in params.variations}
    candidates = {name: value for name, value in scored.items() if value is not None}
    if not candidates:
        raise CatdogError(f"compare.best_by: no variation has a {metric} value")
    sign = 1 if metric in LOWER_IS_BETTER else -1
    return min(candidates, key=lambda name: sign * candidates[name])


def markdown_table(rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table, numbers right-aligned."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join(":---" if c in LEFT_ALIGNED else "---:" for c in COLUMNS) + "|"
    body = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([header, rule, *body]) + "\n"


@dataclass(frozen=True)
class CompareInputs:
    """What the stage reads: `<metrics>/<variation>.json` (evaluate's test metrics) and
    `<summaries>/<variation>.train.json` (train's own metrics: time, parameters)."""

    metrics: Path
    summaries: Path


@dataclass(frozen=True)
class CompareOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    markdown: Path
    html: Path
    json: Path


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise CatdogError(f"{path}: missing; run `dvc repro {stage}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def read_results(params: Params, inputs: CompareInputs) -> dict[str, dict]:
    """Every variation's test metrics merged with its training summary, by name."""
    results = {}
    for name in params.variations:
        metrics = _read_json(inputs.metrics / f"{name}.json", f"evaluate@{name}")
        summary = _read_json(inputs.summaries / f"{name}.train.json", f"train@{name}")
        results[name] = {**summary, **metrics}
    return results


INTRO = (
    "Test-split metrics (dog is the positive class for precision, recall and ROC AUC); "
    "each Δ is against the variation in *builds on*. Columns marked *study:* are the "
    "original study's reported figures (50 epochs on Microsoft's 25,000 photos, read off "
    "its Figs. 4-13), not ours; `-` where it gives none."
)


def best_sentence(params: Params, metrics: dict[str, dict]) -> str:
    """'Best by test accuracy (compare.best_by in params.yaml): v4 (0.9100).' and the
    study's own choice."""
    metric = params.compare.best_by
    best = best_variation(params, metrics)
    return (
        f"Best by {METRIC_NAMES[metric]} (`compare.best_by: {metric}` in params.yaml): "
        f"{best} ({_number(metrics[best][metric])}). The study chose {STUDY_BEST} "
        f"(highest accuracy, lowest loss)."
    )


def html_report(rows: list[list[str]], intro: str, best: str) -> str:
    """The HTML twin of the Markdown report: one standalone page, no scripts."""

    def cells(tag: str, values: list[str] | tuple[str, ...]) -> str:
        return "".join(
            f'<{tag} class="{"left" if column in LEFT_ALIGNED else "num"}">'
            f"{html.escape(value)}</{tag}>"
            for column, value in zip(COLUMNS, values, strict=True)
        )

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Variations compared</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f3f3f3; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.left, th.left {{ text-align: left; }}
</style>
</head>
<body>
<h1>Variations compared</h1>
<p>{html.escape(intro).replace("*", "").replace("`", "")}</p>
<table>
<thead><tr>{cells("th", COLUMNS)}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<p><strong>{html.escape(best).replace("`", "")}</strong></p>
</body>
</html>
"""


def verdict(params: Params, results: dict[str, dict]) -> dict[str, object]:
    """What machines read (metrics/compare.json): the best variation by compare.best_by."""
    metric = params.compare.best_by
    best = best_variation(params, results)
    return {"best_by": metric, "best": best, "best_value": results[best][metric]}


def compare(params: Params, inputs: CompareInputs, outputs: CompareOutputs) -> str:
    """Build the report, write it as Markdown, HTML and JSON, and return the Markdown."""
    results = read_results(params, inputs)
    rows = comparison_rows(params, results)
    best = best_sentence(params, results)
    report = f"# Variations compared\n\n{INTRO}\n\n{markdown_table(rows)}\n{best}\n"
    write_json(outputs.json, verdict(params, results))
    write_text(outputs.html, html_report(rows, INTRO, best))
    write_text(outputs.markdown, report)
    return report
