"""params.yaml is validated once, strictly, into typed objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from workspace_copy import delete_param as _delete
from workspace_copy import edit_params
from workspace_copy import set_param as _set

from stages.core.config import Params, load_params
from stages.core.errors import ConfigError


def write_params(tmp_path: Path, repo: Path, edit) -> Path:
    """A copy of the repo's params.yaml with `edit(raw_dict)` applied."""
    shutil.copy(repo / "params.yaml", tmp_path / "params.yaml")
    edit_params(tmp_path, edit)
    return tmp_path / "params.yaml"


def test_repo_params_are_valid_and_typed(repo: Path) -> None:
    params = load_params(repo / "params.yaml")
    assert isinstance(params, Params)
    assert list(params.variations) == ["base", "v1", "v2", "v3", "v4", "v5"]
    assert params.data.source == "microsoft"
    assert params.split.test_size == 0.2
    assert (params.image.height, params.image.width) == (120, 120)
    assert params.variations["v4"].optimizer == "adam"
    assert params.variations["v5"].batch_size == 32
    assert params.variations["v3"].builds_on == "v2"
    assert all(v.epochs == 50 for v in params.variations.values())


BAD_PARAMS = [
    (_set("variations.v5.dropout", 0.5), "variations.v5.dropout: unknown key"),
    (_set("augment.colour", True), "augment.colour: unknown key"),
    (_set("variations.v5.batch_size", "big"), "variations.v5.batch_size: Input should be"),
    (_set("variations.v5.batch_size", 0), "variations.v5.batch_size: Input should be greater"),
    (_set("variations.v4.epochs", -3), "variations.v4.epochs: Input should be greater than 0"),
    (_set("variations.v4.learning_rate", 0), "variations.v4.learning_rate: Input should be"),
    (_set("variations.v4.optimizer", "adamw"), "variations.v4.optimizer: Input should be"),
    (_set("variations.v4.conv_filters", []), "variations.v4.conv_filters: List should have"),
    (_set("split.test_size", 1.5), "split.test_size: Input should be less than 1"),
    (_set("split.test_size", 0), "split.test_size: Input should be greater than 0"),
    (_set("data.source", "flickr"), "data.source: must be one of microsoft, kaggle, synthetic"),
    (_set("image.height", 12), "image.height: Input should be greater than or equal to 16"),
    (_delete("train.seeds"), "train.seeds: missing key"),
    (_set("train.precision", "float16"), "train.precision: Input should be 'float32'"),
    (_set("train.steps_per_execution", 0), "train.steps_per_execution: Input should be greater"),
    (_set("variations.v3.builds_on", "v9"), "variations.v3.builds_on: no variation named 'v9'"),
    (_set("variations.base.builds_on", "v5"), "variations.base.builds_on: cycle"),
    (_set("variations.v2.conv_filters", [8, 8, 8, 8, 8]), "variations.v2.conv_filters: block"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_PARAMS)
def test_bad_params_give_one_line_naming_the_key(tmp_path, repo, edit, message) -> None:
    path = write_params(tmp_path, repo, edit)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert caught.value.exit_code == 2


def test_scientific_notation_is_a_float_as_dvc_reads_it(tmp_path, repo) -> None:
    path = write_params(tmp_path, repo, lambda raw: None)
    path.write_text(path.read_text().replace("learning_rate: 0.001", "learning_rate: 1e-3"))
    assert load_params(path).variations["v4"].learning_rate == pytest.approx(1e-3)


def test_missing_and_malformed_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_params(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(broken)


def test_unknown_variation_lists_the_known_ones(repo) -> None:
    with pytest.raises(ConfigError, match=r"unknown variation 'v9' \(params.yaml has: base, v1"):
        load_params(repo / "params.yaml").variation("v9")


def test_params_are_frozen(repo) -> None:
    params = load_params(repo / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.variations["v4"].epochs = 3
