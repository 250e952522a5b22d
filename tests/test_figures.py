"""The figures (stages.reporting.figures) and the comparison report
(stages.reporting.compare), on small in-memory inputs: each draws, saves a deterministic
PNG, and says what it should."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stages.core.config import load_params
from stages.reporting import figures
from stages.reporting.compare import (
    CompareInputs,
    CompareOutputs,
    best_variation,
    compare,
    heading,
)
from stages.reporting.evaluate import predictions_table, roc_table
from stages.reporting.plot import gallery_items
from tests.support.fakes import FakeStudy, write_fake_study


def _history(epochs: int = 4, offset: float = 0.0) -> pd.DataFrame:
    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame(
        {
            "epoch": epoch,
            "accuracy": 0.5 + 0.08 * epoch + offset,
            "loss": 0.7 - 0.1 * epoch,
            "val_accuracy": 0.55 + 0.07 * epoch + offset,
            "val_loss": 0.65 - 0.09 * epoch,
        }
    )


def _photos(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(count, 24, 24, 3), dtype=np.uint8)


def _index(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "filename": [f"PetImages/{'Cat' if i % 2 else 'Dog'}/{i}.jpg" for i in range(count)],
            "category": ["cat" if i % 2 else "dog" for i in range(count)],
            "row": range(count),
        }
    )


def _saved(figure, path: Path) -> Image.Image:
    figures.save_figure(figure, path)
    image = Image.open(path)
    assert image.format == "PNG"
    assert "Software" not in image.info  # no matplotlib version in the bytes
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, "a blank figure"
    return image


def test_every_figure_draws_and_saves_identical_bytes_twice(tmp_path) -> None:
    index = _index(12)
    rejected = pd.DataFrame(
        {
            "filename": ["PetImages/Cat/666.jpg", "train/dog.7.jpg"],
            "category": ["cat", "dog"],
            "reason": ["empty", "x"],
        }
    )
    drawn = {
        "counts": figures.class_counts_figure(index, rejected),
        "samples": figures.samples_figure(_photos(12), index, per_class=2),
        "curves": figures.curves_figure(_history(), "v4"),
        "overlay": figures.overlay_figure({"base": _history(), "v1": _history(offset=0.05)}),
        "confusion": figures.confusion_figure({"tn": 40, "fp": 10, "fn": 5, "tp": 45}, "v4"),
        "roc": figures.roc_figure([0, 0.1, 1], [0, 0.8, 1], 0.9, "v4"),
        "gallery": figures.gallery_figure(
            [
                figures.Labelled(_photos(1)[0], "a.jpg", "cat", 0.9686, truth="cat"),
                figures.Labelled(_photos(1)[0], "b.jpg", "dog", 0.9009, truth="cat"),
                figures.Labelled(_photos(1)[0], "", "dog", 0.51),
            ],
            "Fig. 14",
        ),
    }
    for name, figure in drawn.items():
        first, second = tmp_path / f"{name}.png", tmp_path / f"{name}-again.png"
        _saved(figure, first)
        figures.save_figure(figure, second)
        assert first.read_bytes() == second.read_bytes(), name
    assert not list(tmp_path.glob(".*tmp*")), "atomic save left a temporary file"


def test_class_counts_reads_the_class_of_rejected_files_from_decode() -> None:
    rejected = pd.DataFrame(
        {
            "filename": ["PetImages/Cat/666.jpg", "PetImages/Cat/Thumbs.db"],
            "category": ["cat", None],  # a member that is not a photo has no class
            "reason": ["empty", "not a photo"],
        }
    )
    figure = figures.class_counts_figure(_index(10), rejected)
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["6", "5", "5", "5"]  # cats 5 + 1 rejected, dogs 5; kept 5 and 5
    assert figure.axes[0].get_title() == "Class counts: 10 kept, 1 rejected"


def test_sample_rows_are_stable_and_balanced() -> None:
    chosen = figures.sample_rows(_index(20).sample(frac=1, random_state=3), per_class=3)
    assert list(chosen["category"]) == ["cat"] * 3 + ["dog"] * 3
    assert list(chosen["filename"])[:3] == sorted(chosen["filename"][:3])


def test_predictions_and_roc_tables_feed_dvcs_templates() -> None:
    labels = np.array([0, 0, 1, 1], dtype=np.float32)
    dog = np.array([0.1, 0.7, 0.4, 0.9], dtype=np.float32)
    table = predictions_table(["a", "b", "c", "d"], labels, dog)
    assert list(table.columns) == ["filename", "actual", "predicted", "dog_probability"]
    assert list(table["actual"]) == ["cat", "cat", "dog", "dog"]
    assert list(table["predicted"]) == ["cat", "dog", "cat", "dog"]
    roc = roc_table(labels, dog)
    assert list(roc.columns) == ["fpr", "tpr"]
    assert (roc.iloc[0]["fpr"], roc.iloc[-1]["tpr"]) == (0.0, 1.0)
    assert roc_table(np.zeros(3), dog[:3]).empty


def test_gallery_shows_the_most_confident_mistakes_beside_right_verdicts() -> None:
    index = _index(12)
    cats = index["category"] == "cat"
    # Every photo called a dog, the later files more surely: cats are all mistakes.
    dog = 0.6 + 0.03 * np.arange(12)
    predictions = pd.DataFrame(
        {
            "filename": index["filename"],
            "actual": index["category"],
            "predicted": "dog",
            "dog_probability": dog,
        }
    )
    predictions.loc[cats & (predictions.index < 4), ["predicted", "dog_probability"]] = [
        "cat",
        0.1,
    ]
    items = gallery_items(predictions, index, _photos(12))
    assert [item.truth for item in items] == ["cat"] * 4 + ["dog"] * 4
    cat_items, dog_items = items[:4], items[4:]
    # Two mistakes (the most confident first), then the right verdicts.
    assert [item.label for item in cat_items] == ["dog", "dog", "cat", "cat"]
    assert cat_items[0].confidence >= cat_items[1].confidence
    wrong_cats = predictions[cats & (predictions["predicted"] == "dog")]
    assert cat_items[0].confidence == pytest.approx(wrong_cats["dog_probability"].max())
    # No dog is wrong: four right verdicts, the most confident first.
    assert {item.label for item in dog_items} == {"dog"}
    confidences = [item.confidence for item in dog_items]
    assert confidences == sorted(confidences, reverse=True)


def test_a_photo_without_truth_is_neither_right_nor_wrong() -> None:
    figure = figures.gallery_figure([figures.Labelled(_photos(1)[0], "x.jpg", "dog", 0.9)], "t")
    (text,) = figure.axes[0].texts
    assert text.get_color() == figures.UNKNOWN_COLOR


ACCURACY = {  # per seed (1, 2, 3)
    "base": [0.80, 0.80, 0.80],
    "v1": [0.82, 0.84, 0.83],
    "v2": [0.86, 0.88, 0.87],
    "v3": [0.85, 0.87, 0.88],
    "v4": [0.91, 0.93, 0.91],
    "v5": [0.84, 0.84, 0.85],
    "v6": [0.80, 0.80, 0.81],
    "v7": [0.81, 0.81, 0.81],
}
SEEDS = [1, 2, 3]
LOSS = {
    **{"base": 0.50, "v1": 0.45, "v2": 0.30, "v3": 0.31, "v4": 0.26, "v5": 0.20},
    **{"v6": 0.35, "v7": 0.32},
}


@pytest.fixture
def study(tmp_path) -> FakeStudy:
    """Three seeds of every variation, summarised by the real summarize stage."""
    return write_fake_study(tmp_path, ACCURACY, LOSS, SEEDS)


def with_seeds(params, seeds: list[int]):
    return params.model_copy(update={"train": params.train.model_copy(update={"seeds": seeds})})


@pytest.mark.parametrize(("best_by", "best"), [("accuracy", "v4"), ("loss", "v5")])
def test_best_variation_follows_params(repo, study, best_by, best) -> None:
    params = load_params(repo / "params.yaml")
    params = params.model_copy(
        update={"compare": params.compare.model_copy(update={"best_by": best_by})}
    )
    metrics = {name: json.loads((study.metrics / f"{name}.json").read_text()) for name in LOSS}
    assert best_variation(params, metrics) == best


def report_of(params, study: FakeStudy) -> tuple[str, dict]:
    """The comparison report, and its JSON twin."""
    folder = study.metrics
    outputs = CompareOutputs(folder / "c.md", folder / "c.html", folder / "c.json")
    return compare(params, CompareInputs(study.runs), outputs), json.loads(outputs.json.read_text())


def test_report_tests_each_difference_and_has_html_and_json_twins(repo, study) -> None:
    params = with_seeds(load_params(repo / "params.yaml"), SEEDS)
    report, verdict = report_of(params, study)
    rows = [line for line in report.splitlines() if re.match(r"\| (base|v\d) ", line)]
    assert [row.split("|")[1].strip() for row in rows] == list(ACCURACY)
    header = next(line for line in report.splitlines() if line.startswith("| variation"))
    assert "study: accuracy" in header and "Δ AUC" in header and "verdict" in header
    assert "| verdict | models: McNemar p |" in header
    # v4 - v2 per seed: 0.05, 0.05, 0.04, clearly apart: t = 14 on 2 dof, p = 0.0051. Yet
    # McNemar on each seed's two models (5, 5 and 4 photos one way) finds nothing.
    assert rows[4].startswith(
        "| v4 | v2 | 0.9167 | 0.0115 | +0.0467 | [+0.0323, +0.0610] | 0.0051 | better | "
        "0.0625, 0.0625, 0.1250 | 0.2600 |"
    )
    # v5 - v4: -0.07, -0.09, -0.06; v3 - v2: -0.01, -0.01, +0.01 overlap: t = -0.5, p = 2/3.
    assert (
        "| v5 | v4 | 0.8433 | 0.0058 | -0.0733 | [-0.1113, -0.0354] | 0.0142 | worse |" in (rows[5])
    )
    assert (
        "| v3 | v2 | 0.8667 | 0.0153 | -0.0033 | [-0.0320, +0.0254] | 0.6667 | "
        "no significant difference | 1.0000, 1.0000, 1.0000 |" in rows[3]
    )
    assert "| >0.90 | <0.25 | 1.69 h |" in rows[4]
    assert "| ≈0.80 | ≈0.50 | - |" in rows[0]
    assert (
        "Best by test accuracy (`compare.best_by: accuracy` in params.yaml): v4 (0.9167), "
        "ahead of every other variation with evidence (paired t over 3 seeds at p < 0.05)."
        in report
    )
    assert "No variation is judged" not in report
    assert (verdict["best"], verdict["best_is_supported"], verdict["seeds"]) == ("v4", True, SEEDS)
    pairs = {pair["variation"]: pair for pair in verdict["pairs"]}
    assert set(pairs) == {"v1", "v2", "v3", "v4", "v5", "v6", "v7"}
    assert pairs["v4"]["p_value"] == pytest.approx(1 - 196**0.5 / 198**0.5)
    assert (pairs["v4"]["test"], pairs["v4"]["seeds"]) == ("paired t over seeds", 3)
    assert pairs["v4"]["models"] == {
        "mcnemar_p": [2 / 2**5, 2 / 2**5, 2 / 2**4],
        "discordant": [[5, 0], [5, 0], [4, 0]],
    }
    # The fake v6 was best at epoch 1 and stopped at 2 (conftest.FAKE_CONVERGENCE), while
    # v4's fake curve is lowest at its last epoch (2): the two disagree.
    assert (
        "Epochs: v6 (v4 with early stopping, at most 200 epochs) was best at epoch 1 and "
        "stopped at 2, and v4's validation loss was still at its lowest on its last epoch "
        "(2): the study's 50 epochs were not settled." in report
    )
    (epochs,) = verdict["epochs"]
    assert (epochs["variation"], epochs["builds_on"], epochs["verdict"]) == (
        "v6",
        "v4",
        "not settled",
    )
    assert (epochs["capped_seeds"], epochs["seeds"]) == (0, 3)
    assert pairs["v3"]["verdict"] == "no significant difference"
    assert pairs["v5"]["verdict"] == "worse"
    page = (study.metrics / "c.html").read_text()
    assert page.count("<tr>") == 9 and "&gt;0.90" in page and "<script" not in page


def test_one_seed_gives_no_verdict_and_says_why(repo, tmp_path) -> None:
    """The demo's case: one seed, where McNemar finds the two trained models apart
    (v6 and v7 against v4: 11 and 10 photos one way, p = 0.0010 and 0.0020)."""
    one_seed = {name: values[:1] for name, values in ACCURACY.items()}
    report, verdict = report_of(
        load_params(repo / "params.yaml"), write_fake_study(tmp_path, one_seed, LOSS, [42])
    )
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if "| v4 |" in line}
    assert "| v6 | v4 | 0.8000 | - | -0.1100 | - | - | too few seeds | 0.0010 |" in rows["v6"]
    assert (
        "No variation is judged better or worse: `train.seeds` has 1 seed, and a verdict "
        "about a variation needs its spread over at least 3 (McNemar's p, per seed, speaks "
        "only of the two trained models)." in report
    )
    assert (
        "Highest test accuracy (`compare.best_by: accuracy` in params.yaml): v4 (0.9100); "
        "with fewer than 3 seeds no variation is named best." in report
    )
    assert verdict["best_is_supported"] is False and verdict["min_seeds_for_verdict"] == 3
    assert {pair["verdict"] for pair in verdict["pairs"]} == {"too few seeds"}
    assert {pair["p_value"] for pair in verdict["pairs"]} == {None}


def test_two_seeds_are_still_too_few(repo, tmp_path) -> None:
    two_seeds = {name: values[:2] for name, values in ACCURACY.items()}
    inputs = write_fake_study(tmp_path, two_seeds, LOSS, [1, 2])
    report, verdict = report_of(with_seeds(load_params(repo / "params.yaml"), [1, 2]), inputs)
    assert "`train.seeds` has 2 seeds, and a verdict" in report
    assert {pair["verdict"] for pair in verdict["pairs"]} == {"too few seeds"}
    assert verdict["best_is_supported"] is False


def test_three_seeds_that_overlap_name_no_best(repo, tmp_path) -> None:
    """v4 is highest on average, but v3 beats it on one seed: no significant difference."""
    close = {**ACCURACY, "v3": [0.92, 0.90, 0.90]}
    inputs = write_fake_study(tmp_path, close, LOSS, SEEDS)
    report, verdict = report_of(with_seeds(load_params(repo / "params.yaml"), SEEDS), inputs)
    assert (
        "Highest test accuracy (`compare.best_by: accuracy` in params.yaml): v4 (0.9167), but "
        "the evidence does not separate it from v3 (paired t over 3 seeds at p < 0.05): no "
        "variation is named best." in report
    )
    assert verdict["best_is_supported"] is False


def test_v6_at_its_maximum_is_reported_as_capped_not_as_stopped(repo, tmp_path) -> None:
    """v6 trained 2 epochs, its maximum, with patience 10 left: it never stopped early."""
    params = with_seeds(load_params(repo / "params.yaml"), SEEDS)
    v6 = params.variations["v6"].model_copy(update={"epochs": 2})
    params = params.model_copy(update={"variations": {**params.variations, "v6": v6}})
    report, verdict = report_of(params, write_fake_study(tmp_path, ACCURACY, LOSS, SEEDS))
    assert (
        "Epochs: v6 (v4 with early stopping, at most 2 epochs) was best at epoch 1 and "
        "reached its maximum of 2 epochs without stopping, and v4's validation loss was "
        "still at its lowest on its last epoch (2): raise variations.v6.epochs to settle the "
        "study's 50 epochs." in report
    )
    assert "not settled" not in report
    (epochs,) = verdict["epochs"]
    assert (epochs["verdict"], epochs["capped_seeds"]) == ("capped", 3)


@pytest.mark.parametrize("held_out", ["test", "validation"])
def test_the_overlay_names_the_photos_its_curves_were_measured_on(held_out) -> None:
    figure = figures.overlay_figure({"base": _history(), "v1": _history(offset=0.05)}, held_out)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == [f"{held_out} accuracy, all variations", f"{held_out} loss, all variations"]


def test_a_report_on_synthetic_photos_says_it_is_a_smoke_test_first(repo) -> None:
    params = load_params(repo / "params.yaml")
    assert heading(params, None) == "# Variations compared"
    assert heading(params, 2000) == (
        "# Variations compared: a smoke test, not a result (2,000 synthetic photos at "
        "120x120, 10-200 epochs)"
    )
