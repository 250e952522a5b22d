"""Stage `compare`: one table of every variation (means over seeds), with its difference
to the variation it builds on and whether that difference is real (a paired t-test over
seeds, given at least three; McNemar per seed on the trained models beside it:
stages/reporting/paired.py), the study's reported figures beside ours, and the best
variation by `compare.best_by` where the evidence over seeds supports naming one.
Written as Markdown (metrics/compare.md), an HTML twin, and JSON for machines
(metrics/compare.json)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stages.core.atomic import write_json, write_text
from stages.core.config import Params
from stages.core.errors import CatdogError
from stages.core.runs import run_paths
from stages.reporting.epochs import EpochsVerdict, epochs_verdicts
from stages.reporting.paired import (
    BETTER,
    MIN_SEEDS_FOR_VERDICT,
    WORSE,
    PairedComparison,
    Verdicts,
    compare_runs,
    seed_test,
)
from stages.reporting.study import STUDY, STUDY_BEST, StudyFigures
from stages.reporting.summarize import variation_summary

COLUMNS = (
    "variation",
    "builds on",
    "accuracy",
    "sd",
    "Δ accuracy",
    "95% CI",
    "p",
    "verdict",
    "models: McNemar p",
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
LEFT_ALIGNED = {
    "variation",
    "builds on",
    "verdict",
    "models: McNemar p",
    "study: accuracy",
    "study: loss",
    "study: time",
}
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


def _interval(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"[{interval[0]:+.4f}, {interval[1]:+.4f}]"


def _p_value(p_value: float | None) -> str:
    if p_value is None:
        return "-"
    return "<0.0001" if p_value < 1e-4 else f"{p_value:.4f}"


def _p_values(p_values: list[float]) -> str:
    return ", ".join(_p_value(p) for p in p_values)


def comparison_rows(
    params: Params, metrics: dict[str, dict], pairs: dict[str, PairedComparison]
) -> list[list[str]]:
    """One row per variation, in params.yaml's order (the study's); `pairs` holds each
    variation's paired comparison with the one it builds on."""
    rows = []
    for name, variation in params.variations.items():
        mine = metrics[name]
        parent = metrics.get(variation.builds_on) if variation.builds_on else None
        pair = pairs.get(name)
        study = STUDY.get(name, StudyFigures("-", "-"))
        rows.append(
            [
                name,
                variation.builds_on or "-",
                _number(mine["accuracy"]),
                _number(mine["sd"].get("accuracy")),
                "-" if pair is None else f"{pair.accuracy.difference:+.4f}",
                "-" if pair is None else _interval(pair.accuracy.interval),
                "-" if pair is None else _p_value(pair.accuracy.p_value),
                "-" if pair is None else pair.accuracy.verdict,
                "-" if pair is None else _p_values(pair.mcnemar),
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
    """What the stage reads: `<runs>/<variation>/<seed>/`, each run's metrics (summed up
    over seeds as summarize@<variation> sums them) and its verdict per photo; and how many
    synthetic photos the runs trained on (None: real photos)."""

    runs: Path
    synthetic_photos: int | None = None


@dataclass(frozen=True)
class CompareOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    markdown: Path
    html: Path
    json: Path


def read_results(params: Params, inputs: CompareInputs) -> dict[str, dict]:
    """Every variation's summary over seeds, by name, from its runs."""
    seeds = params.train.seeds
    return {name: variation_summary(inputs.runs, name, seeds) for name in params.variations}


def read_verdicts(params: Params, runs: Path) -> dict[str, list[Verdicts]]:
    """Every variation's per-photo verdicts, one entry per seed in train.seeds' order."""
    verdicts: dict[str, list[Verdicts]] = {}
    for name in params.variations:
        verdicts[name] = []
        for seed in params.train.seeds:
            path = run_paths(runs, name, seed).predictions
            if not path.is_file():
                raise CatdogError(f"{path}: missing; run `dvc repro evaluate@{name}-{seed}` first")
            verdicts[name].append(Verdicts.of(pd.read_csv(path, dtype={"filename": str})))
    return verdicts


def parent_comparisons(
    params: Params, verdicts: dict[str, list[Verdicts]]
) -> dict[str, PairedComparison]:
    """Each variation that builds on another, against it."""
    return {
        name: compare_runs(verdicts[name], verdicts[variation.builds_on])
        for name, variation in params.variations.items()
        if variation.builds_on is not None
    }


@dataclass(frozen=True)
class BestVerdict:
    """The variation with the best mean `compare.best_by`, and whether the evidence over
    `seeds` seeds puts it ahead of each other variation."""

    name: str
    metric: str
    value: float
    seeds: int
    evidence: dict[str, bool]  # other variation -> is the best significantly ahead of it

    @property
    def supported(self) -> bool:
        return self.seeds >= MIN_SEEDS_FOR_VERDICT and all(self.evidence.values())


def ahead_by_seeds(metric: str, best: dict, other: dict) -> bool:
    """Whether `best` beats `other` on `metric` by the paired t-test over seeds (at
    least MIN_SEEDS_FOR_VERDICT seeds)."""
    seeds = list(best["per_seed"])
    mine = [best["per_seed"][seed][metric] for seed in seeds]
    theirs = [other["per_seed"][seed][metric] for seed in seeds]
    if None in mine or None in theirs:
        return False
    span = float("inf") if metric in LOWER_IS_BETTER else 1.0
    ahead = WORSE if metric in LOWER_IS_BETTER else BETTER
    return seed_test(mine, theirs, span).verdict == ahead


def judge_best(params: Params, metrics: dict[str, dict]) -> BestVerdict:
    """Name the best by compare.best_by, and test it against every other variation over
    seeds."""
    metric = params.compare.best_by
    best = best_variation(params, metrics)
    evidence = {
        other: ahead_by_seeds(metric, metrics[best], metrics[other])
        for other in params.variations
        if other != best
    }
    return BestVerdict(best, metric, metrics[best][metric], len(params.train.seeds), evidence)


INTRO = (
    "Test-split metrics, each the mean over the seeds in `train.seeds` (dog is the positive "
    "class for precision, recall and ROC AUC); *sd* is accuracy's standard deviation over "
    "seeds. Each Δ is against the variation in *builds on*, on the same test photos and "
    "seeds. *95% CI* and *p*: a paired t-test on the per-seed accuracy differences (two "
    "seeds or more; the interval cut to [-1, 1]). *verdict*: better or worse where p < 0.05, "
    f"otherwise no significant difference; with fewer than {MIN_SEEDS_FOR_VERDICT} seeds, "
    "none. *models: McNemar p*: McNemar's exact test on each seed's two trained models, "
    "photo by photo, one p per seed: a statement about those two models, not about the "
    "variations, since seed-to-seed variance never enters it. Columns marked *study:* are "
    "the original study's reported figures (50 epochs on Microsoft's 25,000 photos, read "
    "off its Figs. 4-13), not ours; `-` where it gives none."
)


def seeds_sentence(seeds: int) -> str:
    """Why there is no better/worse verdict (empty when there are seeds enough)."""
    if seeds >= MIN_SEEDS_FOR_VERDICT:
        return ""
    return (
        f"No variation is judged better or worse: `train.seeds` has {seeds} seed"
        f"{'' if seeds == 1 else 's'}, and a verdict about a variation needs its spread "
        f"over at least {MIN_SEEDS_FOR_VERDICT} (McNemar's p, per seed, speaks only of the "
        "two trained models)."
    )


def best_sentence(best: BestVerdict) -> str:
    """Names the best variation where the evidence supports it, says why not otherwise;
    then the study's own choice."""
    named = f"{METRIC_NAMES[best.metric]} (`compare.best_by: {best.metric}` in params.yaml)"
    test = f"paired t over {best.seeds} seeds at p < 0.05"
    if best.seeds < MIN_SEEDS_FOR_VERDICT:
        verdict = (
            f"Highest {named}: {best.name} ({_number(best.value)}); with fewer than "
            f"{MIN_SEEDS_FOR_VERDICT} seeds no variation is named best."
        )
    elif best.supported:
        verdict = (
            f"Best by {named}: {best.name} ({_number(best.value)}), ahead of every other "
            f"variation with evidence ({test})."
        )
    else:
        unseparated = ", ".join(name for name, ahead in best.evidence.items() if not ahead)
        verdict = (
            f"Highest {named}: {best.name} ({_number(best.value)}), but the evidence does "
            f"not separate it from {unseparated} ({test}): no variation is named best."
        )
    return f"{verdict} The study chose {STUDY_BEST} (highest accuracy, lowest loss)."


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


def machine_report(
    params: Params,
    best: BestVerdict,
    pairs: dict[str, PairedComparison],
    epochs: list[EpochsVerdict],
) -> dict[str, object]:
    """What machines read (metrics/compare.json): the best variation and whether the
    evidence supports it, every variation against the one it builds on, and whether the
    study's epochs were short, enough, too many, not settled, or capped by v6's maximum."""
    return {
        "best_by": best.metric,
        "best": best.name,
        "best_value": best.value,
        "best_is_supported": best.supported,
        "seeds": params.train.seeds,
        "min_seeds_for_verdict": MIN_SEEDS_FOR_VERDICT,
        "pairs": [
            {
                "variation": name,
                "builds_on": params.variations[name].builds_on,
                "metric": "accuracy",
                **pair.as_json(),
            }
            for name, pair in pairs.items()
        ],
        "epochs": [verdict.as_json() for verdict in epochs],
    }


def heading(params: Params, synthetic_photos: int | None) -> str:
    """The report's first line. On synthetic photos it says that the run is a smoke test of
    the machinery, not a result about cats and dogs."""
    if synthetic_photos is None:
        return "# Variations compared"
    epochs = sorted({variation.epochs for variation in params.variations.values()})
    span = f"{epochs[0]}" if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"
    return (
        f"# Variations compared: a smoke test, not a result ({synthetic_photos:,} synthetic "
        f"photos at {params.image.height}x{params.image.width}, {span} epochs)"
    )


def compare(params: Params, inputs: CompareInputs, outputs: CompareOutputs) -> str:
    """Build the report, write it as Markdown, HTML and JSON, and return the Markdown."""
    results = read_results(params, inputs)
    verdicts = read_verdicts(params, inputs.runs)
    pairs = parent_comparisons(params, verdicts)
    best = judge_best(params, results)
    rows = comparison_rows(params, results, pairs)
    epochs = epochs_verdicts(params, results, inputs.runs)
    sentences = [seeds_sentence(best.seeds), best_sentence(best)]
    sentence = " ".join([*filter(None, sentences), *(verdict.sentence() for verdict in epochs)])
    title = heading(params, inputs.synthetic_photos)
    report = f"{title}\n\n{INTRO}\n\n{markdown_table(rows)}\n{sentence}\n"
    write_json(outputs.json, machine_report(params, best, pairs, epochs))
    write_text(outputs.html, html_report(rows, INTRO, sentence))
    write_text(outputs.markdown, report)
    return report
