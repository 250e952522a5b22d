"""Where one variation's training step spends its time, op by op (TensorFlow on the CPU).

Trains the variation exactly as `train@<v>` does (same model, augmentation, optimizer,
precision, steps per execution and feed) on random pixels for `--epochs` epochs under
TensorFlow's profiler, then prints the time per training step of each layer's ops and,
for the convolutions and matrix products, the rate they reach against the machine's
matmul rate (`benchmarks/flops.py`): how far the arithmetic itself is from the ceiling,
and how much of the step is not arithmetic at all.

    python -m benchmarks.step_profile                        # v4, params.yaml's precision
    python -m benchmarks.step_profile --precision mixed_bfloat16
"""

from __future__ import annotations

import collections
import json
import re
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.flops import dtype_of, layer_training_flops, matmul_flops_per_second
from stages.core.config import load_params
from stages.core.dataset import Split
from stages.training.feed import fit_data
from stages.training.model import build_classifier, build_trainer, compile_model, dtype_policy

ARITHMETIC = re.compile(r"Conv2D|MatMul")
OPTIMIZER = re.compile(r"/(adam|rmsprop)/")
LAYER = re.compile(r"/(conv\d+|dense\d+|dog_probability|pool\d+|rescale|augmentation)_?\d*/")


def where_of(operation: str, kind: str) -> str:
    """The layer an op belongs to, or 'optimizer', or 'other'."""
    if layer := LAYER.search(operation):
        return layer.group(1)
    return "optimizer" if OPTIMIZER.search(operation) or "Apply" in kind else "other"


def op_seconds(profile_dir: Path) -> dict[tuple[str, str], float]:
    """Self-time of every op, summed by (layer or 'optimizer' or 'other', op type)."""
    import tensorflow as tf  # noqa: F401  (loads the profiler's C++ extension)
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    paths = [str(p) for p in profile_dir.rglob("*.xplane.pb")]
    data, _ = _pywrap_profiler_plugin.xspace_to_tools_data(paths, "framework_op_stats")
    table = json.loads(data)[0]
    columns = [column["id"] for column in table["cols"]]
    totals: dict[tuple[str, str], float] = collections.Counter()
    for row in table["rows"]:
        op = dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]], strict=True))
        if op["type"] == "IDLE":
            continue
        totals[where_of(op["operation"], op["type"]), op["type"]] += op["total_self_time"] / 1e6
    return totals


def main(
    variation: Annotated[str, typer.Option()] = "v4",
    precision: Annotated[str | None, typer.Option(help="Default: params.yaml's.")] = None,
    photos: Annotated[int, typer.Option(help="Training photos per epoch.")] = 2048,
    epochs: Annotated[int, typer.Option(help="Profiled epochs, after one warm-up.")] = 2,
    params_file: Annotated[Path, typer.Option("--params")] = Path("params.yaml"),
) -> None:
    """Print the per-step time of each layer's ops and the arithmetic's efficiency."""
    import tensorflow as tf

    params = load_params(params_file)
    precision = precision or params.train.precision
    chosen = params.variation(variation)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (photos, params.image.height, params.image.width, 3), np.uint8)
    labels = rng.integers(0, 2, photos).astype("float32")
    split = Split(images=images, labels=labels, filenames=[])
    with dtype_policy(precision):
        classifier = build_classifier(chosen, params.image)
        trainer = compile_model(
            build_trainer(classifier, params.augment, params.train.seeds[0]),
            chosen,
            params.train.steps_per_execution,
        )
    data = fit_data(split, split, chosen.batch_size, params.train.seeds[0])
    data.pop("validation_data")
    trainer.fit(**data, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as profile_dir:
        tf.profiler.experimental.start(profile_dir)
        trainer.fit(**data, epochs=epochs, verbose=0)
        tf.profiler.experimental.stop()
        seconds = op_seconds(Path(profile_dir))

    steps = epochs * -(-photos // chosen.batch_size)
    rate = matmul_flops_per_second(dtype_of(precision))
    flops = layer_training_flops(classifier)
    total = sum(seconds.values())
    print(
        f"{variation}, {precision}, batch {chosen.batch_size}: {1e3 * total / steps:.1f} ms "
        f"of ops per step; matmul rate {rate / 1e9:.0f} GFLOP/s"
    )
    print("| layer | op | ms/step | share |")
    print("|---|---|---|---|")
    for (where, kind), spent in sorted(seconds.items(), key=lambda item: -item[1]):
        if spent / total < 0.005:
            continue
        print(f"| {where} | {kind} | {1e3 * spent / steps:.1f} | {spent / total:.0%} |")
    arithmetic = collections.Counter()
    for (where, kind), spent in seconds.items():
        if where in flops and ARITHMETIC.search(kind):
            arithmetic[where] += spent
    print()
    print("| layer | conv/matmul ms/step | GFLOP/s | share of matmul rate |")
    print("|---|---|---|---|")
    for where, spent in sorted(arithmetic.items()):
        achieved = flops[where] * photos * epochs / spent
        per_step = 1e3 * spent / steps
        print(f"| {where} | {per_step:.1f} | {achieved / 1e9:.0f} | {achieved / rate:.0%} |")
    kernels = sum(arithmetic.values())
    ideal = sum(flops.values()) * photos * epochs / rate
    print(
        f"\nconv/matmul kernels: {kernels / total:.0%} of the op time, at {ideal / kernels:.0%} "
        f"of the matmul rate; the whole step at {ideal / total:.0%} of the FLOP ceiling"
    )


if __name__ == "__main__":
    typer.run(main)
