"""End to end: the real `dvc repro` on a tiny synthetic set, all six variations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workspace_copy import edit_params, make_workspace, run

pytestmark = pytest.mark.slow


def tiny(params) -> None:
    params["data"]["source"] = "synthetic"
    params["data"]["synthetic"]["count"] = 120
    for variation in params["variations"].values():
        variation["epochs"] = 1


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A git + DVC copy of the project, reproduced once on the tiny synthetic set."""
    root = make_workspace(tmp_path_factory.mktemp("project"), tiny)
    run(["dvc", "repro"], root)
    return root


def test_every_variation_has_metrics(workspace) -> None:
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], workspace).stdout)
    files = next(iter(shown.values()))["data"]
    for name in ("base", "v1", "v2", "v3", "v4", "v5"):
        metrics = files[f"metrics/{name}.json"]["data"]
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert metrics["train_seconds"] > 0 and metrics["train_images_per_second"] > 0
        assert set(metrics["confusion"]) == {"tn", "fp", "fn", "tp"}
        history = (workspace / "plots" / name / "history.csv").read_text().splitlines()
        assert history[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
        assert len(history) == 2
    compare = (workspace / "metrics" / "compare.md").read_text()
    assert compare.count("\n| ") == 7  # header + six variations
    assert (workspace / "data" / "rejected.csv").read_text().count("\n") > 1


def test_a_second_repro_does_nothing(workspace) -> None:
    status = run(["dvc", "status"], workspace).stdout
    assert "up to date" in status
    repro = run(["dvc", "repro"], workspace)
    assert "Running stage" not in repro.stdout + repro.stderr


def test_plots_render_for_every_variation(workspace, tmp_path) -> None:
    out = tmp_path / "plots"
    run(["dvc", "plots", "show", "-o", str(out)], workspace)
    html = (out / "index.html").read_text()
    for name in ("base", "v1", "v2", "v3", "v4", "v5"):
        assert f"plots/{name}/history.csv" in html


def test_editing_one_variation_invalidates_only_its_stages(workspace) -> None:
    original = (workspace / "params.yaml").read_text()
    try:
        edit_params(workspace, lambda p: p["variations"]["v5"].__setitem__("batch_size", 16))
        status = json.loads(run(["dvc", "status", "--json"], workspace).stdout)
        assert set(status) == {"train@v5", "evaluate@v5", "compare"}
    finally:
        (workspace / "params.yaml").write_text(original)
