"""The JAX backend's training engine: `fit`'s contract, with the photos resident on the device.

Keras' `fit` feeds every batch from the host, and Python dispatches every step: a fast
GPU then waits on both. Here both splits are copied to the device once. An epoch is one
jitted call, a `lax.scan` of Keras' own stateless `train_step` over batches gathered on
the device by row number; validation is another, over `test_step`. Python sees the
device twice per epoch (on a GPU or TPU; on the CPU, once per batch: see `ResidentLoop`).

Between epochs the state goes back into the Keras variables and the callbacks run as
under `fit` (`on_train_begin`, `on_epoch_begin`, `on_test_begin`, `on_epoch_end` with
the same logs, `on_train_end`), so the history, `BackupAndRestore`'s resume, early
stopping and the saved model are what `fit` gives. Per-batch callback hooks do not run.

The batch order of an epoch depends on the seed and the epoch alone (`epoch_order`), so
a run resumed after a crash sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from stages.core.dataset import Split

Logs = dict[str, float]


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """Row numbers 0..count-1 in epoch `epoch`'s training order (0-based epochs)."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def batch_rows(rows: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`rows` as (full batches, batch_size) and the short last batch (maybe empty), the
    batches `fit` makes."""
    full = len(rows) // batch_size * batch_size
    return rows[:full].reshape(-1, batch_size), rows[full:]


def _scan(step: Callable, state: Any, images: Any, labels: Any, rows: Any, place: Callable):
    """Run Keras' stateless `step` over the batches of `rows` (batches, batch size); return
    the last step's logs (the running metrics of all of them) and the state."""
    import jax

    def one_batch(state, batch):
        logs, state = step(state, (place(images[batch]), place(labels[batch])))
        return state, logs

    state, logs = jax.lax.scan(one_batch, state, rows)
    return jax.tree.map(lambda values: values[-1], logs), state


def _step(step: Callable, state: Any, images: Any, labels: Any, rows: Any, place: Callable):
    """Run `step` on the one batch `rows`."""
    return step(state, (place(images[rows]), place(labels[rows])))


