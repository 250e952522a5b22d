"""How long DVC takes to find nothing to do, on a full-size data set.

Reproduces the whole pipeline once in a scratch workspace on a synthetic archive of
full-size photos (default: the 25,000 of benchmarks/ingest.py, one epoch per variation
so that it finishes), then times `dvc status` and `dvc repro` with nothing changed.

    python -m benchmarks.dvc_noop                 # 25,000 photos (reuses ingest's archive)
    python -m benchmarks.dvc_noop --count 2000    # a quick look
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.ingest import full_size_archive
from tests.support.workspace import make_workspace, run


def median_seconds(args: list[str], cwd: Path, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run(args, cwd)
        times.append(time.perf_counter() - started)
        if "Running stage" in result.stdout:
            raise SystemExit(f"{' '.join(args)} was not a no-op:\n{result.stdout}")
    return statistics.median(times), times


def main(
    count: Annotated[int, typer.Option(help="Photos in the synthetic archive.")] = 25_000,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per variation.")] = 1,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs of each command.")] = 5,
    workdir: Annotated[Path, typer.Option(help="Scratch folder.")] = Path("benchmarks/.work"),
) -> None:
    """Time no-op `dvc status` and `dvc repro` on a fully reproduced full-size pipeline."""
    workdir = workdir.resolve()
    archive = full_size_archive(workdir, count)
    root = workdir / f"noop-{count}"
    if not (root / "dvc.lock").exists():
        if root.exists():
            raise SystemExit(f"{root} exists without dvc.lock; remove it and rerun")

        def full_size(params) -> None:
            params["data"]["source"] = str(archive)
            for variation in params["variations"].values():
                variation["epochs"] = epochs

        make_workspace(root, full_size)
        print(f"reproducing the pipeline in {root} (once)...", file=sys.stderr)
        run(["dvc", "repro"], root)
    status, status_runs = median_seconds(["dvc", "status"], root, repeats)
    repro, repro_runs = median_seconds(["dvc", "repro"], root, repeats)
    print(
        f"| no-op on {count} photos | dvc status median {status:.2f} s | "
        f"dvc repro median {repro:.2f} s |"
    )
    print(
        f"dvc status runs: {[round(s, 2) for s in status_runs]}; "
        f"dvc repro runs: {[round(s, 2) for s in repro_runs]}"
    )


if __name__ == "__main__":
    typer.run(main)
