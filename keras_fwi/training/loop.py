"""One training loop for every ``tf.distribute`` strategy: default, mirrored and multi-worker.

Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585: it
reduces the step's per-replica outputs in a way that strategy rejects). This loop runs the step
itself, so the three strategies share one code path and cannot drift apart:

- the step (``strategy.run`` inside a ``tf.function``, XLA-compiled when allowed) computes the loss
  with ``model.compute_loss`` (the local batch's mean divided by the number of replicas) weighted by
  the local batch's share of the global batch, so the all-reduced gradient is the gradient of the mean
  over the global batch (``tf.nn.compute_average_loss``), uneven last batches included;
- ``optimizer.scale_loss`` scales it for ``mixed_float16`` (``compile`` wraps the optimizer in a
  ``LossScaleOptimizer`` there, and its ``apply_gradients`` unscales and skips non-finite steps);
- the loss and the compiled metrics are Keras metrics whose variables sum over replicas when read
  (``SyncOnRead``): their results, read outside ``strategy.run``, are over all replicas and workers;
- the callbacks run through ``keras.callbacks.CallbackList`` in ``fit``'s order with ``fit``'s
  ``logs`` keys (``loss``, the metric names, ``val_*``), so history.csv, checkpoints and backups
  are the same as with ``fit``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

__all__ = ["EpochData", "run_epochs"]


@dataclasses.dataclass
class EpochData:
    """What the loop iterates.

    Args:
        train: distributed dataset (``strategy.experimental_distribute_dataset`` or
            ``distribute_datasets_from_function``) of ``(seismic, velocity)`` batches for every
            remaining epoch, one epoch after another.
        steps_per_epoch: int, steps of each epoch (the same on every worker).
        validation: distributed dataset that repeats the passes over the held-out data, or None.
        validation_steps: int, batches of one pass.

    One iterator of each serves every epoch: an iterator per epoch over a distributed dataset kept
    each old one's reader alive (RSS grew by the held-out set's size every epoch).
    """

    train: object
    steps_per_epoch: int
    validation: object = None
    validation_steps: int = 0


def _loss_tracker(model: keras.Model) -> keras.metrics.Metric:
    """The compiled model's ``loss`` metric (``model.metrics[0]``, a ``Mean``), as ``fit`` updates it."""
    return next(metric for metric in model.metrics if metric.name == "loss")


def _build_metrics(model: keras.Model, element_spec) -> None:
    """Create the compiled metrics' state before the first step (as ``fit`` does symbolically):
    variables cannot be created inside ``strategy.run``."""
    model._symbolic_build(data_batch=element_spec)  # Keras' own build from shapes; nothing runs


def _share_of_global_mean(x) -> tf.Tensor:
    """``local batch × replicas / global batch``: the factor that turns ``compute_loss``'s local mean
    divided by the replicas into this replica's part of the mean over the global batch. It is 1 when
    the replicas' shares are equal; a last partial batch split unevenly (3 + 2 samples) would otherwise
    weigh the smaller share's samples more than one process does."""
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:  # one device: nothing to weigh, no collective in the step
        return tf.constant(1.0)
    local = tf.cast(tf.shape(x)[0], tf.float32)
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    return local * float(context.num_replicas_in_sync) / tf.maximum(total, 1.0)


def _replica_train_step(model: keras.Model, batch):
    """One replica's step on its share ``(x, y)`` of the global batch; updates weights and metrics."""
    x, y = batch
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)  # local mean / replicas
        share = tf.cast(_share_of_global_mean(x), loss.dtype)
        scaled = model.optimizer.scale_loss(loss * share)
    weights = model.trainable_weights
    gradients = tape.gradient(scaled, weights)
    model.optimizer.apply_gradients(zip(gradients, weights))  # all-reduces the gradients over replicas
    _update_metrics(model, x, y, y_pred, loss)


def _replica_test_step(model: keras.Model, batch):
    x, y = batch
    y_pred = model(x, training=False)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
    _update_metrics(model, x, y, y_pred, loss)


