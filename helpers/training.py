"""Seeding, compiling, training and evaluating, with plain JSON-ready records."""

from __future__ import annotations

import json
import math
import time

import keras
import numpy as np
import tensorflow as tf

from helpers.data import Task
from helpers.models import parameter_counts

OPTIMIZERS = {
    "adadelta": keras.optimizers.Adadelta,
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic.

    The same seed on the same machine and settings then gives identical numbers.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r}; use a non-negative integer")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def check_training_parameters(
    epochs: int, batch_size: int, optimizer: str, learning_rate: float
) -> None:
    """Raise ValueError naming the first bad training parameter."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name}={value!r}; it must be an integer >= 1")
        if value < 1:
            raise ValueError(f"{name}={value}; it must be 1 or more")
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is unknown; choose one of {sorted(OPTIMIZERS)}"
        )
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, int | float)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise ValueError(f"learning_rate={learning_rate!r}; it must be a number > 0")


def compile_model(model: keras.Model, optimizer: str, learning_rate: float) -> None:
    """Compile for integer labels with a fresh optimizer.

    Call it after every change of ``trainable``: Keras 3 fixes the set of
    trained weights at compile time.
    """
    check_training_parameters(1, 1, optimizer, learning_rate)
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train_and_evaluate(
    model: keras.Model,
    task: Task,
    *,
    epochs: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float,
    seed: int,
    label: str = "",
    progress: bool = True,
) -> dict:
    """Compile, train for ``epochs`` on ``task``'s training set, evaluate.

    An epoch is ``ceil(n / batch_size)`` gradient steps, as in ``model.fit``,
    taken by the compiled loop of :func:`train_for_steps`. After every epoch the
    mean training loss and accuracy of its steps (dropout on, as Keras reports
    them) and the loss and accuracy on the task's validation set (if it has one)
    are recorded, and printed as one line if ``progress``. Returns a
    JSON-serialisable record of the run.
    """
    check_training_parameters(epochs, batch_size, optimizer, learning_rate)
    compile_model(model, optimizer, learning_rate)
    set_seed(seed)
    per_epoch = math.ceil(len(task.y_train) / batch_size)
    order = batch_order(len(task.y_train), epochs * per_epoch, batch_size, seed)
    runner = _runner(model, optimizer, order.shape[1])
    runner.load(model, learning_rate)
    examples, labels = _as_tensors(task.x_train, task.y_train)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        steps = order[epoch * per_epoch : (epoch + 1) * per_epoch]
        total_loss, correct = runner.run(examples, labels, tf.constant(steps))
        runner.store(model)
        seconds.append(time.perf_counter() - start)
        history["loss"].append(float(total_loss) / len(steps))
        history["accuracy"].append(float(correct) / steps.size)
        if len(task.y_val):
            val_loss, val_accuracy = evaluate(model, task.x_val, task.y_val)
            history.setdefault("val_loss", []).append(val_loss)
            history.setdefault("val_accuracy", []).append(val_accuracy)
        if progress:
            shown = ", ".join(
                f"{key} {values[-1]:.4f}" for key, values in history.items()
            )
            prefix = f"{label}: " if label else ""
            print(
                f"{prefix}epoch {epoch + 1}/{epochs}  {shown}  ({seconds[-1]:.1f} s)",
                flush=True,
            )
    test_loss, test_accuracy = evaluate(model, task.x_test, task.y_test)
    return {
        "digits": task.digits,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "history": history,
        "seconds_per_epoch": [round(s, 4) for s in seconds],
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "sizes": task.sizes(),
        "parameters": parameter_counts(model),
    }


def evaluate(
    model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(x, y)``."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        probabilities = model(x[start : start + batch_size], training=False)
        labels = np.asarray(y[start : start + batch_size])
        total += float(loss_fn(labels, probabilities))
        correct += int(np.sum(np.argmax(probabilities, axis=1) == labels))
    return total / len(x), correct / len(x)


def budget_steps(n_train: int, epochs: int, batch_size: int, min_steps: int) -> int:
    """Gradient steps for a run: ``epochs`` passes over the data, >= ``min_steps``.

    Both methods of a comparison get the same number at the same data size.
    """
    return max(min_steps, epochs * math.ceil(n_train / batch_size))


def batch_order(n: int, steps: int, batch_size: int, seed: int) -> np.ndarray:
    """Example indices for ``steps`` batches, shape ``(steps, min(batch_size, n))``.

    Every pass over the ``n`` examples is a fresh permutation; batches are cut
    from the passes laid end to end, so all batches are full and each example is
    seen equally often (give or take one pass).
    """
    batch = min(batch_size, n)
    rng = np.random.default_rng(seed)
    passes = math.ceil(steps * batch / n)
    order = np.concatenate([rng.permutation(n) for _ in range(passes)])
    return order[: steps * batch].reshape(steps, batch).astype(np.int32)


def train_for_steps(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float,
    seed: int,
) -> float:
    """Take exactly ``steps`` gradient steps on shuffled batches; return seconds.

    The same optimizer, loss and batch size as ``model.fit``, in one compiled
    loop: the training data sit in memory as tensors and every batch is gathered
    by index inside the graph, so neither an input pipeline nor Python runs per
    step. For a small model that per-step overhead is much of what ``fit``
    spends (``make bench`` measures it). Only ``model.trainable_variables``
    change; layers set ``trainable = False`` beforehand stay as they are, and
    dropout acts on every step, as in ``fit``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps={steps!r}; it must be an integer >= 1")
    check_training_parameters(1, batch_size, optimizer, learning_rate)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x has {len(x)} examples and y {len(y)}; give >= 1 of each")
    order = batch_order(len(x), int(steps), batch_size, seed)
    start = time.perf_counter()
    compile_model(model, optimizer, learning_rate)  # model.optimizer: a fresh one
    runner = _runner(model, optimizer, order.shape[1])
    runner.load(model, learning_rate)
    runner.run(*_as_tensors(x, y), tf.constant(order))
    runner.store(model)
    return time.perf_counter() - start


