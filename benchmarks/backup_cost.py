"""What a train stage spends outside its epochs, and how much of it is the backup for a
resume: the train stage's own `train()`, three times in one process on a synthetic set,
backing up after every epoch (`train.backup_seconds: 0`), at params.yaml's cadence, and
after every epoch again (the first run also pays the process's first compilations).

    python -m benchmarks.backup_cost --count 8000 --epochs 30 --variation base
    KERAS_BACKEND=jax python -m benchmarks.backup_cost ...   # on a GPU: the resident engine

Prints one JSON line per run: wall seconds, `train_seconds` (the epochs, compile and
validation included) and the difference.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from stages.core.config import load_params
from tests.support.prepared import Prepared, decode_and_split
from tests.support.workspace import REPO


def prepare(work: Path, count: int, side: int) -> Prepared:
    """The synthetic set of `count` photos, decoded at side x side and split 80/20 with a
    tenth of the training photos held out."""
    from stages.ingest.synthetic import write_synthetic_archive

    work.mkdir(parents=True, exist_ok=True)
    archive = work / "photos.zip"
    write_synthetic_archive(archive, count, seed=0, layout="microsoft", workers=os.cpu_count())
    return decode_and_split(archive, work, side, validation=0.1)


def main(
    count: Annotated[int, typer.Option(min=100)] = 8000,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    variation: str = "base",
    side: Annotated[int, typer.Option(min=66)] = 120,
    precision: str = "mixed_bfloat16",
    work: Path = REPO / "benchmarks" / ".work" / "backup_cost",
) -> None:
    """Time train() backing up after every epoch and at params.yaml's cadence."""
    from stages.training.train import TrainInputs, TrainOutputs, train

    data = prepare(work, count, side)
    params = load_params(REPO / "params.yaml")
    chosen = params.variation(variation).model_copy(update={"epochs": epochs})
    params = params.model_copy(
        update={
            "variations": {**params.variations, variation: chosen},
            "image": params.image.model_copy(update={"height": side, "width": side}),
            "train": params.train.model_copy(update={"precision": precision}),
        }
    )
    inputs = TrainInputs(data.cache, data.train_csv, data.validation_csv, work / "checkpoints")
    cadence = params.train.backup_seconds
    for seconds in (0.0, cadence, 0.0):
        timed = params.model_copy(
            update={"train": params.train.model_copy(update={"backup_seconds": seconds})}
        )
        out = work / f"backup_{seconds:g}s"
        started = time.perf_counter()
        summary = train(
            timed,
            variation,
            42,
            inputs,
            TrainOutputs(out / "m.keras", out / "live", out / "t.json"),
        )
        wall = time.perf_counter() - started
        row = {
            "backup_seconds": seconds,
            "wall": round(wall, 1),
            "train_seconds": summary["train_seconds"],
            "outside_epochs": round(wall - summary["train_seconds"], 1),
            "train_images": summary["train_images"],
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    typer.run(main)
