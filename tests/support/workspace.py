"""A throwaway git + DVC copy of this project, for end-to-end tests and benchmarks, and the
commands run in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.support.params import edit_params, set_param

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = (
    "dvc.yaml",
    "params.yaml",
    "stages",
    ".dvc/config",
    ".dvc/plots",  # the `epochs` plot template dvc.yaml names
    ".dvcignore",
    ".gitignore",
    "vendor",  # the offline `dvc plots show` template .dvc/config names
    "sources",  # the named data sources' manifests (data.source)
)
SYNTHETIC = "sources/synthetic.yaml"


def tool_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this interpreter's bin folder (catdog, dvc) first on
    PATH, DVC's analytics off, and `env` added."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "DVC_NO_ANALYTICS": "1", **(env or {})}


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    stream: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command with this interpreter's bin folder (catdog, dvc) first on PATH, and
    `env` added to the environment. `capture=False` discards the output instead: a
    command that leaves daemons behind (`dvc queue start`) would hold the pipes open.
    `stream=True` passes it through to this process's own, as it comes."""
    env = tool_environment(env)
    output = None if stream else subprocess.PIPE if capture else subprocess.DEVNULL
    result = subprocess.run(args, cwd=cwd, env=env, stdout=output, stderr=output, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def use_synthetic(root: Path, count: int, layout: str = "microsoft") -> None:
    """Point the workspace's data.source at its synthetic manifest, drawing `count` photos."""
    yaml = YAML()
    path = root / SYNTHETIC
    manifest = yaml.load(path.read_text())
    manifest.update({"count": count, "layout": layout})
    with path.open("w") as handle:
        yaml.dump(manifest, handle)
    edit_params(root, set_param("data.source", SYNTHETIC))


def make_workspace(
    root: Path, edit: Callable[[Any], None], synthetic_count: int | None = None
) -> Path:
    """Copy the project into `root`, edit its params (with `synthetic_count`, on that many
    synthetic photos), and commit it to a new git repo (on a machine without git, a DVC
    project without one: `core.no_scm`)."""
    for name in PROJECT_FILES:
        source, target = REPO / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    if synthetic_count is not None:
        use_synthetic(root, synthetic_count)
    edit_params(root, edit)
    if shutil.which("git") is None:
        config = root / ".dvc" / "config"
        config.write_text(config.read_text().replace("[core]\n", "[core]\n    no_scm = true\n", 1))
        return root
    run(["git", "init", "-q"], root)
    commit(root, "workspace")
    return root


def commit(root: Path, message: str) -> None:
    """Commit everything in the workspace (as a fixed identity)."""
    run(["git", "add", "-A"], root)
    identity = ["-c", "user.name=catdog", "-c", "user.email=catdog@example.com"]
    run(["git", *identity, "commit", "-qm", message], root)


def first_run(workspace: Path, variation: str) -> tuple[str, Path]:
    """The train stage of `variation` from the first of train.seeds, and the training
    summary it writes: (`train@<variation>-<seed>`, `runs/<variation>/<seed>/train.json`)."""
    yaml = YAML(typ="safe")
    seed = yaml.load((workspace / "params.yaml").read_text())["train"]["seeds"][0]
    return f"train@{variation}-{seed}", workspace / "runs" / variation / str(seed) / "train.json"
