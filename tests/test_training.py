"""helpers.training: seeding, parameter checks, optimizers, epoch timing, rounding."""

from __future__ import annotations

import random
import re
import time

import keras
import numpy as np
import pytest

from helpers.models import build_model
from helpers.training import (
    EpochTimer,
    check_count,
    check_rate,
    make_optimizer,
    set_seed,
    two_figures,
)

# ------------------------------------------------------------------------ seeds


@pytest.mark.parametrize("seed", [True, -1, 1.0, "0", None])
def test_set_seed_refuses_anything_but_an_integer_from_0(seed):
    with pytest.raises(ValueError, match=re.escape(f"seed={seed!r}")):
        set_seed(seed)


def test_set_seed_seeds_python_numpy_and_keras():
    draws = []
    for _ in range(2):
        set_seed(np.int64(7))  # NumPy integers count as integers
        draws.append(
            (
                random.random(),
                np.random.random(),
                float(keras.random.uniform(())),
            )
        )
    assert draws[0] == draws[1]
    set_seed(8)
    assert random.random() != draws[0][0]


def test_set_seed_makes_tensorflow_ops_deterministic():
    # TensorFlow has no public getter for this switch; the private one is the
    # only way to see it (present since TF 2.8).
    from tensorflow.python.framework.config import is_op_determinism_enabled

    set_seed(0)
    assert is_op_determinism_enabled()


def short_fit(x: np.ndarray, y: np.ndarray, seed: int) -> list[np.ndarray]:
    """Seed, build, then one epoch with dropout and shuffled batches."""
    set_seed(seed)
    model = build_model(5)
    model.compile(
        optimizer=make_optimizer("adam", 1e-3), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model.get_weights()


def test_the_same_seed_gives_bit_identical_weights_another_seed_others(small_task):
    x, y = small_task.x_train[:96], small_task.y_train[:96]
    first = short_fit(x, y, seed=0)
    other = short_fit(x, y, seed=1)  # in between, to disturb every generator
    again = short_fit(x, y, seed=0)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])  # conv1's kernel
    assert not np.array_equal(first[-2], other[-2])  # output's kernel


# ----------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    "value, minimum, shown",
    [
        (0, 1, "epochs=0"),
        (-1, 0, "epochs=-1"),
        (True, 1, "epochs=True"),
        (2.0, 1, "epochs=2.0"),
        ("3", 1, "epochs='3'"),
        (None, 1, "epochs=None"),
    ],
)
def test_check_count_names_the_parameter_and_its_value(value, minimum, shown):
    with pytest.raises(ValueError, match=re.escape(shown)) as info:
        check_count("epochs", value, minimum=minimum)
    assert f">= {minimum}" in str(info.value)


def test_check_count_returns_a_plain_int():
    assert check_count("epochs", np.int64(3)) == 3
    assert type(check_count("epochs", np.int64(3))) is int
    assert check_count("seed", 0, minimum=0) == 0


@pytest.mark.parametrize(
    "value", [0, -0.1, float("nan"), float("inf"), True, "0.1", None]
)
def test_check_rate_names_the_parameter_and_its_value(value):
    with pytest.raises(ValueError, match=re.escape(f"learning_rate={value!r}")):
        check_rate("learning_rate", value)


def test_check_rate_returns_a_float():
    assert check_rate("learning_rate", 1) == 1.0
    assert type(check_rate("learning_rate", 1)) is float
    assert check_rate("learning_rate", 1e-5) == 1e-5


# ------------------------------------------------------------------- optimizers


@pytest.mark.parametrize(
    "name, cls",
    [("adam", keras.optimizers.Adam), ("adadelta", keras.optimizers.Adadelta)],
)
def test_make_optimizer_builds_the_named_optimizer_at_the_rate(name, cls):
    optimizer = make_optimizer(name, 0.25)
    assert type(optimizer) is cls
    assert float(optimizer.learning_rate) == 0.25
    assert make_optimizer(name, 0.25) is not optimizer  # fresh every time


def test_make_optimizer_refuses_unknown_names_listing_the_choices():
    with pytest.raises(ValueError, match=r"optimizer='sgd'.*\['adadelta', 'adam'\]"):
        make_optimizer("sgd", 0.1)
    with pytest.raises(ValueError, match="optimizer='Adam'"):
        make_optimizer("Adam", 0.1)


def test_make_optimizer_refuses_a_bad_rate():
    with pytest.raises(ValueError, match=re.escape("learning_rate=0")):
        make_optimizer("adam", 0)


# ------------------------------------------------------------------------ timing


class SlowBatches(keras.callbacks.Callback):
    """Sleeps after every training batch, so an epoch lasts a known minimum."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.02)


def test_epoch_timer_records_one_duration_per_epoch():
    x = np.zeros((8, 3), np.float32)
    y = np.zeros(8, np.int64)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    timer = EpochTimer()
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[SlowBatches(), timer], verbose=0)
    assert len(timer.seconds) == 3
    assert all(s >= 2 * 0.02 for s in timer.seconds)  # two batches of 20 ms each
    # A second fit starts a new list.
    model.fit(x, y, batch_size=4, epochs=2, callbacks=[timer], verbose=0)
    assert len(timer.seconds) == 2


# ---------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    "seconds, rounded",
    [
        (0.012345, 0.012),
        (12345, 12000),
        (3.14159, 3.1),
        (149.9, 150.0),
        (7, 7.0),
        (0.0, 0.0),
    ],
)
def test_two_figures_keeps_two_significant_figures(seconds, rounded):
    result = two_figures(seconds)
    assert result == rounded
    assert type(result) is float
