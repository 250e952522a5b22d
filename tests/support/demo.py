"""What `make demo` runs, read from `make -n` so that tests and benchmarks see exactly the
Makefile's command."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml


def demo_dry_run(repo: Path, *variables: str) -> list[str]:
    """The lines `make -n demo <variables>` prints in `repo`: the commands it would run."""
    dry = subprocess.run(
        ["make", "-n", "-o", "setup", "demo", *variables],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return dry.stdout.splitlines()


def demo_command(repo: Path, *variables: str) -> list[str]:
    """The `dvc exp run ...` command line `make demo <variables>` runs in `repo`."""
    (command,) = [line for line in demo_dry_run(repo, *variables) if " exp run " in line]
    words = shlex.split(command)
    return ["dvc", *words[words.index("exp") :]]


def demo_settings(command: list[str]) -> dict[str, Any]:
    """The `-S key=value` overrides of a `dvc exp run` command line, by dotted key, each
    value read as YAML (as DVC reads it)."""
    pairs = [command[i + 1].split("=", 1) for i, word in enumerate(command) if word == "-S"]
    return {key: yaml.safe_load(value) for key, value in pairs}
