"""helpers.training: parameter checks, seeded training records, steps, metrics."""

from __future__ import annotations

import dataclasses
import json
import math

import keras
import numpy as np
import pytest

from helpers.data import Task, make_task
from helpers.models import build_model
from helpers.training import (
    accuracy,
    budget_steps,
    check_training_parameters,
    confusion_matrix,
    predict_classes,
    set_seed,
    train_and_evaluate,
    train_for_steps,
)

GOOD = {"epochs": 2, "batch_size": 32, "optimizer": "adam", "learning_rate": 1e-3}
RECORD_KEYS = {
    "digits",
    "epochs",
    "history",
    "seconds_per_epoch",
    "test_accuracy",
    "test_loss",
    "sizes",
    "parameters",
}


@pytest.fixture(scope="module")
def tiny_task(mnist) -> Task:
    """300 training examples of digits 5-9 (270 train, 30 validation), 500 test."""
    task = make_task(
        mnist, [5, 6, 7, 8, 9], validation_fraction=0.1, max_train_samples=300, seed=0
    )
    return dataclasses.replace(task, x_test=task.x_test[:500], y_test=task.y_test[:500])


def seeded_run(task: Task, seed: int, disturb: bool = False) -> dict:
    """Seeded initial weights, then a run with ``seed``.

    ``disturb`` reseeds everything between building and training, so the run
    repeats only if train_and_evaluate seeds its batch order itself.
    """
    set_seed(seed)
    model = build_model(task.n_classes)
    if disturb:
        keras.utils.set_random_seed(seed + 1000)
    return train_and_evaluate(
        model,
        task,
        epochs=2,
        batch_size=32,
        optimizer="adam",
        learning_rate=1e-3,
        seed=seed,
        progress=False,
    )


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("epochs", 0, "epochs=0"),
        ("epochs", 1.5, "epochs=1.5"),
        ("batch_size", 0, "batch_size=0"),
        ("optimizer", "adadeltaa", "optimizer='adadeltaa'"),
        ("learning_rate", 0, "learning_rate=0"),
        ("learning_rate", -1, "learning_rate=-1"),
        ("learning_rate", float("nan"), "learning_rate=nan"),
    ],
)
def test_check_training_parameters_names_the_bad_one(name, value, shown):
    with pytest.raises(ValueError) as info:
        check_training_parameters(**{**GOOD, name: value})
    assert shown in str(info.value)


def test_check_training_parameters_accepts_good_values():
    check_training_parameters(**GOOD)
    check_training_parameters(1, 1, "adadelta", 1)


@pytest.mark.parametrize("seed", [-1, 1.0, True])
def test_set_seed_rejects_anything_but_a_non_negative_integer(seed):
    with pytest.raises(ValueError, match=f"seed={seed!r}"):
        set_seed(seed)


# -------------------------------------------------------------------- training


def test_seeded_training_is_repeatable_and_records_json(tiny_task):
    first = seeded_run(tiny_task, seed=0)
    second = seeded_run(tiny_task, seed=0, disturb=True)
    assert first["history"] == second["history"]
    assert first["test_accuracy"] == second["test_accuracy"]
    assert first["test_loss"] == second["test_loss"]

    assert RECORD_KEYS <= set(first)
    assert json.loads(json.dumps(first)) == first
    assert first["digits"] == [5, 6, 7, 8, 9]
    assert first["epochs"] == 2
    assert len(first["seconds_per_epoch"]) == 2
    assert len(first["history"]["loss"]) == len(first["history"]["val_loss"]) == 2
    assert first["sizes"] == {"train": 270, "validation": 30, "test": 500}
    assert first["parameters"]["total"] == 600_165
    assert 0.0 <= first["test_accuracy"] <= 1.0


def test_another_seed_gives_another_run(tiny_task):
    assert (
        seeded_run(tiny_task, seed=0)["history"]
        != seeded_run(tiny_task, seed=1)["history"]
    )


@pytest.mark.parametrize(
    "n_train, epochs, batch_size, min_steps",
    [(1000, 3, 128, 10), (100, 1, 32, 50), (64, 2, 32, 4), (65, 2, 32, 0)],
)
def test_budget_steps_rule(n_train, epochs, batch_size, min_steps):
    expected = max(min_steps, epochs * math.ceil(n_train / batch_size))
    assert budget_steps(n_train, epochs, batch_size, min_steps) == expected


def test_budget_steps_hand_values():
    assert budget_steps(1000, 3, 128, 10) == 24  # 3 * ceil(7.8)
    assert budget_steps(100, 1, 32, 50) == 50  # the floor wins
    assert budget_steps(65, 2, 32, 0) == 6  # a partial batch is a step


@pytest.mark.parametrize("n_examples, batch_size", [(100, 32), (20, 32)])
def test_train_for_steps_takes_exactly_the_requested_steps(
    tiny_task, n_examples, batch_size
):
    model = build_model(5)
    seconds = train_for_steps(
        model,
        tiny_task.x_train[:n_examples],
        tiny_task.y_train[:n_examples],
        steps=7,
        batch_size=batch_size,
        optimizer="sgd",
        learning_rate=0.01,
        seed=0,
    )
    assert int(model.optimizer.iterations.numpy()) == 7
    assert seconds >= 0


def test_train_for_steps_error_names_steps(tiny_task):
    with pytest.raises(ValueError, match="steps=0"):
        train_for_steps(
            build_model(5),
            tiny_task.x_train[:10],
            tiny_task.y_train[:10],
            steps=0,
            batch_size=4,
            optimizer="sgd",
            learning_rate=0.01,
            seed=0,
        )


# --------------------------------------------------------------------- metrics


def test_confusion_matrix_hand_example():
    y_true = np.array([0, 0, 1, 2, 2, 2], dtype=np.uint8)
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), expected)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_true, 4), np.diag([2, 1, 3, 0])
    )


def test_predict_classes_and_accuracy_on_a_model_with_known_outputs():
    # Identity weights: the predicted class is the position of the largest input.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, use_bias=False)])
    model.layers[0].set_weights([np.eye(3, dtype=np.float32)])
    x = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3], [5, 1, 0]], dtype=np.float32)
    np.testing.assert_array_equal(predict_classes(model, x), [0, 1, 2, 0])
    assert accuracy(model, x, np.array([0, 1, 2, 0])) == 1.0
    assert accuracy(model, x, np.array([0, 1, 1, 2])) == 0.5


def test_the_xla_fused_update_is_the_same_update(tiny_task, monkeypatch):
    import helpers.training as training

    weights = {}
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSE_UPDATE", fused)
        set_seed(4)
        model = build_model(5)
        train_for_steps(
            model,
            tiny_task.x_train[:64],
            tiny_task.y_train[:64],
            steps=10,
            batch_size=16,
            optimizer="adadelta",
            learning_rate=1.0,
            seed=4,
        )
        weights[fused] = model.get_weights()
    for fused, plain in zip(weights[True], weights[False], strict=True):
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-6)


def test_a_reused_loop_trains_like_a_new_one(tiny_task):
    # Two runs of one kind share a compiled loop; each must start from its own
    # weights, seeds and a fresh optimizer, so a run repeated after another run
    # (same seed) ends exactly where it ended the first time.
    def run(seed):
        set_seed(seed)
        model = build_model(5)
        train_for_steps(
            model,
            tiny_task.x_train[:64],
            tiny_task.y_train[:64],
            steps=6,
            batch_size=16,
            optimizer="adam",
            learning_rate=1e-3,
            seed=seed,
        )
        return model

    first = run(5)
    other = run(6)
    again = run(5)
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    assert int(again.optimizer.iterations.numpy()) == 6