def _update_metrics(model, x, y, y_pred, loss):
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    # fit's loss metric: the local batch mean weighted by the local batch size, summed over replicas on read.
    _loss_tracker(model).update_state(loss * tf.cast(replicas, loss.dtype), sample_weight=tf.shape(x)[0])
    model.compute_metrics(x, y, y_pred)  # the compiled metrics; its returned results are not used here


def _results(model: keras.Model) -> dict:
    """Every metric's result over all replicas and workers (called in cross-replica context)."""
    return model.get_metrics_result()


def _functions(model: keras.Model, strategy: tf.distribute.Strategy, jit_compile: bool):
    """``(train_function(iterator) -> logs, test_on_batch(batch), results() -> logs)``, all ``tf.function``."""

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def train_on_batch(batch):
        strategy.run(_replica_train_step, args=(model, batch))

    @tf.function
    def train_function(iterator):
        train_on_batch(next(iterator))
        return _results(model)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def test_on_batch(batch):
        strategy.run(_replica_test_step, args=(model, batch))

    return train_function, test_on_batch, tf.function(lambda: _results(model))


def _python_logs(logs: dict) -> dict:
    return {name: float(np.asarray(value)) for name, value in logs.items()}


def _validate(model, functions, validation, steps: int, callbacks) -> dict:
    """One pass (``steps`` batches of the ``validation`` iterator) over the held-out data; ``fit``'s
    ``val_*`` logs (evaluate's callback hooks included)."""
    _, test_on_batch, results = functions
    model.reset_metrics()
    callbacks.on_test_begin()
    for step in range(steps):
        callbacks.on_test_batch_begin(step)
        test_on_batch(next(validation))
        callbacks.on_test_batch_end(step)
    logs = _python_logs(results())
    callbacks.on_test_end(logs)
    return {f"val_{name}": value for name, value in logs.items()}


def run_epochs(model: keras.Model, strategy: tf.distribute.Strategy, data: EpochData, *, initial_epoch: int,
               epochs: int, callbacks, verbose: int = 1, jit_compile: bool = False,
               element_spec=None) -> keras.callbacks.History:
    """Train epochs ``initial_epoch … epochs - 1`` of a compiled ``model`` (made under ``strategy.scope()``).

    Args:
        model: compiled Keras model whose variables belong to ``strategy``.
        strategy: the ``tf.distribute`` strategy (``tf.distribute.get_strategy()`` for the default).
        data: the distributed batches (``EpochData``).
        initial_epoch, epochs: int, train epochs ``initial_epoch`` (0-based) up to ``epochs`` (exclusive).
        callbacks: list of Keras callbacks (set to ``model.stop_training = True`` to stop after a batch).
        verbose: 0 (silent), 1 or 2, as ``fit``'s; passed to the callbacks' params.
        jit_compile: compile each step with XLA.
        element_spec: the per-replica batch's ``(seismic, velocity)`` ``tf.TensorSpec`` pair, to
            build the compiled metrics (default: the training dataset's ``element_spec``).

    Returns:
        The ``keras.callbacks.History`` (``history.history[key]``: per-epoch values).
    """
    with strategy.scope():
        _build_metrics(model, element_spec if element_spec is not None else data.train.element_spec)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    functions = _functions(model, strategy, jit_compile)
    train_function = functions[0]
    callbacks = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=False, model=model,
                                             verbose=verbose, epochs=epochs, steps=data.steps_per_epoch)
    model.stop_training = False
    iterator = iter(data.train)
    validation = iter(data.validation) if data.validation is not None else None
    callbacks.on_train_begin()
    training_logs = None
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        logs = {}
        for step in range(data.steps_per_epoch):
            callbacks.on_train_batch_begin(step)
            logs = train_function(iterator)
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = _python_logs(logs)
        if validation is not None:
            epoch_logs.update(_validate(model, functions, validation, data.validation_steps, callbacks))
        callbacks.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    if epochs > initial_epoch:
        model.optimizer.finalize_variable_values(model.trainable_weights)  # EMA weights, as fit
    callbacks.on_train_end(logs=training_logs)
    return next(callback for callback in callbacks.callbacks if isinstance(callback, keras.callbacks.History))
