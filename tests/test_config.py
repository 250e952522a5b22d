"""params.yaml is validated once, strictly, into typed objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.config import Params, load_params
from stages.core.errors import ConfigError
from tests.support.params import delete_param as _delete
from tests.support.params import set_param as _set
from tests.support.params import set_params, write_params


def test_repo_params_are_valid_and_typed(repo: Path) -> None:
    params = load_params(repo / "params.yaml")
    assert isinstance(params, Params)
    assert list(params.variations) == ["base", "v1", "v2", "v3", "v4", "v5", "v6", "v7"]
    assert params.data.source == "sources/microsoft.yaml"
    assert params.split.test_size == 0.2
    assert (params.image.height, params.image.width) == (120, 120)
    assert params.variations["v4"].optimizer == "adam"
    assert params.variations["v5"].batch_size == 32
    assert params.variations["v3"].builds_on == "v2"
    study = ("base", "v1", "v2", "v3", "v4", "v5")
    assert all(params.variations[name].epochs == 50 for name in study)
    assert params.variations["v6"].early_stopping is not None
    assert params.variations["v7"].backbone is not None
    assert params.variations["v7"].backbone.weights == "imagenet"


def _only_v7(height: int):
    """An edit leaving v7 (the backbone) the only variation, on photos `height` high."""

    def edit(raw) -> None:
        raw["variations"] = {"v7": {**raw["variations"]["v7"], "builds_on": None}}
        raw["image"]["height"] = height

    return edit


BAD_PARAMS = [
    (_set("variations.v5.dropout", 0.5), "variations.v5.dropout: unknown key"),
    (_set("augment.colour", True), "augment.colour: unknown key"),
    (_set("variations.v5.batch_size", "big"), "variations.v5.batch_size: Input should be"),
    (_set("variations.v5.batch_size", 0), "variations.v5.batch_size: Input should be greater"),
    (_set("variations.v4.epochs", -3), "variations.v4.epochs: Input should be greater than 0"),
    (_set("variations.v4.learning_rate", 0), "variations.v4.learning_rate: Input should be"),
    (_set("variations.v4.optimizer", "adamw"), "variations.v4.optimizer: Input should be"),
    (_set("variations.v4.conv_filters", []), "variations.v4.conv_filters: at least one conv"),
    (_set("variations.v4.kernel_size", None), "variations.v4.conv_filters: at least one conv"),
    (_set("variations.v7.kernel_size", 3), "variations.v7.backbone: replaces the conv blocks"),
    (_set("variations.v7.backbone.frozen_epochs", 11), "variations.v7.backbone.frozen_epochs"),
    (_set("variations.v7.backbone.weights", "w.bin"), "variations.v7.backbone.weights: imagenet"),
    (_set("variations.v7.backbone.name", "VGG16"), "variations.v7.backbone.name: Input should"),
    (_delete("variations.v6.early_stopping.patience"), "early_stopping.patience: missing key"),
    (_delete("variations.v5.plateau"), "variations.v5.plateau: missing key"),
    (_set("variations.v6.plateau.factor", 1.0), "variations.v6.plateau.factor: Input should"),
    (
        _set("split.validation", "test"),
        "variations.v6.early_stopping: early stopping and the plateau schedule need "
        "split.validation as a fraction",
    ),
    (
        set_params({"split.validation": "test", "variations.v6.plateau": None}),
        "variations.v6.early_stopping: early stopping needs split.validation as a fraction",
    ),
    (_set("split.test_size", 1.5), "split.test_size: Input should be less than 1"),
    (_set("split.test_size", 0), "split.test_size: Input should be greater than 0"),
    (_set("data.source", "microsoft"), "data.source: must name a source manifest"),
    (_set("image.height", 12), "image.height: Input should be greater than or equal to 16"),
    (_delete("train.seeds"), "train.seeds: missing key"),
    (_set("train.precision", "float16"), "train.precision: Input should be 'float32'"),
    (_set("train.steps_per_execution", 0), "train.steps_per_execution: Input should be greater"),
    (_set("variations.v3.builds_on", "v9"), "variations.v3.builds_on: no variation named 'v9'"),
    (_set("variations.base.builds_on", "v5"), "variations.base.builds_on: cycle"),
    (_set("variations.v2.conv_filters", [8, 8, 8, 8, 8]), "variations.v2.conv_filters: block"),
    # Each of these passed, then failed in a stage after DVC had deleted its outputs.
    (_set("split.seed", -1), "split.seed: Input should be greater than or equal to 0"),
    (_set("split.seed", 2**32), "split.seed: Input should be less than or equal to 4294967295"),
    (_set("train.seeds", [-1]), "train.seeds[0]: Input should be greater than or equal to 0"),
    (_set("train.seeds", [1, 2**32]), "train.seeds[1]: Input should be less than or equal to"),
    (_set("split.validation", 0.999), "split.validation: Input should be 'test' or less than"),
    (_set("split.validation", 0.6), "split.validation: Input should be 'test' or less than"),
    (_set("variations.v4.learning_rate", float("nan")), "learning_rate: Input should be a finite"),
    (_set("train.backup_seconds", float("inf")), "train.backup_seconds: Input should be a finite"),
    (_set("variations.v4.batch_size", 2**40), "variations.v4.batch_size: Input should be less"),
    (_set("variations.v4.dense_units", [8, 2**40]), "variations.v4.dense_units[1]: Input should"),
    (_set("variations.v4.conv_filters", [2**40]), "variations.v4.conv_filters[0]: Input should"),
    (_set("variations.v4.epochs", 2**63), "variations.v4.epochs: Input should be less than or"),
    (_set("data.source", "a/" + "b" * 256 + ".zip"), "data.source: a file name of at most 255"),
    (_set("data.source", "b/" * 2100 + ".zip"), "data.source: a path of at most 4096 bytes"),
    (_set("variations.v7.backbone.weights", "w\x00.h5"), "backbone.weights: a path cannot hold"),
    (_only_v7(height=31), "variations.v7.backbone: MobileNetV3Small takes photos of at least 32"),
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


def test_a_backbone_takes_photos_from_its_smallest_side(tmp_path, repo) -> None:
    assert load_params(write_params(tmp_path, repo, _only_v7(height=32))).image.height == 32


def test_a_union_is_one_line_in_the_users_words(tmp_path, repo) -> None:
    path = write_params(tmp_path, repo, _set("split.validation", True))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value) == (
        f"{path}: split.validation: Input should be 'test' or a valid number (got True)"
    )


def test_a_block_of_the_wrong_type_is_named_in_the_users_words(tmp_path, repo) -> None:
    path = write_params(tmp_path, repo, _set("split", 5))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value) == f"{path}: split: Input should be a mapping of keys (got 5)"


HUGE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("edit", "start"),
    [
        (_set("data.source", HUGE), "data.source: must name a source manifest"),
        (_set("train.precision", HUGE), "train.precision: Input should be 'float32'"),
        (_set("augment." + HUGE, 1), "augment.xxx"),
        (_set("variations.v3.builds_on", HUGE), "variations.v3.builds_on: no variation named"),
    ],
)
def test_a_huge_value_is_echoed_by_its_start(tmp_path, repo, edit, start) -> None:
    path = write_params(tmp_path, repo, edit)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {start}") and "\n" not in message
    assert "x" * 50 in message and message.count("x") < 70 and "…" in message


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"split:\n  seed: \xff\n", "not UTF-8 text (byte 0xff at offset 15)"), (None, "is a folder")],
)
def test_an_unreadable_params_file_is_one_line_naming_it(tmp_path, content, reason) -> None:
    path = tmp_path / "params.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: {reason}")


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


@pytest.mark.parametrize(
    "name", ["x;touch PWNED;", "a b", "v-1", "$(id)", "it's", "ünï", "a/b", "`id`", ""]
)
def test_unsafe_variation_names_are_refused(tmp_path, repo, name) -> None:
    def add(raw) -> None:
        raw["variations"][name] = dict(raw["variations"]["v4"])

    with pytest.raises(ConfigError) as caught:
        load_params(write_params(tmp_path, repo, add))
    assert "variations: names must match [A-Za-z0-9_]+" in str(caught.value)
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize(("length", "refused"), [(64, False), (65, True)])
def test_variation_names_fit_in_a_file_name(tmp_path, repo, length, refused) -> None:
    def add(raw) -> None:
        raw["variations"]["v" * length] = dict(raw["variations"]["v4"])

    path = write_params(tmp_path, repo, add)
    if not refused:
        assert "v" * length in load_params(path).variations
        return
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: variations: names of at most 64 characters")


def test_empty_variations_are_refused_naming_the_key(tmp_path, repo) -> None:
    with pytest.raises(ConfigError, match=r"params.yaml: variations: .*at least 1 item"):
        load_params(write_params(tmp_path, repo, _set("variations", {})))


def test_several_errors_are_all_shown_one_line_each(tmp_path, repo) -> None:
    def edits(raw) -> None:
        raw["variations"]["v5"]["batch_size"] = 0
        raw["split"]["test_size"] = 1.5
        raw["augment"]["colour"] = True

    with pytest.raises(ConfigError) as caught:
        load_params(write_params(tmp_path, repo, edits))
    lines = str(caught.value).splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{tmp_path}/params.yaml: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {
        "variations.v5.batch_size",
        "split.test_size",
        "augment.colour",
    }


def test_every_consistency_problem_is_shown_and_a_cycle_once(tmp_path, repo) -> None:
    def edits(raw) -> None:
        raw["variations"]["v3"]["builds_on"] = "v9"
        raw["variations"]["v4"]["builds_on"] = "v5"  # v4 <-> v5
        raw["variations"]["v2"]["conv_filters"] = [8, 8, 8, 8, 8]

    with pytest.raises(ConfigError) as caught:
        load_params(write_params(tmp_path, repo, edits))
    lines = [line.split(": ", 1)[1] for line in str(caught.value).splitlines()]
    assert lines == [
        "variations.v2.conv_filters: block 4 shrinks a 120x120 image to nothing "
        "(kernel_size 4, pool_size 3)",
        "variations.v3.builds_on: no variation named 'v9'",
        "variations.v4.builds_on: cycle v4 -> v5 -> v4",
    ]
