"""Every variation's steady training img/s at float32 and at mixed_bfloat16, against
the FLOP ceiling of each.

Uses `train_speed.py`'s scratch workspace (the same archive and split), reproduces
`train@<variation>` for every variation at each precision with `--epochs` epochs, and
reads the steady-state training img/s (first epoch and validation left out) that the
stage records in `runs/<variation>/<seed>/train.json`. The ceilings are measured in the
same run (`benchmarks/flops.py`).

    python -m benchmarks.variation_speed             # 5,000 photos, 2 epochs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.flops import ceiling_images_per_second, dtype_of, matmul_flops_per_second
from benchmarks.ingest import full_size_archive
from benchmarks.train_speed import prepared_workspace
from stages.core.config import load_params
from tests.support.params import edit_params, set_params
from tests.support.workspace import first_run, run

PRECISIONS = ("float32", "mixed_bfloat16")


def steady_rates(workspace: Path, names: list[str], precision: str, epochs: int) -> dict:
    """Reproduce every variation's training at `precision`; their steady img/s."""
    settings: dict[str, object] = {"train.precision": precision}
    settings.update({f"variations.{name}.epochs": epochs for name in names})
    edit_params(workspace, set_params(settings))
    rates = {}
    for name in names:
        stage, summary_path = first_run(workspace, name)
        run(["dvc", "repro", "--single-item", stage], workspace)
        summary = json.loads(summary_path.read_text())
        rates[name] = summary["steady_train_images_per_second"]
        print(f"{name} {precision}: {rates[name]:.0f} img/s", file=sys.stderr, flush=True)
    return rates


def main(
    count: Annotated[int, typer.Option(help="Photos in the synthetic archive.")] = 5_000,
    epochs: Annotated[int, typer.Option(min=2, help="Epochs per training.")] = 2,
    workdir: Annotated[Path, typer.Option(help="Scratch folder, kept between runs.")] = Path(
        "benchmarks/.work"
    ),
) -> None:
    """Print a table of steady img/s per variation and precision, with the ceilings."""
    workdir.mkdir(parents=True, exist_ok=True)
    workspace = prepared_workspace(workdir, full_size_archive(workdir, count))
    params = load_params(workspace / "params.yaml")
    # Backbones (v7) have no FLOP ceiling here (flops.py counts Conv2D and Dense only).
    names = [name for name, variation in params.variations.items() if variation.backbone is None]
    run(["dvc", "repro", "validate"], workspace)
    rates, flops = {}, {}
    for precision in PRECISIONS:
        rates[precision] = steady_rates(workspace, names, precision, epochs)
        flops[precision] = matmul_flops_per_second(dtype_of(precision))
    print("| variation | float32 img/s (ceiling) | mixed_bfloat16 img/s (ceiling) | bf16 / fp32 |")
    print("|---|---|---|---|")
    for name in names:
        cells = []
        for precision in PRECISIONS:
            ceiling = ceiling_images_per_second(params, name, flops[precision])
            rate = rates[precision][name]
            cells.append(f"{rate:.0f} ({rate / ceiling:.0%} of {ceiling:.0f})")
        speedup = rates["mixed_bfloat16"][name] / rates["float32"][name]
        print(f"| {name} | {cells[0]} | {cells[1]} | {speedup:.2f}x |")


if __name__ == "__main__":
    typer.run(main)
