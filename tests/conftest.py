"""Shared fixtures: small synthetic archives and their decoded caches, made once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
