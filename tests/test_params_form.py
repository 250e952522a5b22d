"""params.yaml is written in the form DVC writes back: `dvc exp run -S key=value` changes
exactly the line of that key, so an experiment's diff (and a commit after one) shows only
what was set. The edit goes through DVC's own code path for `-S` (dvc.utils.hydra's
apply_overrides, which `dvc exp run` calls on the params file of the experiment)."""

from __future__ import annotations

import difflib

import pytest
from dvc.utils.hydra import apply_overrides

from stages.core.config import load_params
from tests.support.params import write_params


def changed_lines(repo, tmp_path, overrides: list[str]) -> list[str]:
    path = write_params(tmp_path, repo)
    before = path.read_text().splitlines()
    apply_overrides(path, overrides)
    after = path.read_text().splitlines()
    return [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_dvc_writes_the_committed_file_back_unchanged(repo, tmp_path) -> None:
    # Setting a key to the value it has: DVC rewrites the whole file, byte for byte.
    assert changed_lines(repo, tmp_path, ["split.seed=42"]) == []


@pytest.mark.parametrize(
    ("override", "old", "new"),
    [
        ("variations.v5.batch_size=16", "    batch_size: 32", "    batch_size: 16"),
        (
            "data.source=sources/synthetic.yaml",
            "  source: sources/microsoft.yaml",
            "  source: sources/synthetic.yaml",
        ),
        ("variations.base.epochs=6", "    epochs: 50", "    epochs: 6"),
        (
            "train.precision=mixed_bfloat16",
            "  precision: float32         # float32 | mixed_bfloat16 | mixed_float16",
            "  precision: mixed_bfloat16  # float32 | mixed_bfloat16 | mixed_float16",
        ),
    ],
)
def test_one_set_param_changes_one_line(repo, tmp_path, override, old, new) -> None:
    assert changed_lines(repo, tmp_path, [override]) == [f"-{old}", f"+{new}"]


def test_the_written_back_file_is_the_same_study(repo, tmp_path) -> None:
    changed_lines(repo, tmp_path, ["split.seed=42"])
    assert load_params(tmp_path / "params.yaml") == load_params(repo / "params.yaml")
    assert load_params(repo / "params.yaml").variations["base"].builds_on is None
