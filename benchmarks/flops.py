"""The FLOP ceiling: how many photos a second a variation could train at if this machine
did nothing but the model's multiply-adds at its best measured rate.

- Work per photo: the multiply-adds of every Conv2D and Dense layer, counted from the
  layer shapes, times 2 FLOPs, times 3 for training (the forward pass, then gradients
  with respect to the inputs and to the weights, each as costly as the forward pass),
  except that the first layer needs no input gradient (2 passes).
  Pooling, activations, augmentation and the optimizer are left out: they are the
  overhead the efficiency figure measures.
- Rate: the median of several timed square matrix products (large enough to run at the
  library's best) in the given dtype, on the backend in use.

    python -m benchmarks.flops                                  # every variation, both dtypes
    python -m benchmarks.flops --variation v4 --dtype bfloat16  # one ceiling, in img/s
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
import typer
from keras import ops

from stages.core.config import Params, load_params
from stages.training.model import build_classifier

TRAINING_PASSES = 3


def layer_multiply_adds(model: keras.Model) -> dict[str, tuple[int, int]]:
    """Each Conv2D and Dense layer's multiply-adds in one photo's forward pass, and how many
    times training runs that much work: the forward pass and the weight gradient, plus
    the input gradient for every layer but the first (the photo needs no gradient)."""
    layers: dict[str, tuple[int, int]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            _, out_h, out_w, _ = layer.output.shape
            adds = out_h * out_w * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            adds = math.prod(layer.kernel.shape)
        else:
            continue
        layers[layer.name] = (adds, TRAINING_PASSES if layers else TRAINING_PASSES - 1)
    return layers


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one photo's forward pass through the Conv2D and Dense layers."""
    return sum(adds for adds, _ in layer_multiply_adds(model).values())


def layer_training_flops(model: keras.Model) -> dict[str, int]:
    """Each Conv2D and Dense layer's FLOPs to train on one photo: 2 per multiply-add, in
    every pass training runs."""
    return {name: 2 * adds * passes for name, (adds, passes) in layer_multiply_adds(model).items()}


def training_flops_per_image(model: keras.Model) -> int:
    """FLOPs to train on one photo, all layers together."""
    return sum(layer_training_flops(model).values())


def matmul_flops_per_second(dtype: str, size: int = 2048, repeats: int = 7) -> float:
    """The median rate of `size`-square matrix products in `dtype` on this backend."""
    rng = np.random.default_rng(0)
    left = ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
    right = ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)

    def product_sum() -> float:  # a scalar back on the host: the product has finished
        return float(ops.convert_to_numpy(ops.cast(ops.sum(ops.matmul(left, right)), "float32")))

    product_sum()  # warm up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        product_sum()
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(seconds)


def dtype_of(precision: str) -> str:
    """The compute dtype of a `train.precision`: float32, bfloat16 or float16."""
    return precision.removeprefix("mixed_")


def ceiling_images_per_second(params: Params, variation: str, flops_per_second: float) -> float:
    """Photos a second at `flops_per_second` of pure model arithmetic."""
    model = build_classifier(params.variation(variation), params.image)
    return flops_per_second / training_flops_per_image(model)


def main(
    variation: Annotated[str | None, typer.Option(help="Print only this one's ceiling.")] = None,
    dtype: Annotated[str, typer.Option(help="With --variation: float32 or bfloat16.")] = "float32",
    params_file: Annotated[Path, typer.Option("--params")] = Path("params.yaml"),
) -> None:
    """Print every variation's training MFLOP per photo and its ceiling at both dtypes, or
    with --variation, that variation's ceiling in img/s at --dtype alone."""
    params = load_params(params_file)
    if variation is not None:
        print(ceiling_images_per_second(params, variation, matmul_flops_per_second(dtype)))
        return
    rates = {name: matmul_flops_per_second(name) for name in ("float32", "bfloat16")}
    print(f"matmul rate: {', '.join(f'{d} {r / 1e9:.0f} GFLOP/s' for d, r in rates.items())}")
    print("| variation | training MFLOP/photo | ceiling float32 img/s | ceiling bf16 img/s |")
    print("|---|---|---|---|")
    # The count knows Conv2D and Dense only: a backbone's depthwise convolutions (v7) are not.
    for name in [name for name, v in params.variations.items() if v.backbone is None]:
        model = build_classifier(params.variation(name), params.image)
        flops = training_flops_per_image(model)
        print(
            f"| {name} | {flops / 1e6:.0f} | {rates['float32'] / flops:.0f} | "
            f"{rates['bfloat16'] / flops:.0f} |"
        )


if __name__ == "__main__":
    typer.run(main)
