"""All six variations on one accelerator, with the training set resident on the device.

Host-fed `fit` leaves a fast GPU waiting on Python and on host-to-device copies. Here the
photos are copied to the device once, and each epoch is one jitted JAX function: a
`lax.scan` over shuffled batches (gathered on the device, augmented by our
`RandomAffine` layer, forward, backward, optimizer step), then the validation pass over
the test photos. Python sees the device once per epoch.

The models, augmentation and optimizers are the pipeline's own (`stages.training.model`,
`params.yaml`); the photos are synthetic 120x120 pictures drawn with NumPy on the host
(a bright bar, upright for dogs and level for cats, on noise), so the script needs
nothing but JAX, Keras and the project's config libraries, and the accuracies mean
something.

    KERAS_BACKEND=jax python benchmarks/gpu_train.py                   # 20,000 photos, 50 epochs
    KERAS_BACKEND=jax python benchmarks/gpu_train.py --photos 64 --epochs 2 --variations v4

Prints one line per variation (seconds including compile, img/s, final test accuracy)
and a Markdown table with the device's name; `--json` also writes the figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from stages.core.config import Params, load_params

TEST_FRACTION = 0.2


def synthetic_photos(count: int, height: int, width: int, seed: int):
    """`count` uint8 photos and 0/1 labels: a bright bar, upright (dog, 1) or level (cat,
    0), at a random place, length and shade, on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count).astype("float32")
    photos = rng.integers(0, 120, (count, height, width, 3), dtype=np.uint8)
    for photo, label in zip(photos, labels, strict=True):
        long_side = rng.integers(height // 3, height // 2)
        short_side = max(2, height // 12)
        bar_h, bar_w = (long_side, short_side) if label else (short_side, long_side)
        top = rng.integers(0, height - bar_h)
        left = rng.integers(0, width - bar_w)
        photo[top : top + bar_h, left : left + bar_w] = rng.integers(170, 256, 3)
    return photos, labels


def epoch_function(params: Params, name: str, train_count: int, test_count: int):
    """The variation's model and optimizer, and one jitted epoch:
    `(state, key, train_x, train_y, test_x, test_y) -> (state, train loss, test acc, loss)`."""
    import jax
    import jax.numpy as jnp
    import keras

    from stages.training.model import build_classifier, build_optimizer, build_trainer

    variation = params.variation(name)
    classifier = build_classifier(variation, params.image, name=name)
    trainer = build_trainer(classifier, params.augment, params.train.seeds[0])
    optimizer = build_optimizer(variation)
    optimizer.build(trainer.trainable_variables)
    batch = variation.batch_size
    steps, test_steps = train_count // batch, max(1, test_count // batch)

    def loss_of(trainable, non_trainable, photos, labels):
        predicted, non_trainable = trainer.stateless_call(
            trainable, non_trainable, photos, training=True
        )
        loss = keras.losses.binary_crossentropy(labels[:, None], predicted)
        return jnp.mean(loss), non_trainable

    gradient = jax.value_and_grad(loss_of, has_aux=True)

    @jax.jit
    def epoch(state, key, train_x, train_y, test_x, test_y):
        def train_step(state, indices):
            trainable, non_trainable, optimizer_state = state
            (loss, non_trainable), grads = gradient(
                trainable, non_trainable, train_x[indices], train_y[indices]
            )
            trainable, optimizer_state = optimizer.stateless_apply(
                optimizer_state, grads, trainable
            )
            return (trainable, non_trainable, optimizer_state), loss

        def test_step(totals, indices):
            predicted, _ = trainer.stateless_call(
                state[0], state[1], test_x[indices], training=False
            )
            labels = test_y[indices][:, None]
            correct = jnp.sum((predicted >= 0.5) == (labels >= 0.5))
            loss = jnp.sum(keras.losses.binary_crossentropy(labels, predicted))
            return (totals[0] + correct, totals[1] + loss), None

        order = jax.random.permutation(key, train_count)[: steps * batch]
        state, losses = jax.lax.scan(train_step, state, order.reshape(steps, batch))
        test_order = jnp.arange(test_steps * batch).reshape(test_steps, batch) % test_count
        (correct, test_loss), _ = jax.lax.scan(test_step, (0, 0.0), test_order)
        seen = test_steps * batch
        return state, jnp.mean(losses), correct / seen, test_loss / seen

    initial = (
        [v.value for v in trainer.trainable_variables],
        [v.value for v in trainer.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )
    return classifier, initial, epoch


def train_variation(params: Params, name: str, epochs: int, data: tuple) -> dict[str, object]:
    """Train one variation for `epochs` on the device-resident `data`; its figures."""
    import jax

    train_x, train_y, test_x, test_y = data
    classifier, state, epoch = epoch_function(params, name, len(train_y), len(test_y))
    key = jax.random.PRNGKey(params.train.seeds[0])
    started = time.perf_counter()
    for _ in range(epochs):
        key, shuffle = jax.random.split(key)
        state, train_loss, test_accuracy, test_loss = epoch(
            state, shuffle, train_x, train_y, test_x, test_y
        )
    test_accuracy = float(test_accuracy)  # waits for the device
    seconds = time.perf_counter() - started
    return {
        "variation": name,
        "params": classifier.count_params(),
        "seconds": round(seconds, 2),
        "train_images_per_second": round(len(train_y) * epochs / seconds, 1),
        "train_loss": round(float(train_loss), 4),
        "test_accuracy": round(test_accuracy, 4),
        "test_loss": round(float(test_loss), 4),
    }


def main(
    photos: Annotated[int, typer.Option(min=10, help="Synthetic photos, train + test.")] = 20_000,
    epochs: Annotated[int, typer.Option(min=1)] = 50,
    variations: Annotated[str, typer.Option(help="Comma-separated; default: all.")] = "",
    precision: Annotated[str, typer.Option(help="float32 or mixed_bfloat16.")] = "",
    params_file: Annotated[Path, typer.Option("--params")] = Path("params.yaml"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
) -> None:
    """Train the variations one after another with the data on the device; time each."""
    if os.environ.get("KERAS_BACKEND") != "jax":
        raise typer.BadParameter("run with KERAS_BACKEND=jax", param_hint="KERAS_BACKEND")
    import jax
    import keras

    params = load_params(params_file)
    names = [name for name in variations.split(",") if name] or list(params.variations)
    keras.config.set_dtype_policy(precision or params.train.precision)
    keras.utils.set_random_seed(params.train.seeds[0])
    images, labels = synthetic_photos(
        photos, params.image.height, params.image.width, params.train.seeds[0]
    )
    cut = int(len(labels) * (1 - TEST_FRACTION))
    data = tuple(
        jax.device_put(part) for part in (images[:cut], labels[:cut], images[cut:], labels[cut:])
    )
    device = jax.devices()[0].device_kind
    print(f"{device}: {cut} train / {len(labels) - cut} test photos on the device", file=sys.stderr)
    started = time.perf_counter()
    results = []
    for name in names:
        results.append(train_variation(params, name, epochs, data))
        row = results[-1]
        print(
            f"{name}: {row['seconds']} s, {row['train_images_per_second']} img/s, "
            f"test accuracy {row['test_accuracy']}",
            file=sys.stderr,
            flush=True,
        )
    total = time.perf_counter() - started
    print(f"| variation | seconds ({epochs} epochs, compile included) | img/s | test accuracy |")
    print("|---|---|---|---|")
    for row in results:
        print(
            f"| {row['variation']} | {row['seconds']} | {row['train_images_per_second']} "
            f"| {row['test_accuracy']} |"
        )
    print(f"| all, on {device} | {total:.1f} | | |")
    if json_out is not None:
        summary = {"device": device, "epochs": epochs, "photos": photos, "results": results}
        json_out.write_text(json.dumps({**summary, "total_seconds": round(total, 2)}, indent=2))


if __name__ == "__main__":
    typer.run(main)
