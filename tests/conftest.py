"""Shared fixtures: small synthetic archives and their decoded caches, made once per session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from stages.core.config import ImageParams, SplitParams
from stages.core.dataset import CachePaths
from stages.ingest import decode, split

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SMALL_COUNT = 200


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where params.yaml and dvc.yaml live)."""
    return REPO


@pytest.fixture(scope="session")
def microsoft_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Microsoft's layout."""
    from stages.ingest.synthetic import write_synthetic_archive

    path = tmp_path_factory.mktemp("microsoft") / "photos.zip"
    write_synthetic_archive(path, SMALL_COUNT, seed=0, layout="microsoft", workers=2)
    return path


@pytest.fixture(scope="session")
def kaggle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Kaggle's nested layout."""
    from stages.ingest.synthetic import write_synthetic_archive

    path = tmp_path_factory.mktemp("kaggle") / "dogs-vs-cats.zip"
    write_synthetic_archive(path, SMALL_COUNT, seed=0, layout="kaggle", workers=2)
    return path


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
        SplitParams(test_size=0.2, seed=seed),
        split.SplitInputs(prepared.cache.index),
        split.SplitOutputs(prepared.train_csv, prepared.test_csv),
    )
    return prepared


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory: pytest.TempPathFactory, microsoft_zip: Path) -> Prepared:
    """The small Microsoft-layout archive decoded at 120x120 and split 80/20 (seed 42).
    Shared: tests read it and write their outputs elsewhere."""
    return decode_and_split(microsoft_zip, tmp_path_factory.mktemp("prepared"))
