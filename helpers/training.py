"""What every training shares: seeding, the `fit` settings, timing, parameter checks."""

import math
import time

import keras
import numpy as np
import tensorflow as tf

# Batches per call into TensorFlow (less overhead; more is no faster: `make bench`).
# XLA stays off, as Keras leaves it on a CPU: CNN 6x, head 20x slower (dropout's RNG).
STEPS_PER_EXECUTION = 32
LOSS = "sparse_categorical_crossentropy"  # integer labels 0..k-1
OPTIMIZERS = {"adadelta": keras.optimizers.Adadelta, "adam": keras.optimizers.Adam}

def set_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras, and make TensorFlow's ops deterministic."""
    check_count("seed", seed, minimum=0)
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()

def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, or ValueError naming ``name`` if it is not >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}={value!r}; it must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value}; it must be an integer >= {minimum}")
    return int(value)

def check_rate(name: str, value) -> float:
    """``value`` as a float, or ValueError naming ``name`` unless it is > 0."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r}; it must be a number > 0")
    return float(value)

def check_list(name: str, values, check) -> list:
    """``values`` as a list: non-empty, each item passing ``check``, else ValueError."""
    if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
        raise ValueError(f"{name}={values!r}; give a non-empty list")
    for value in values:
        try:
            check(name, value)
        except ValueError as error:
            reason = str(error).split("; ", 1)[-1]
            raise ValueError(
                f"{name}={list(values)!r} holds {value!r}; {reason}") from None
    return list(values)

def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate=check_rate("learning_rate", learning_rate))

class EpochTimer(keras.callbacks.Callback):
    """Seconds of every epoch of a `fit` (validation included), in ``.seconds``."""
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

def two_figures(seconds: float) -> float:
    """``seconds`` rounded to two significant figures: what a noisy machine resolves."""
    return float(f"{seconds:.2g}")
