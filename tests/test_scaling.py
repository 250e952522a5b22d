"""Scaling out with DVC's own engines, for real on tiny data: the experiment queue trains
two variations at once, and a shared remote carries trained variations between
workspaces (the CI matrix's mechanics)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.support.prepared import SMALLEST_SIDE
from tests.support.workspace import commit, make_workspace, run

pytestmark = pytest.mark.slow

QUEUED = ("base", "v4")


SYNTHETIC_COUNT = 120  # validation keeps at least 3 photos of each class


def tiny(source: str | None):
    """A params edit: photos from `source` (None: the synthetic set's manifest, which
    make_workspace sets), 66x66 pixels, one epoch per variation."""

    def edit(params: Any) -> None:
        if source is not None:
            params["data"]["source"] = source
        params["image"].update(height=SMALLEST_SIDE, width=SMALLEST_SIDE)
        for variation in params["variations"].values():
            variation["epochs"] = 1
        # v7: random weights (no download), its frozen phase the one epoch.
        params["variations"]["v7"]["backbone"].update({"weights": None, "frozen_epochs": 1})

    return edit


def experiments(workspace: Path) -> dict[str, dict[str, Any]]:
    """`dvc exp show --json`, as {experiment name: its metrics by file}."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], workspace).stdout)
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            revision = experiment["revs"][0]
            found[experiment["name"]] = (revision["data"] or {}).get("metrics", {})
    return found


def wait_for_the_queue(workspace: Path, timeout: float = 480) -> tuple[str, int]:
    """Poll `dvc queue status` until nothing is queued or running; return the last status
    and the most experiments seen running at once."""
    most_running, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], workspace).stdout
        most_running = max(most_running, len(re.findall(r"\bRunning\b", status)))
        if not re.search(r"\b(Queued|Running)\b", status):
            return status, most_running
        time.sleep(3)
    raise AssertionError(f"the queue never finished:\n{status}")


def test_the_queue_trains_two_variations_at_once(tmp_path, microsoft_zip) -> None:
    workspace = make_workspace(tmp_path / "project", tiny("photos.zip"))
    # A local archive is git-ignored, so queued runs get it only through -C.
    shutil.copy(microsoft_zip, workspace / "photos.zip")
    with (workspace / ".gitignore").open("a") as handle:
        handle.write("/photos.zip\n")
    commit(workspace, "ignore the local archive")
    for name in QUEUED:
        queue = ["dvc", "exp", "run", "--queue", "-C", "photos.zip", "-n", f"q-{name}"]
        run([*queue, f"summarize@{name}"], workspace)
    run(
        ["dvc", "queue", "start", "-j", "2"],
        workspace,
        env={"CATDOG_WORKERS": "2"},
        capture=False,
    )
    try:
        status, most_running = wait_for_the_queue(workspace)
    finally:
        run(["dvc", "queue", "stop", "--kill"], workspace, check=False, capture=False)
    assert len(re.findall(r"\bSuccess\b", status)) == 2, status
    assert most_running == 2, "both experiments ran at the same time"
    log = run(["dvc", "queue", "logs", "q-v4"], workspace).stdout
    assert re.search(r"catdog: \d+ of \d+ cores \(CATDOG_WORKERS=2\)", log), log
    shown = experiments(workspace)
    for name in QUEUED:
        metrics = shown[f"q-{name}"][f"metrics/{name}.json"]["data"]
        assert metrics["epochs"] == 1
        confusion = metrics["confusion"]
        assert sum(confusion.values()) == metrics["test_images"] > 0
        correct = confusion["tn"] + confusion["tp"]
        assert metrics["accuracy"] == round(correct / metrics["test_images"], 6)


def keep_variations(workspace: Path, names: tuple[str, ...]) -> None:
    """Cut the study down to `names` (first one the root) in params.yaml: dvc.yaml spells
    out nothing per variation."""
    yaml = YAML()
    params_path = workspace / "params.yaml"
    params = yaml.load(params_path.read_text())
    for name in list(params["variations"]):
        if name not in names:
            del params["variations"][name]
    params["variations"][names[0]]["builds_on"] = None
    for name in names[1:]:
        params["variations"][name]["builds_on"] = names[0]
    yaml.dump(params, params_path)


def clone(origin: Path, target: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(target)], origin.parent)
    return target


def test_a_shared_remote_carries_trained_variations_between_workspaces(tmp_path) -> None:
    origin = make_workspace(tmp_path / "origin", tiny(None), SYNTHETIC_COUNT)
    keep_variations(origin, QUEUED)
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote")], origin)
    commit(origin, "two variations, a shared remote")
    logs = {}
    for name in QUEUED:  # the CI matrix: one workspace per variation
        machine = clone(origin, tmp_path / f"train-{name}")
        logs[name] = run(["dvc", "repro", "--pull", f"summarize@{name}"], machine).stdout
        run(["catdog", "push"], machine)
        assert f"Running stage 'train@{name}-42'" in logs[name]
    assert "Running stage 'decode'" not in logs["v4"], "the data stages came from the remote"
    final = clone(origin, tmp_path / "compare")
    log = run(["dvc", "repro", "--pull"], final).stdout
    assert "Running stage 'compare'" in log
    for name in QUEUED:
        assert f"Running stage 'train@{name}-" not in log
        assert f"Running stage 'evaluate@{name}-" not in log
        trained = tmp_path / f"train-{name}" / "models" / name / "42.keras"
        assert (final / "models" / name / "42.keras").read_bytes() == trained.read_bytes()
        assert f"| {name} |" in (final / "metrics" / "compare.md").read_text()
    assert "up to date" in run(["dvc", "status"], final).stdout
