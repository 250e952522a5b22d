"""Training speed: `dvc repro -f train@<variation>` against the study's input pipeline, in
one run, both timed as whole processes.

One scratch DVC workspace reads a synthetic archive of full-size photos (320-420 px JPEGs,
like the real ones) and reproduces everything up to the split once. The photos of the
split are unpacked to a folder for the baseline (the study's kernel unzipped them once;
that is not timed). Then, `--repeats` times, alternating so that machine noise hits both:

- ours: `dvc repro -f train@<variation>` with `train.precision` set to `--precision`
  (decode cache, Keras augmentation layer, `steps_per_execution`). `-f` reruns every
  stage upstream too: the copy of the archive and the decode of all its photos count
  against us, while the baseline's one-off unzip does not;
- the baseline: `benchmarks/study_baseline.py`, the study's `ImageDataGenerator`
  reading the JPEG files every epoch, same network, split, batch size and epochs;
- the FLOP ceiling at that precision (`benchmarks/flops.py`), measured between them.

Prints the medians, the ratio of whole-process seconds, and our steady-state training
img/s (first epoch and validation left out) as a share of the ceiling.

    python -m benchmarks.train_speed                      # 5,000 photos, 3 epochs, 3 runs
    python -m benchmarks.train_speed --precision float32
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import zipfile
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from benchmarks.flops import dtype_of
from benchmarks.ingest import full_size_archive
from tests.support.params import edit_params, set_params
from tests.support.workspace import REPO, first_run, make_workspace, run

# A benchmark run as its own process in a scratch workspace: `python -m benchmarks.<name>`,
# with the repository root importable (the workspace's copy of `stages` comes first).
BENCHMARK_ENV = {
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
}


def benchmark(name: str) -> list[str]:
    """The command that runs benchmarks/<name>.py as a module."""
    return [sys.executable, "-m", f"benchmarks.{name}"]


def prepared_workspace(workdir: Path, archive: Path) -> Path:
    """A scratch workspace on `archive`, reproduced up to the split, with the split's
    photos unpacked under `photos/` for the baseline."""
    workspace = workdir / f"train-speed-{archive.stem}"
    if not (workspace / "photos").exists():
        workspace.mkdir(parents=True, exist_ok=True)
        make_workspace(workspace, set_params({"data.source": str(archive.resolve())}))
        print("reproducing up to the split (decode once)...", file=sys.stderr)
        run(["dvc", "repro", "split"], workspace)
        names = pd.concat(
            pd.read_csv(workspace / f"data/split/{part}.csv", dtype=str)["filename"]
            for part in ("train", "test")
        )
        with zipfile.ZipFile(archive) as packed:
            packed.extractall(workspace / "photos.partial", members=names.tolist())
        (workspace / "photos.partial").rename(workspace / "photos")
    return workspace


def time_ours(workspace: Path, variation: str) -> tuple[float, float]:
    """Whole-process seconds of `dvc repro -f train@<variation>`, and the steady training
    img/s it recorded."""
    stage, summary_path = first_run(workspace, variation)
    started = time.perf_counter()
    run(["dvc", "repro", "-f", stage], workspace)
    seconds = time.perf_counter() - started
    summary = json.loads(summary_path.read_text())
    return seconds, summary["steady_train_images_per_second"]


def time_baseline(workspace: Path, variation: str, epochs: int) -> tuple[float, float]:
    """Whole-process seconds of the study-style script, and its steady training img/s."""
    args = [*benchmark("study_baseline"), "--photos", "photos", "--variation", variation]
    started = time.perf_counter()
    result = run([*args, "--epochs", str(epochs)], workspace, env=BENCHMARK_ENV)
    seconds = time.perf_counter() - started
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])[
        "steady_train_images_per_second"
    ]


def time_ceiling(workspace: Path, variation: str, precision: str) -> float:
    """The FLOP ceiling in img/s, measured in a fresh process like the contenders."""
    dtype = dtype_of(precision)
    arguments = [*benchmark("flops"), "--variation", variation, "--dtype", dtype]
    result = run(arguments, workspace, env=BENCHMARK_ENV)
    return float(result.stdout.strip().splitlines()[-1])


def main(
    count: Annotated[int, typer.Option(help="Photos in the synthetic archive.")] = 5_000,
    epochs: Annotated[int, typer.Option(min=2, help="Epochs per run (first one compiles).")] = 6,
    variation: Annotated[str, typer.Option()] = "v4",
    precision: Annotated[str, typer.Option(help="train.precision for ours.")] = "mixed_bfloat16",
    steps_per_execution: Annotated[int, typer.Option(min=1)] = 32,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each contender.")] = 3,
    workdir: Annotated[Path, typer.Option(help="Scratch folder, kept between runs.")] = Path(
        "benchmarks/.work"
    ),
) -> None:
    """Time our training stage against the study-style script on the same split."""
    workdir.mkdir(parents=True, exist_ok=True)
    workspace = prepared_workspace(workdir, full_size_archive(workdir, count))
    settings = {
        f"variations.{variation}.epochs": epochs,
        "train.precision": precision,
        "train.steps_per_execution": steps_per_execution,
    }
    edit_params(workspace, set_params(settings))
    ours, baseline, ceilings = [], [], []
    for attempt in range(1, repeats + 1):
        ours.append(time_ours(workspace, variation))
        print(f"run {attempt}: ours {ours[-1][0]:.1f} s, {ours[-1][1]:.0f} img/s", file=sys.stderr)
        ceilings.append(time_ceiling(workspace, variation, precision))
        print(f"run {attempt}: ceiling {ceilings[-1]:.0f} img/s", file=sys.stderr)
        baseline.append(time_baseline(workspace, variation, epochs))
        print(
            f"run {attempt}: baseline {baseline[-1][0]:.1f} s, {baseline[-1][1]:.0f} img/s",
            file=sys.stderr,
        )
    ours_seconds = statistics.median(seconds for seconds, _ in ours)
    baseline_seconds = statistics.median(seconds for seconds, _ in baseline)
    ours_rate = statistics.median(rate for _, rate in ours)
    baseline_rate = statistics.median(rate for _, rate in baseline)
    ceiling = statistics.median(ceilings)
    train_images = len(pd.read_csv(workspace / "data/split/train.csv"))
    print(
        f"| {variation}, {train_images} train photos x {epochs} epochs, {precision}, "
        f"steps_per_execution {steps_per_execution} | {os.cpu_count()} cores | "
        f"baseline median {baseline_seconds:.1f} s ({baseline_rate:.0f} img/s) | "
        f"ours median {ours_seconds:.1f} s ({ours_rate:.0f} img/s) | "
        f"**{baseline_seconds / ours_seconds:.2f}x** whole process | "
        f"steady {ours_rate:.0f} img/s = {ours_rate / ceiling:.0%} of the "
        f"{ceiling:.0f} img/s FLOP ceiling |"
    )
    print(
        "runs (s, img/s): ours "
        f"{[(round(s, 1), round(r)) for s, r in ours]}, baseline "
        f"{[(round(s, 1), round(r)) for s, r in baseline]}, ceilings {[round(c) for c in ceilings]}"
    )


if __name__ == "__main__":
    typer.run(main)