# XLA fuses the optimizer's dozen element-wise passes over every weight into one:
# the same update in less time per step, after a compilation of a few tenths of
# a second that each kind of model pays once per session.
FUSE_UPDATE = True
_RUNNERS: dict[str, _Runner] = {}


def _runner(model: keras.Model, optimizer: str, batch: int) -> _Runner:
    """The compiled loop for models like ``model`` (layers, frozen ones, input)."""
    layers = [
        {k: v for k, v in layer.get_config().items() if k != "name"}
        for layer in model.layers
    ]
    shape = tuple(model.inputs[0].shape[1:])
    key = json.dumps([layers, shape, optimizer, batch, FUSE_UPDATE], default=str)
    if key not in _RUNNERS:
        _RUNNERS[key] = _Runner(model, optimizer, batch, shape, FUSE_UPDATE)
    return _RUNNERS[key]


def _as_tensors(x, y) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(
        np.asarray(y, dtype=np.int32)
    )


class _Runner:
    """One compiled training loop, reused by every run on a model of one kind.

    Tracing a loop costs a few tenths of a second, about as much as training a
    small model for a hundred steps, and a sweep trains a hundred models of a
    few kinds. So each kind gets one traced loop on a twin model, and every run
    loads its own model's weights and dropout seeds into the twin, starts from
    a fresh optimizer state (all zeros, as a new optimizer's), and stores the
    results back: the same steps as a loop traced for that model alone.
    """

    def __init__(self, model, optimizer, batch, shape, fuse_update):
        self.twin = keras.models.clone_model(model)
        self.optimizer = OPTIMIZERS[optimizer](learning_rate=1.0)
        variables = self.twin.trainable_variables
        self.optimizer.build(variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        def apply(grads):
            self.optimizer.apply(grads, variables)

        if fuse_update:
            apply = tf.function(apply, jit_compile=True)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, *shape], tf.float32),
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None, batch], tf.int32),
            ]
        )
        def run(examples, labels, order):
            """One gradient step per row of ``order``; the summed loss and the
            number of examples classified right (dropout on, before each step)."""
            total, correct = tf.constant(0.0), tf.constant(0)
            for i in tf.range(tf.shape(order)[0]):
                rows = order[i]
                truth = tf.gather(labels, rows)
                with tf.GradientTape() as tape:
                    predicted = self.twin(tf.gather(examples, rows), training=True)
                    loss = loss_fn(truth, predicted)
                apply(tape.gradient(loss, variables))
                total += loss
                guessed = tf.argmax(predicted, axis=1, output_type=tf.int32)
                correct += tf.reduce_sum(tf.cast(guessed == truth, tf.int32))
            return total, correct

        self.run = run

    def load(self, model: keras.Model, learning_rate: float) -> None:
        self.twin.set_weights(model.get_weights())
        _copy_seeds(model, self.twin)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        self.optimizer.learning_rate = learning_rate

    def store(self, model: keras.Model) -> None:
        """The trained weights, dropout seeds and optimizer state into ``model``."""
        model.set_weights(self.twin.get_weights())
        _copy_seeds(self.twin, model)
        if model.optimizer is not None:
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            for mine, theirs in zip(
                model.optimizer.variables, self.optimizer.variables, strict=True
            ):
                mine.assign(theirs)


def _copy_seeds(source: keras.Model, target: keras.Model) -> None:
    """Continue ``source``'s dropout random sequences in ``target``'s layers."""
    for theirs, mine in zip(source.layers, target.layers, strict=True):
        if hasattr(theirs, "seed_generator"):
            mine.seed_generator.state.assign(theirs.seed_generator.state.value)


def predict_classes(
    model: keras.Model, x: np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """The most probable class of every example (one call per batch)."""
    return np.concatenate(
        [
            np.argmax(model(x[i : i + batch_size], training=False), axis=1)
            for i in range(0, len(x), batch_size)
        ]
    )


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` classified as ``y``."""
    return float(np.mean(predict_classes(model, x) == y))


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(matrix, (y_true.astype(int), y_pred.astype(int)), 1)
    return matrix
