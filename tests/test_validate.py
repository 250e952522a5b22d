"""`catdog validate`: what the validate stages refuse before DVC deletes anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner
from workspace_copy import edit_params
from workspace_copy import set_param as _set

from stages.cli import app
from stages.core.config import load_params
from stages.core.errors import ConfigError
from stages.ingest import validate
from stages.ingest.source import pipeline_outputs

runner = CliRunner()


@pytest.fixture
def project(tmp_path, repo, monkeypatch) -> Path:
    """A folder with the project's dvc.yaml and params.yaml, as the working directory."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(repo / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate_with_source(project: Path, archive: Path, source: str):
    target = project / source
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy(archive, target)
    edit_params(project, _set("data.source", source))
    return runner.invoke(app, ["validate", "--out", "data/validated/params.ok"])


def test_outputs_come_from_dvc_yaml_for_every_variation(repo) -> None:
    outputs = set(pipeline_outputs(repo / "dvc.yaml", ["base", "v4"]))
    assert {"data/raw/photos.zip", "data/cache/images.npy", "data/rejected.csv"} <= outputs
    assert {"models/v4", "runs/base", "plots/base/history.csv", "metrics/compare.md"} <= outputs
    assert "plots/v1/roc.png" not in outputs and not any("${" in out for out in outputs)


@pytest.mark.parametrize(
    "source",
    [
        "data/raw/photos.zip",
        "data/cache/mine.zip",
        "data/split/mine.zip",
        "models/mine.zip",
        "metrics/mine.zip",
        "plots/v4/mine.zip",
        "data/validated/mine.zip",
        "./data/raw/../raw/photos.zip",
    ],
)
def test_an_archive_among_the_outputs_is_refused_and_kept(project, microsoft_zip, source) -> None:
    result = validate_with_source(project, microsoft_zip, source)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: data.source: {source} is inside the pipeline's")
    assert (project / source).is_file()
    assert not (project / "data/validated/params.ok").exists()


def test_a_symlink_into_the_outputs_is_refused(project, microsoft_zip) -> None:
    (project / "data/raw").mkdir(parents=True)
    shutil.copy(microsoft_zip, project / "data/raw/photos.zip")
    (project / "mine.zip").symlink_to(project / "data/raw/photos.zip")
    result = validate_with_source(project, microsoft_zip, "mine.zip")
    assert result.exit_code == 1 and "(data/raw/photos.zip)" in result.stderr


@pytest.mark.parametrize("source", ["data/mine.zip", "mine.zip", "archives/photos.zip"])
def test_an_archive_beside_the_outputs_is_accepted(project, microsoft_zip, source) -> None:
    result = validate_with_source(project, microsoft_zip, source)
    assert result.exit_code == 0, result.output
    assert (project / "data/validated/params.ok").is_file()


def test_a_missing_backbone_weights_file_is_refused_before_training(repo, tmp_path) -> None:
    params = load_params(repo / "params.yaml")
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    local = v7.backbone.model_copy(update={"weights": str(tmp_path / "gone.h5")})
    v7 = v7.model_copy(update={"backbone": local})
    params = params.model_copy(update={"variations": {**params.variations, "v7": v7}})
    with pytest.raises(
        ConfigError, match=r"variations\.v7\.backbone\.weights: .*gone\.h5: no such"
    ):
        validate.run(params, tmp_path / "v7.ok")
    assert not (tmp_path / "v7.ok").exists()
    (tmp_path / "gone.h5").write_bytes(b"")
    validate.run(params, tmp_path / "v7.ok")
