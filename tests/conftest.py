"""Shared fixtures: small synthetic archives and their decoded caches, made once per session.
Helpers live in tests/support/ (import them from there, never from here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stages.ingest.source import Synthetic, read_manifest
from tests.support.prepared import SMALLEST_SIDE, Prepared, decode_and_split, drawn_archive
from tests.support.workspace import REPO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# dvclive (training's per-epoch log) posts to Studio when a token is configured: never
# from the tests, nor from the processes they start.
os.environ["DVC_STUDIO_OFFLINE"] = "1"
# Nothing in the suite touches the network: a backbone's ImageNet weights are refused
# (stages/training/backbone.py), here and in the stages the pipeline tests run.
os.environ["CATDOG_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where params.yaml and dvc.yaml live)."""
    return REPO


@pytest.fixture(scope="session")
def microsoft_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Microsoft's layout."""
    return drawn_archive(tmp_path_factory.mktemp("microsoft"), "photos.zip")


@pytest.fixture(scope="session")
def kaggle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic archive in Kaggle's nested layout."""
    return drawn_archive(tmp_path_factory.mktemp("kaggle"), "dogs-vs-cats.zip", layout="kaggle")


@pytest.fixture(scope="session")
def synthetic_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default synthetic set, as sources/synthetic.yaml draws it (2,000 photos)."""
    manifest = read_manifest(REPO / "sources" / "synthetic.yaml")
    assert isinstance(manifest, Synthetic)
    scratch = tmp_path_factory.mktemp("synthetic")
    return drawn_archive(scratch, "photos.zip", manifest.count, manifest.layout, manifest.seed)


# The decoded sets below are shared by every test that asks for one: tests read them and
# write their outputs elsewhere (tmp_path).


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory: pytest.TempPathFactory, microsoft_zip: Path) -> Prepared:
    """The small Microsoft-layout archive decoded at 120x120 and split 80/20 (seed 42)."""
    return decode_and_split(microsoft_zip, tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="session")
def small_prepared_66(tmp_path_factory: pytest.TempPathFactory, microsoft_zip: Path) -> Prepared:
    """The small archive decoded at 66x66 (SMALLEST_SIDE) and split 80/20 (seed 42):
    152 training and 38 test photos, for tests that train without needing it to learn."""
    return decode_and_split(microsoft_zip, tmp_path_factory.mktemp("prepared66"), SMALLEST_SIDE)
