"""Repeated experiments: transfer against scratch over data sizes and seeds."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers.data import Task, sample_per_class
from helpers.features import compute_features, head_of
from helpers.models import build_model, freeze_features, model_for_target
from helpers.training import (
    accuracy,
    budget_steps,
    predict_classes,
    set_seed,
    train_for_steps,
)

# transfer: frozen base features, new classification layers trained;
# transfer_reused_head: the same, but starting from the base model's own head;
# scratch: the same architecture from random weights, everything trained.
METHODS = ("transfer", "scratch")
ALL_METHODS = ("transfer", "transfer_reused_head", "scratch")


@contextlib.contextmanager
def quiet_retracing() -> Iterator[None]:
    """Silence TensorFlow's warning that tf.functions are being retraced.

    A sweep builds a new model for every run, so each one traces its own training
    and prediction functions: the retracing TensorFlow warns about is intended.
    """
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_sample_sizes(sample_sizes: Sequence, seeds: Sequence) -> None:
    """Raise ValueError naming ``sample_sizes`` or ``seeds`` when one is unusable."""
    if (
        isinstance(sample_sizes, str)
        or not isinstance(sample_sizes, Sequence)
        or (len(sample_sizes) == 0)
    ):
        raise ValueError(f"sample_sizes={sample_sizes!r}; give a non-empty list")
    for n in sample_sizes:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(
                f"sample_sizes={list(sample_sizes)!r} holds {n!r}; use integers >= 1 "
                "(examples per class) or None (all)"
            )
    if isinstance(seeds, str) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ValueError(f"seeds={seeds!r}; give a non-empty list of integers")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds={list(seeds)!r} holds {s!r}; use integers >= 0")


def new_model(method: str, base: keras.Model, n_classes: int) -> keras.Model:
    """A model ready to train by ``method`` (one of :data:`ALL_METHODS`)."""
    if method in ("transfer", "transfer_reused_head"):
        model, _ = model_for_target(
            base, n_classes, reuse_head=method == "transfer_reused_head"
        )
        freeze_features(model)
        return model
    if method == "scratch":
        return build_model(n_classes)
    raise ValueError(f"method={method!r}; choose one of {ALL_METHODS}")


def sample_efficiency(
    base: keras.Model,
    target: Task,
    *,
    sample_sizes: Sequence[int | None],
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float,
    min_steps: int,
    methods: Sequence[str] = METHODS,
    scratch_all_run: dict | None = None,
    progress: bool = True,
) -> list[dict]:
    """Test accuracy of transfer and scratch for every data size and seed.

    At each size every method takes the same number of gradient steps
    (:func:`helpers.training.budget_steps`) on the same sampled examples, with the
    same optimizer and batch size. ``None`` in ``sample_sizes`` means the whole
    training set. The transfer methods train their head on cached features
    (:mod:`helpers.features`), which gives the same result as training the whole
    frozen model, in less time.

    ``scratch_all_run`` may hold a :func:`helpers.training.train_and_evaluate`
    record of scratch on the whole training set; where its seed and number of
    gradient steps match a run of the sweep, its result is used instead of
    training the same thing again.
    """
    check_sample_sizes(sample_sizes, seeds)
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}; choose from {ALL_METHODS}")
    with quiet_retracing():
        return _sweep(
            base,
            target,
            sample_sizes,
            seeds,
            epochs,
            batch_size,
            optimizer,
            learning_rate,
            min_steps,
            methods,
            scratch_all_run,
            progress,
        )


def _sweep(
    base,
    target,
    sample_sizes,
    seeds,
    epochs,
    batch_size,
    optimizer,
    learning_rate,
    min_steps,
    methods,
    scratch_all_run,
    progress,
) -> list[dict]:
    # Both transfer methods train only the layers after the frozen features, so
    # the features of every image are computed once (helpers.features).
    if any(m != "scratch" for m in methods):
        train_features = compute_features(base, target.x_train)
        test_features = compute_features(base, target.x_test)
    rows = []
    total = len(sample_sizes) * len(seeds) * len(methods)
    for n in sample_sizes:
        for seed in seeds:
            if n is None:
                picked = np.arange(len(target.y_train))
            else:
                picked, _ = sample_per_class(
                    np.arange(len(target.y_train)), target.y_train, n, seed
                )
            y = target.y_train[picked]
            steps = budget_steps(len(y), epochs, batch_size, min_steps)
            for method in methods:
                if (
                    method == "scratch"
                    and n is None
                    and _same_run(scratch_all_run, seed, steps, batch_size, len(y))
                ):
                    rows.append(_reused_row(scratch_all_run, len(y), steps))
                    if progress:
                        print(
                            f"[{len(rows):>3}/{total}] n_per_class=all seed={seed}"
                            f" scratch: the same run as on all images above, "
                            f"reused",
                            flush=True,
                        )
                    continue
                set_seed(seed)
                model = new_model(method, base, target.n_classes)
                if method == "scratch":
                    x, trained = target.x_train[picked], model
                else:
                    x, trained = train_features[picked], head_of(model)
                seconds = train_for_steps(
                    trained,
                    x,
                    y,
                    steps=steps,
                    batch_size=batch_size,
                    optimizer=optimizer,
                    learning_rate=learning_rate,
                    seed=seed,
                )
                if method == "scratch":
                    test_accuracy = accuracy(model, target.x_test, target.y_test)
                else:
                    predicted = predict_classes(trained, test_features)
                    test_accuracy = float(np.mean(predicted == target.y_test))
                row = {
                    "n_per_class": n,
                    "n_train": int(len(y)),
                    "method": method,
                    "seed": int(seed),
                    "steps": int(steps),
                    "seconds": round(seconds, 3),
                    "test_accuracy": test_accuracy,
                }
                rows.append(row)
                if progress:
                    size = "all" if n is None else n
                    print(
                        f"[{len(rows):>3}/{total}] n_per_class={size}"
                        f" seed={seed} {method} steps={steps} "
                        f"accuracy={test_accuracy:.4f} ({seconds:.1f} s)",
                        flush=True,
                    )
    return rows


def _same_run(
    record: dict | None, seed: int, steps: int, batch_size: int, n_train: int
) -> bool:
    """Whether ``record`` trained scratch on all ``n_train`` images like the sweep."""
    if record is None:
        return False
    record_steps = record["epochs"] * math.ceil(record["sizes"]["train"] / batch_size)
    return (
        record["seed"] == seed
        and record["batch_size"] == batch_size
        and record["sizes"]["train"] == n_train
        and record_steps == steps
    )


def _reused_row(record: dict, n_train: int, steps: int) -> dict:
    return {
        "n_per_class": None,
        "n_train": int(n_train),
        "method": "scratch",
        "seed": record["seed"],
        "steps": int(steps),
        "seconds": round(sum(record["seconds_per_epoch"]), 3),
        "test_accuracy": record["test_accuracy"],
        "reused": "the scratch run on all images",
    }


def summarize(rows: Sequence[dict], n_classes: int) -> list[dict]:
    """Mean and sd of test accuracy per method and size, in the order of ``rows``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["n_per_class"]), []).append(row)
    summary = []
    for (method, n), members in groups.items():
        accuracies = np.array([m["test_accuracy"] for m in members])
        summary.append(
            {
                "method": method,
                "n_per_class": n,
                "examples_per_class": float(np.mean([m["n_train"] for m in members]))
                / n_classes,
                "steps": members[0]["steps"],
                "runs": len(members),
                "mean": float(accuracies.mean()),
                "sd": float(accuracies.std(ddof=1)) if len(members) > 1 else 0.0,
            }
        )
    return summary
