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
from stages.reporting.compare import CompareInputs, CompareOutputs, best_variation, compare
from stages.reporting.evaluate import predictions_table, roc_table
from stages.reporting.plot import gallery_items


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
        {"filename": ["PetImages/Cat/666.jpg"], "category": ["cat"], "reason": ["empty"]}
    )
    figure = figures.class_counts_figure(_index(10), rejected)
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["6", "5", "5", "5"]  # cats 5 + 1 rejected, dogs 5; kept 5 and 5


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


def metrics_of(accuracy: float, loss: float, auc: float | None = 0.9) -> dict:
    return {
        "accuracy": accuracy,
        "loss": loss,
        "precision": 0.8,
        "recall": 0.7,
        "roc_auc": auc,
        "params": 6930289,
        "train_seconds": 12.5,
        "train_images_per_second": 250.0,
        "confusion": {"tn": 1, "fp": 1, "fn": 1, "tp": 1},
        "epochs": 2,
    }


ACCURACY = {"base": 0.80, "v1": 0.82, "v2": 0.86, "v3": 0.85, "v4": 0.91, "v5": 0.84}
LOSS = {"base": 0.50, "v1": 0.45, "v2": 0.30, "v3": 0.31, "v4": 0.26, "v5": 0.20}


TRAINING_KEYS = ("params", "train_seconds", "train_images_per_second", "epochs")


@pytest.fixture
def metrics_dir(tmp_path) -> Path:
    """evaluate's metrics/<v>.json and train's <v>.train.json, side by side."""
    for name, accuracy in ACCURACY.items():
        results = metrics_of(accuracy, LOSS[name])
        training = {key: results.pop(key) for key in TRAINING_KEYS}
        (tmp_path / f"{name}.json").write_text(json.dumps(results))
        (tmp_path / f"{name}.train.json").write_text(json.dumps(training))
    return tmp_path


@pytest.mark.parametrize(("best_by", "best"), [("accuracy", "v4"), ("loss", "v5")])
def test_best_variation_follows_params(repo, best_by, best) -> None:
    params = load_params(repo / "params.yaml")
    params = params.model_copy(
        update={"compare": params.compare.model_copy(update={"best_by": best_by})}
    )
    metrics = {name: metrics_of(ACCURACY[name], LOSS[name]) for name in ACCURACY}
    assert best_variation(params, metrics) == best


def test_report_quotes_the_study_beside_ours_and_has_an_html_twin(repo, metrics_dir) -> None:
    params = load_params(repo / "params.yaml")
    outputs = CompareOutputs(metrics_dir / "c.md", metrics_dir / "c.html", metrics_dir / "c.json")
    report = compare(params, CompareInputs(metrics_dir, metrics_dir), outputs)
    rows = [line for line in report.splitlines() if re.match(r"\| (base|v\d) ", line)]
    assert [row.split("|")[1].strip() for row in rows] == list(ACCURACY)
    header = report.splitlines()[4]
    assert "study: accuracy" in header and "Δ AUC" in header
    assert rows[4].startswith("| v4 | v2 | 0.9100 | +0.0500 | 0.2600 | -0.0400 | 0.9000 | +0.0000")
    assert "| >0.90 | <0.25 | 1.69 h |" in rows[4]
    assert "| ≈0.80 | ≈0.50 | - |" in rows[0]
    assert (
        "Best by test accuracy (`compare.best_by: accuracy` in params.yaml): v4 (0.9100)" in report
    )
    assert json.loads(outputs.json.read_text()) == {
        "best_by": "accuracy",
        "best": "v4",
        "best_value": 0.91,
    }
    page = (metrics_dir / "c.html").read_text()
    assert page.count("<tr>") == 7 and "&gt;0.90" in page and "<script" not in page
