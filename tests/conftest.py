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
