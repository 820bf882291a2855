"""Seeding, compiling, training and evaluating, with plain JSON-ready records."""

from __future__ import annotations

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


def compile_model(
    model: keras.Model, optimizer: str, learning_rate: float, steps_per_call: int = 1
) -> None:
    """Compile for integer labels with a fresh optimizer.

    Call it after every change of ``trainable``: Keras 3 fixes the set of
    trained weights at compile time. ``steps_per_call`` gradient steps run in
    one call of the compiled training function (less Python overhead per step,
    the same steps).
    """
    check_training_parameters(1, 1, optimizer, learning_rate)
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_call,
    )


def steps_per_execution(steps: int, most: int = 32) -> int:
    """The largest divisor of ``steps`` up to ``most``, so no step is added."""
    return max(d for d in range(1, min(most, steps) + 1) if steps % d == 0)


class EpochLog(keras.callbacks.Callback):
    """Times every epoch and, if asked, prints one line per epoch."""

    def __init__(self, label: str = "", show: bool = True):
        super().__init__()
        self.label = label
        self.show = show
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        if self.show:
            logs = logs or {}
            shown = ", ".join(
                f"{key} {logs[key]:.4f}"
                for key in ("loss", "accuracy", "val_loss", "val_accuracy")
                if key in logs
            )
            prefix = f"{self.label}: " if self.label else ""
            total = self.params.get("epochs", "?")
            print(
                f"{prefix}epoch {epoch + 1}/{total}  {shown}  "
                f"({self.seconds[-1]:.1f} s)",
                flush=True,
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
    """Compile, fit on ``task``'s training set, evaluate on its test set.

    Validation after every epoch uses the task's validation set (if it has one).
    Returns a JSON-serialisable record of the run.
    """
    check_training_parameters(epochs, batch_size, optimizer, learning_rate)
    compile_model(model, optimizer, learning_rate)
    set_seed(seed)  # the order of the batches and the dropout masks
    log = EpochLog(label, show=progress)
    validation = (task.x_val, task.y_val) if len(task.y_val) else None
    history = model.fit(
        task.x_train,
        task.y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation,
        callbacks=[log],
        verbose=0,
    )
    test_loss, test_accuracy = model.evaluate(
        task.x_test, task.y_test, batch_size=512, verbose=0
    )
    return {
        "digits": task.digits,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "history": {
            key: [float(v) for v in values] for key, values in history.history.items()
        },
        "seconds_per_epoch": [round(s, 4) for s in log.seconds],
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "sizes": task.sizes(),
        "parameters": parameter_counts(model),
    }


def budget_steps(n_train: int, epochs: int, batch_size: int, min_steps: int) -> int:
    """Gradient steps for a run: ``epochs`` passes over the data, >= ``min_steps``.

    Both methods of a comparison get the same number at the same data size.
    """
    return max(min_steps, epochs * math.ceil(n_train / batch_size))


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
    """Compile and take exactly ``steps`` gradient steps on shuffled batches.

    The data are reshuffled on every pass. Batches hold ``min(batch_size, len(x))``
    examples. Returns the seconds spent training.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps={steps!r}; it must be an integer >= 1")
    check_training_parameters(1, batch_size, optimizer, learning_rate)
    compile_model(model, optimizer, learning_rate, steps_per_execution(steps))
    set_seed(seed)
    batch = min(batch_size, len(x))
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch, drop_remainder=True)
    )
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def predict_classes(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The most probable class of every example."""
    return np.argmax(model.predict(x, batch_size=512, verbose=0), axis=1)


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
