"""`catdog validate`: what the validate stages refuse before DVC deletes anything."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import h5py
import pytest
from click.testing import Result
from ruamel.yaml import YAML
from typer.testing import CliRunner

from stages.cli import app
from stages.core.config import Params, load_params
from stages.core.errors import ConfigError
from stages.ingest import validate
from stages.ingest.source import pipeline_outputs
from tests.support.params import edit_params
from tests.support.params import set_param as _set

runner = CliRunner()


@pytest.fixture
def project(tmp_path, repo, monkeypatch) -> Path:
    """A folder with the project's dvc.yaml, params.yaml and source manifests, as the
    working directory."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(repo / name, tmp_path / name)
    shutil.copytree(repo / "sources", tmp_path / "sources")
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
    params = with_weights(load_params(repo / "params.yaml"), str(tmp_path / "gone.h5"))
    with pytest.raises(
        ConfigError, match=r"variations\.v7\.backbone\.weights: .*gone\.h5: no such"
    ):
        validate.run(params, tmp_path / "v7.ok")
    assert not (tmp_path / "v7.ok").exists()


def with_weights(params: Params, weights: str | None) -> Params:
    """`params` with v7's backbone weights from `weights`."""
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    v7 = v7.model_copy(update={"backbone": v7.backbone.model_copy(update={"weights": weights})})
    return params.model_copy(update={"variations": {**params.variations, "v7": v7}})


def validate_params(*edits) -> Result:
    """`catdog validate` (the whole file) after `edits` to the working directory's params."""
    for edit in edits:
        edit_params(Path.cwd(), edit)
    return runner.invoke(app, ["validate", "--out", "data/validated/params.ok"])


def refused_in_one_line(result: Result, start: str) -> str:
    """The one error line of a refusal (exit 2, no marker), once it starts with `start`."""
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {start}"), line
    assert not Path("data/validated/params.ok").exists()
    return line


# Each value passed `catdog validate`, then failed in a stage after DVC had deleted that
# stage's outputs (split's CSVs, a model).
PASSED_THEN_FAILED = [
    ("split.seed", -1),
    ("split.seed", 4294967296),
    ("split.validation", 0.999),
    ("train.seeds", [-1]),
    ("train.seeds", [4294967296]),
]


@pytest.mark.parametrize(("key", "value"), PASSED_THEN_FAILED)
def test_a_value_that_failed_after_dvc_deleted_outputs_is_refused_first(project, key, value):
    refused_in_one_line(validate_params(_set(key, value)), f"params.yaml: {key}")


# A data.source manifest's values that passed, then failed in download after DVC had
# deleted data/raw/photos.zip.
BAD_MANIFESTS = [
    ("synthetic", {"seed": -1}, "seed: Input should be greater than or equal to 0"),
    ("synthetic", {"seed": 2**32}, "seed: Input should be less than or equal to 4294967295"),
    ("synthetic", {"count": 10**12}, "count: Input should be less than or equal to 1000000"),
    ("microsoft", {"url": "https://"}, "url: a URL with a host (or file:///path)"),
    ("kaggle", {"competition": "dogs vs cats"}, "competition: a competition's name as in"),
]


@pytest.mark.parametrize(("kind", "values", "message"), BAD_MANIFESTS)
def test_a_bad_manifest_value_is_refused_first(project, repo, kind, values, message) -> None:
    manifest = project / "mine.yaml"
    shutil.copy(repo / "sources" / f"{kind}.yaml", manifest)
    raw = YAML(typ="safe", pure=True).load(manifest.read_text())
    manifest.write_text("".join(f"{key}: {value}\n" for key, value in {**raw, **values}.items()))
    refused_in_one_line(validate_params(_set("data.source", "mine.yaml")), f"mine.yaml: {message}")


def test_a_text_file_named_h5_is_refused_without_keras(project, monkeypatch) -> None:
    (project / "weights.h5").write_text("not weights\n")
    # Importing the backbone (and so Keras) fails: the HDF5 check must come first.
    monkeypatch.setitem(sys.modules, "stages.training.backbone", None)
    result = validate_params(_set("variations.v7.backbone.weights", "weights.h5"))
    line = refused_in_one_line(result, "variations.v7.backbone.weights: weights.h5: ")
    assert line.endswith(": not an HDF5 file")


def test_a_named_backend_must_be_installed(project, monkeypatch) -> None:
    monkeypatch.setattr(validate, "installed", lambda name: name != "jax")
    result = validate_params(_set("train.backend", "jax"))
    refused_in_one_line(result, "train.backend: jax is not installed")
    assert validate_params(_set("train.backend", "tensorflow")).exit_code == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("data:\n  source: caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 19)"),
        (None, "is a folder, not a params file"),
    ],
)
def test_unreadable_params_are_one_line_naming_the_file(project, content, reason) -> None:
    if content is None:
        (project / "mine.yaml").mkdir()
    else:
        (project / "mine.yaml").write_bytes(content)
    result = runner.invoke(app, ["--params", "mine.yaml", "validate", "--out", "v.ok"])
    assert result.exit_code == 2 and result.stderr == f"error: mine.yaml: {reason}\n"


def _other_network(path: Path) -> None:
    """A small Keras model's weights, saved at `path` (.weights.h5: Keras 3's layout)."""
    import keras

    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    if path.name.endswith(".weights.h5"):
        other.save_weights(path)
    else:
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as file:
            legacy_h5_format.save_weights_to_hdf5_group(file, other)


def test_weights_must_load_into_the_backbone(project, repo) -> None:
    """Another network's weights (either HDF5 layout) are refused in one line with the
    counts, not Keras' list of every layer; the backbone's own weights pass."""
    from stages.training.backbone import build_backbone

    for name in ("other.weights.h5", "other.h5"):
        _other_network(project / name)
        line = refused_in_one_line(
            validate_params(_set("variations.v7.backbone.weights", name)),
            f"variations.v7.backbone.weights: {name}: does not fit MobileNetV3Small: ",
        )
        assert re.search(r"expected \d+ layers' weights, found 2$", line), line
    params = load_params(repo / "params.yaml")
    assert params.variations["v7"].backbone is not None
    local = with_weights(params, None).variations["v7"].backbone
    assert local is not None
    build_backbone(local, params.image).save_weights(project / "own.weights.h5")
    result = validate_params(_set("variations.v7.backbone.weights", "own.weights.h5"))
    assert result.exit_code == 0, result.output
