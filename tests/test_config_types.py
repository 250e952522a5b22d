"""Strict types: YAML that looks right but has the wrong type is refused by key, never
coerced ("32" is not 32, 2.0 is not 2, "yes" and 1 are not true, true is not 1)."""

from __future__ import annotations

import pytest

from stages.core.config import load_params
from stages.core.errors import ConfigError
from tests.support.params import set_param as _set
from tests.support.params import write_params

LOOSE_TYPES = [
    # (key, value, what the schema wants)
    ("variations.v5.batch_size", "32", "a valid integer"),
    ("variations.v5.batch_size", 2.0, "a valid integer"),
    ("variations.v5.batch_size", True, "a valid integer"),
    ("variations.v4.epochs", "yes", "a valid integer"),
    ("split.seed", 42.0, "a valid integer"),
    ("train.steps_per_execution", "32", "a valid integer"),
    ("image.height", True, "a valid integer"),
    ("augment.enabled", "yes", "a valid boolean"),
    ("augment.enabled", 1, "a valid boolean"),
    ("augment.enabled", "true", "a valid boolean"),
    ("augment.horizontal_flip", 1.0, "a valid boolean"),
    ("augment.rotation", "15", "a valid number"),
    ("augment.rotation", True, "a valid number"),
    ("variations.v4.learning_rate", "0.001", "a valid number"),
    ("split.test_size", True, "a valid number"),
    ("variations.v4.optimizer", True, "'rmsprop', 'adam' or 'sgd'"),
    ("variations.v4.conv_filters", "16, 32", "a valid list"),
    ("variations.v4.conv_filters", [16, "32"], "a valid integer"),
    ("data.source", 7, "a valid string"),
]


@pytest.mark.parametrize(("key", "value", "wanted"), LOOSE_TYPES)
def test_a_loose_type_is_refused_naming_the_key(tmp_path, repo, key, value, wanted) -> None:
    path = write_params(tmp_path, repo, _set(key, value))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}")
    assert f"Input should be {wanted}" in message
    assert message.endswith(f"(got {value!r})") or "conv_filters" in key
    assert "\n" not in message


def test_an_int_where_a_float_is_wanted_is_the_same_number(tmp_path, repo) -> None:
    # YAML writes 1 for 1.0; every float key takes a whole number unchanged.
    path = write_params(tmp_path, repo, _set("augment.rotation", 15))
    assert load_params(path).augment.rotation == 15.0


def test_a_whole_file_check_names_the_key_once(tmp_path, repo) -> None:
    path = write_params(tmp_path, repo, _set("variations.v3.builds_on", "v9"))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value) == f"{path}: variations.v3.builds_on: no variation named 'v9'"


def _image_side(side: int):
    return lambda raw: raw["image"].update(height=side, width=side)


def test_the_feature_map_check_stops_exactly_at_one_pixel(tmp_path, repo) -> None:
    # v2-v5: kernel 4, pool 3, three blocks. 66 -> 21 -> 6 -> 1 pixel: the smallest side.
    assert load_params(write_params(tmp_path, repo, _image_side(66))).image.height == 66
    # 65 -> 20 -> 5 -> 0: the third block leaves nothing.
    path = write_params(tmp_path, repo, _image_side(65))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    # Each variation with that stack is named, one line each; v2 first.
    assert str(caught.value).splitlines()[0] == (
        f"{path}: variations.v2.conv_filters: block 3 shrinks a 65x65 image to nothing "
        "(kernel_size 4, pool_size 3)"
    )


def test_malformed_or_non_mapping_yaml_is_one_exact_line(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_params(broken)
    assert str(caught.value) == f"{broken}: not valid YAML: while parsing a flow sequence"
    listed = tmp_path / "listed.yaml"
    listed.write_text("- data\n- split\n")
    with pytest.raises(ConfigError) as caught:
        load_params(listed)
    assert str(caught.value) == f"{listed}: expected a mapping of blocks at the top level"
