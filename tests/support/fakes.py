"""A study's outputs without training: run folders as train and evaluate leave them, the
real summarize stage over them, and a decode cache of the photos they predicted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.core.dataset import CachePaths
from stages.core.runs import curve_file
from stages.reporting.summarize import SummarizeInputs, SummarizeOutputs, summarize

PHOTOS = 100
# The fake early-stopped variation's best and last epoch (a fake history has 2 epochs).
FAKE_CONVERGENCE = {"v6": {"best_epoch": 1, "stopped_epoch": 2}}


def write_fake_run(
    run: Path, accuracy: float, loss: float = 0.3, seed: int = 42, convergence: dict | None = None
) -> None:
    """A run folder as train and evaluate leave it, on PHOTOS test photos of which the first
    `accuracy * PHOTOS` are labelled right (so two runs disagree on a known set)."""
    run.mkdir(parents=True, exist_ok=True)
    right = round(accuracy * PHOTOS)
    actual = ["cat" if i % 2 == 0 else "dog" for i in range(PHOTOS)]
    flipped = {"cat": "dog", "dog": "cat"}
    predicted = [a if i < right else flipped[a] for i, a in enumerate(actual)]
    rows = ["filename,actual,predicted,dog_probability"]
    rows += [
        f"p{i:03}.jpg,{a},{p},{0.9 if p == 'dog' else 0.1}"
        for i, (a, p) in enumerate(zip(actual, predicted, strict=True))
    ]
    (run / "predictions.csv").write_text("\n".join(rows) + "\n")
    (run / "roc.csv").write_text("fpr,tpr\n0.0,0.0\n0.1,0.8\n1.0,1.0\n")
    last = {"accuracy": accuracy, "loss": loss, "val_accuracy": accuracy, "val_loss": loss}
    for curve, value in last.items():  # as dvclive writes them, its step the epoch
        path = curve_file(run / "dvclive", curve)
        path.parent.mkdir(parents=True, exist_ok=True)
        first = 0.7 if "loss" in curve else 0.6
        path.write_text(f"step\t{curve}\n1\t{first}\n2\t{value}\n")
    test = {
        "accuracy": right / PHOTOS,
        "loss": loss,
        "precision": 0.8,
        "recall": 0.7,
        "roc_auc": 0.9,
        "confusion": {"tn": 1, "fp": 1, "fn": 1, "tp": 1},
        "test_images": PHOTOS,
    }
    train = {
        "params": 6930289,
        "train_seconds": 12.5,
        "train_images_per_second": 250.0,
        "steady_train_images_per_second": 300.0,
        "epochs": 2,
        "seed": seed,
        **(convergence or {"best_epoch": None, "stopped_epoch": None}),
    }
    (run / "test.json").write_text(json.dumps(test))
    (run / "train.json").write_text(json.dumps(train))


@dataclass(frozen=True)
class FakeStudy:
    """What write_fake_study leaves: the summaries, the runs and a decode cache of the
    photos the runs predicted."""

    metrics: Path
    runs: Path
    cache: CachePaths


def write_fake_cache(root: Path) -> CachePaths:
    """A decode cache of PHOTOS tiny grey photos named as write_fake_run's predictions."""
    cache = CachePaths(root / "images.npy", root / "index.csv")
    root.mkdir(parents=True, exist_ok=True)
    np.save(cache.images, np.full((PHOTOS, 8, 8, 3), 128, dtype=np.uint8))
    rows = [f"p{i:03}.jpg,{'cat' if i % 2 == 0 else 'dog'},{i}" for i in range(PHOTOS)]
    cache.index.write_text("filename,category,row\n" + "\n".join(rows) + "\n")
    return cache


def write_fake_study(
    root: Path, accuracy: dict[str, list[float]], loss: dict[str, float], seeds: list[int]
) -> FakeStudy:
    """`root/runs/<v>/<seed>/` for each variation and seed (accuracies in seed order), then
    the real summarize stage over them into `root/metrics/<v>.json`, and a decode cache."""
    runs, metrics = root / "runs", root / "metrics"
    for name, values in accuracy.items():
        for seed, value in zip(seeds, values, strict=True):
            convergence = FAKE_CONVERGENCE.get(name)
            write_fake_run(runs / name / str(seed), value, loss[name], seed, convergence)
        outputs = SummarizeOutputs(metrics / f"{name}.json", root / "plots" / name / "history.csv")
        summarize(name, seeds, SummarizeInputs(runs), outputs)
    return FakeStudy(metrics, runs, write_fake_cache(root / "cache"))
