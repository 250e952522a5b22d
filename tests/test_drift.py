"""A params file that changed while a command ran: every changed key named once, in one
line (stages/core/drift.py; the CLI's use of it is tests/test_cli.py's)."""

from __future__ import annotations

import pytest

from stages.core.drift import changes, check_unchanged, flatten
from stages.core.errors import ConfigError


def test_nested_keys_are_flattened_and_lists_stay_values() -> None:
    nested = {"train": {"seeds": [42], "precision": "float32"}, "v": {"a": {"b": None}}, "e": {}}
    assert flatten(nested) == {
        "train.seeds": [42],
        "train.precision": "float32",
        "v.a.b": None,
        "e": {},
    }


def test_changed_added_and_removed_keys_each_once() -> None:
    before = {"v4": {"learning_rate": 0.001, "epochs": 50, "plateau": None}, "seeds": [42]}
    after = {"v4": {"learning_rate": 0.0005, "epochs": 50}, "seeds": [42, 7], "new": 1}
    assert [str(change) for change in changes(before, after)] == [
        "v4.learning_rate (0.001 -> 0.0005)",
        "v4.plateau (null -> absent)",
        "seeds ([42] -> [42, 7])",
        "new (absent -> 1)",
    ]
    assert changes(before, before) == []


def test_the_error_is_one_line_naming_each_key(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("v4:\n  learning_rate: 0.0005\n  optimizer: sgd\n")
    loaded = {"v4": {"learning_rate": 0.001, "optimizer": "adam"}}
    with pytest.raises(ConfigError) as raised:
        check_unchanged(path, loaded, "train@v4-42", "run dvc repro again")
    assert str(raised.value) == (
        f"{path} changed while train@v4-42 ran: v4.learning_rate (0.001 -> 0.0005), "
        'v4.optimizer ("adam" -> "sgd"); run dvc repro again'
    )


def test_many_changes_are_counted_past_the_sixth(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(f"k{i}: 1" for i in range(9)))
    with pytest.raises(ConfigError, match=r"k5 \(0 -> 1\) and 3 more; again$"):
        check_unchanged(path, {f"k{i}": 0 for i in range(9)}, "split", "again")


def test_a_file_that_no_longer_reads_is_one_line(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("a: [1\n")
    with pytest.raises(ConfigError) as raised:
        check_unchanged(path, {"a": 1}, "split", "run it again")
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"{path} changed while split ran and no longer reads back (not valid")
    assert line.endswith("; run it again")
    path.unlink()
    with pytest.raises(ConfigError, match=r"no longer reads back \(no such file\)"):
        check_unchanged(path, {"a": 1}, "split", "run it again")


def test_comments_and_layout_are_not_changes(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("# a comment\nv4: {learning_rate: 0.001}\n")
    check_unchanged(path, {"v4": {"learning_rate": 0.001}}, "train", "again")
