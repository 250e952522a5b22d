"""End to end: the real `dvc repro` on a tiny synthetic set, all six variations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow

PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", ".dvc/config", ".dvcignore", ".gitignore")


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def edit_params(workspace: Path, edit) -> None:
    yaml = YAML()
    path = workspace / "params.yaml"
    params = yaml.load(path.read_text())
    edit(params)
    with path.open("w") as handle:
        yaml.dump(params, handle)


def tiny(params) -> None:
    params["data"]["source"] = "synthetic"
    params["data"]["synthetic"]["count"] = 120
    for variation in params["variations"].values():
        variation["epochs"] = 1


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, repo) -> Path:
    """A git + DVC copy of the project, reproduced once on the tiny synthetic set."""
    root = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, target = repo / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    edit_params(root, tiny)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(
        [
            "git",
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-qm",
            "tiny",
        ],
        root,
    )
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
