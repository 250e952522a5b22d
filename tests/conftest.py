"""Shared fixtures: small synthetic archives and their decoded caches, made once per session."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stages.core.config import ImageParams, Params, SplitParams
from stages.core.dataset import CachePaths
from stages.core.runs import curve_file
from stages.ingest import decode, split
from stages.reporting.summarize import SummarizeInputs, SummarizeOutputs, summarize

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# dvclive (training's per-epoch log) posts to Studio when a token is configured: never
# from the tests, nor from the processes they start.
os.environ["DVC_STUDIO_OFFLINE"] = "1"
# Nothing in the suite touches the network: a backbone's ImageNet weights are refused
# (stages/training/backbone.py), here and in the stages the pipeline tests run.
os.environ["CATDOG_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SMALL_COUNT = 200


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where params.yaml and dvc.yaml live)."""
    return REPO


def offline(params: Params) -> Params:
    """`params` with every backbone's weights random (`weights: null`): no download."""
    variations = {
        name: variation.model_copy(
            update={"backbone": variation.backbone.model_copy(update={"weights": None})}
        )
        if variation.backbone
        else variation
        for name, variation in params.variations.items()
    }
    return params.model_copy(update={"variations": variations})


# A folder where the small archives are kept between pytest runs (`make mutate` runs the
# tests once per mutant); unset, each session draws its own. The archives are deterministic.
ARCHIVE_CACHE = "CATDOG_TEST_ARCHIVES"


def _small_archive(tmp_path_factory: pytest.TempPathFactory, layout: str, name: str) -> Path:
    from stages.ingest.synthetic import write_synthetic_archive

    cache = os.environ.get(ARCHIVE_CACHE)
    folder = Path(cache) / f"{layout}-{SMALL_COUNT}" if cache else tmp_path_factory.mktemp(layout)
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        drawing = folder / f".{name}.{os.getpid()}.tmp"
        write_synthetic_archive(drawing, SMALL_COUNT, seed=0, layout=layout, workers=2)
        os.replace(drawing, path)
    return path


@pytest.fixture(scope="session")
def microsoft_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Microsoft's layout."""
    return _small_archive(tmp_path_factory, "microsoft", "photos.zip")


@pytest.fixture(scope="session")
def kaggle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Kaggle's nested layout."""
    return _small_archive(tmp_path_factory, "kaggle", "dogs-vs-cats.zip")


@dataclass(frozen=True)
class Prepared:
    """An archive decoded and split, as the decode and split stages leave it."""

    root: Path
    cache: CachePaths
    train_csv: Path
    test_csv: Path


def decode_and_split(archive: Path, root: Path, side: int = 120, seed: int = 42) -> Prepared:
    """Run the decode stage (side x side pixels) and an 80/20 split into `root`."""
    prepared = Prepared(
        root,
        CachePaths(root / "images.npy", root / "index.csv"),
        root / "train.csv",
        root / "test.csv",
    )
    decode.run(
        ImageParams(height=side, width=side),
        decode.DecodeInputs(archive),
        decode.DecodeOutputs(prepared.cache.images, prepared.cache.index, root / "rejected.csv"),
    )
    split.run(
        SplitParams(test_size=0.2, seed=seed, validation="test"),
        split.SplitInputs(prepared.cache.index),
        split.SplitOutputs(prepared.train_csv, prepared.test_csv, root / "validation.csv"),
    )
    return prepared


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory: pytest.TempPathFactory, microsoft_zip: Path) -> Prepared:
    """The small Microsoft-layout archive decoded at 120x120 and split 80/20 (seed 42).
    Shared: tests read it and write their outputs elsewhere."""
    return decode_and_split(microsoft_zip, tmp_path_factory.mktemp("prepared"))


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