class ResidentLoop:
    """Trains a compiled Keras model (JAX backend) on device-resident splits, epoch by epoch."""

    def __init__(self, trainer: keras.Model, batch_size: int) -> None:
        import jax

        self.trainer, self.batch_size = trainer, batch_size
        # XLA's CPU backend ran a scanned step over twice as slow as the same step called
        # alone (v4 at 66x66 on 2 shared cores: 17-38 against 62-85 img/s): there, Python
        # dispatches each batch, the data still on the device.
        self.scan_batches = jax.default_backend() != "cpu"
        self.distribution = keras.distribution.distribution()
        self._train = self._compiled(trainer.train_step, donate=True)
        self._test = self._compiled(trainer.test_step, donate=False)

    def _compiled(self, step: Callable, donate: bool) -> tuple[Callable, Callable]:
        """Jitted (scan over full batches, one short batch) versions of `step`; `donate`
        lets them update the state's buffers in place."""
        import jax

        donated = (0,) if donate else ()
        scan = jax.jit(
            functools.partial(_scan, step, place=self._place_batch), donate_argnums=donated
        )
        single = jax.jit(
            functools.partial(_step, step, place=self._place_batch), donate_argnums=donated
        )
        return scan, single

    def _place_batch(self, batch: Any) -> Any:
        """Split a gathered batch across the devices under `train.distribution:
        data_parallel` (when it divides evenly); leave it where it is otherwise."""
        if self.distribution is None:
            return batch
        import jax

        layout = self.distribution.get_data_layout(batch.shape).backend_layout
        if batch.shape[0] % layout.mesh.size:
            return batch
        return jax.lax.with_sharding_constraint(batch, layout)

    def to_device(self, split: Split) -> tuple[Any, Any]:
        """The split's photos and labels on the device (on every device, replicated, under
        data_parallel)."""
        import jax

        if self.distribution is None:
            return jax.device_put(split.images), jax.device_put(split.labels)
        from jax.sharding import NamedSharding, PartitionSpec

        everywhere = NamedSharding(self.distribution.device_mesh.backend_mesh, PartitionSpec())
        return jax.device_put(split.images, everywhere), jax.device_put(split.labels, everywhere)

    def _run(self, compiled: tuple[Callable, Callable], state, data, rows) -> tuple[Logs, Any]:
        """One pass of `compiled` over `rows` in `fit`'s batches; the pass's logs as floats
        (which waits for the device) and the state."""
        scan, single = compiled
        full, rest = batch_rows(rows, self.batch_size)
        logs: dict[str, Any] = {}
        if len(full) and self.scan_batches:
            logs, state = scan(state, *data, full)
        else:
            for batch in full:
                logs, state = single(state, *data, batch)
        if len(rest):
            logs, state = single(state, *data, rest)
        return {name: float(value) for name, value in logs.items()}, state

    def train_epoch(self, data: tuple[Any, Any], rows: np.ndarray) -> Logs:
        """One epoch of training on `rows` of `data`, in that order; the model's variables
        hold the result."""
        trainer = self.trainer
        trainer.reset_metrics()
        state = (
            _values(trainer.trainable_variables),
            _values(trainer.non_trainable_variables),
            _values(trainer.optimizer.variables),
            _values(trainer.metrics_variables),
        )
        logs, state = self._run(self._train, state, data, rows)
        trainable, non_trainable, optimizer, metrics = state
        _assign(trainer.trainable_variables, trainable)
        _assign(trainer.non_trainable_variables, non_trainable)
        _assign(trainer.optimizer.variables, optimizer)
        _assign(trainer.metrics_variables, metrics)
        return logs

    def evaluate(self, data: tuple[Any, Any], count: int) -> Logs:
        """The loss and metrics on all `count` rows of `data`, as `evaluate` gives them."""
        trainer = self.trainer
        trainer.reset_metrics()
        state = (
            _values(trainer.trainable_variables),
            _values(trainer.non_trainable_variables),
            _values(trainer.metrics_variables),
        )
        logs, _ = self._run(self._test, state, data, np.arange(count))
        return logs


def _values(variables: Sequence[keras.Variable]) -> list[Any]:
    """The variables' current arrays: one part of the stateless steps' state."""
    return [variable.value for variable in variables]


def _assign(variables: Sequence[keras.Variable], values: Sequence[Any]) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def fit_resident(
    trainer: keras.Model,
    train: Split,
    validation: Split,
    *,
    batch_size: int,
    seed: int,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    verbose: int,
    initial_epoch: int = 0,
) -> None:
    """Train `trainer` (compiled, JAX backend) like `trainer.fit(train, validation_data=
    validation, epochs=..., callbacks=...)`, the batches drawn by `epoch_order`."""
    if keras.backend.backend() != "jax":
        raise RuntimeError("the resident engine needs the jax backend")
    loop = ResidentLoop(trainer, batch_size)
    trainer._symbolic_build(data_batch=(train.images[:batch_size], train.labels[:batch_size]))
    train_data, validation_data = loop.to_device(train), loop.to_device(validation)
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=-(-len(train.labels) // batch_size),
        model=trainer,
    )
    trainer.stop_training = False
    callback_list.on_train_begin()
    logs: Logs = {}
    for epoch in range(trainer._initial_epoch or initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        logs = loop.train_epoch(train_data, epoch_order(len(train.labels), seed, epoch))
        callback_list.on_test_begin()
        validation_logs = loop.evaluate(validation_data, len(validation.labels))
        callback_list.on_test_end(validation_logs)
        logs |= {f"val_{name}": value for name, value in validation_logs.items()}
        callback_list.on_epoch_end(epoch, logs)
        if trainer.stop_training:
            break
    trainer.optimizer.finalize_variable_values(trainer.trainable_weights)
    callback_list.on_train_end(logs)
