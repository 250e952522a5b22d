"""The product on an accelerator: `dvc repro` of the whole pipeline, each train stage timed.

Copies the project into a scratch git + DVC workspace (`benchmarks/.work/gpu/`), points
it at the synthetic set (`--count` photos: 26,400 leave about 20,000 to train on once
the broken files are dropped and the test fifth is held out), sets every chosen
variation to `--epochs`, and then times, each as its own `dvc repro`:

1. everything up to the split (drawing the archive, validating, decoding, splitting);
2. each variation's train stage, one after another: process start, loading the photos,
   compiling, training with augmentation and per-epoch validation, saving the model;
3. the rest (evaluation, summaries, comparison, figures; and the variations left out of
   `--variations`, at their params' epochs).

    python -m benchmarks.gpu_pipeline                  # train.backend auto: jax on a GPU
    python -m benchmarks.gpu_pipeline --count 400 --epochs 1 --variations v4   # a dry run

Prints one line per stage and a Markdown table with the device's name; `--json` also
writes the figures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tests.support.params import set_params
from tests.support.workspace import REPO, first_run, make_workspace, run

STUDY = "base,v1,v2,v3,v4,v5"


def device_name(backend: str) -> str:
    """The device the train stages used, as its backend names it."""
    probe = {
        "jax": "import jax; print(jax.devices()[0].device_kind)",
        "tensorflow": (
            "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU');"
            "print(tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')"
            " if gpus else 'CPU')"
        ),
    }[backend]
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return result.stdout.strip() or backend


def timed(args: list[str], workspace: Path) -> float:
    """Seconds `args` took to run (in the workspace; output shown as it comes)."""
    started = time.perf_counter()
    run(args, workspace, stream=True)
    return time.perf_counter() - started


def main(
    count: Annotated[int, typer.Option(min=100, help="Synthetic photos in the archive.")] = 26_400,
    epochs: Annotated[int, typer.Option(min=1)] = 50,
    variations: Annotated[str, typer.Option(help="Comma-separated.")] = STUDY,
    backend: Annotated[str, typer.Option(help="train.backend: auto, jax or tensorflow.")] = "auto",
    precision: Annotated[str, typer.Option(help="train.precision.")] = "mixed_bfloat16",
    work: Annotated[Path, typer.Option(help="Scratch folder (emptied).")] = (
        REPO / "benchmarks" / ".work" / "gpu"
    ),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
) -> None:
    """Reproduce the pipeline on the synthetic set, timing each train stage."""
    names = [name for name in variations.split(",") if name]
    settings: dict[str, object] = {
        "train.backend": backend,
        "train.precision": precision,
        **{f"variations.{name}.epochs": epochs for name in names},
    }
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    workspace = make_workspace(work, set_params(settings), synthetic_count=count)

    seconds = {"prepare": timed(["dvc", "repro", "split"], workspace)}
    print(f"up to the split: {seconds['prepare']:.1f} s", file=sys.stderr, flush=True)
    summaries = {}
    for name in names:
        stage, summary = first_run(workspace, name)
        seconds[name] = timed(["dvc", "repro", stage], workspace)
        summaries[name] = json.loads(summary.read_text())
        print(f"{stage}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)
    seconds["rest"] = timed(["dvc", "repro"], workspace)
    resolved = summaries[names[0]]["backend"]
    report = {
        "device": device_name(resolved),
        "backend": resolved,
        "engine": summaries[names[0]]["engine"],
        "precision": precision,
        "epochs": epochs,
        "train_images": summaries[names[0]]["train_images"],
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
        "train_seconds": round(sum(seconds[name] for name in names), 1),
        "pipeline_seconds": round(sum(seconds.values()), 1),
        "steady_train_images_per_second": {
            name: summaries[name]["steady_train_images_per_second"] for name in names
        },
    }
    print_table(report, names)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2))


def print_table(report: dict, names: list[str]) -> None:
    """The figures as a Markdown table."""
    print(
        f"{report['train_images']} train photos, {report['epochs']} epochs, "
        f"{report['precision']}, {report['backend']} ({report['engine']}) on {report['device']}"
    )
    print("| stage | seconds (whole `dvc repro` of it) | steady img/s |")
    print("|---|---|---|")
    print(f"| up to the split | {report['seconds']['prepare']} | |")
    for name in names:
        rate = report["steady_train_images_per_second"][name]
        print(f"| train@{name} | {report['seconds'][name]} | {rate} |")
    print(f"| the rest (evaluate, compare, figures) | {report['seconds']['rest']} | |")
    print(f"| **all train stages** | **{report['train_seconds']}** | |")
    print(f"| **whole pipeline** | **{report['pipeline_seconds']}** | |")


if __name__ == "__main__":
    typer.run(main)
