"""Repeated experiments: transfer against scratch over data sizes and seeds."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from helpers.data import Task, sample_per_class
from helpers.models import build_model, freeze_features, model_for_target
from helpers.training import accuracy, budget_steps, set_seed, train_for_steps

METHODS = ("transfer", "scratch")


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
    """A model ready to train: ``transfer`` (base features, frozen) or ``scratch``."""
    if method == "transfer":
        model, _ = model_for_target(base, n_classes)
        freeze_features(model)
        return model
    if method == "scratch":
        return build_model(n_classes)
    raise ValueError(f"method={method!r}; choose one of {METHODS}")


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
    progress: bool = True,
) -> list[dict]:
    """Test accuracy of transfer and scratch for every data size and seed.

    At each size both methods take the same number of gradient steps
    (:func:`helpers.training.budget_steps`) on the same sampled examples.
    ``None`` in ``sample_sizes`` means the whole training set.
    """
    check_sample_sizes(sample_sizes, seeds)
    rows = []
    total = len(sample_sizes) * len(seeds) * len(METHODS)
    for n in sample_sizes:
        for seed in seeds:
            if n is None:
                x, y = target.x_train, target.y_train
            else:
                x, y = sample_per_class(target.x_train, target.y_train, n, seed)
            steps = budget_steps(len(y), epochs, batch_size, min_steps)
            for method in METHODS:
                set_seed(seed)
                model = new_model(method, base, target.n_classes)
                seconds = train_for_steps(
                    model,
                    x,
                    y,
                    steps=steps,
                    batch_size=batch_size,
                    optimizer=optimizer,
                    learning_rate=learning_rate,
                    seed=seed,
                )
                row = {
                    "n_per_class": n,
                    "n_train": int(len(y)),
                    "method": method,
                    "seed": int(seed),
                    "steps": int(steps),
                    "seconds": round(seconds, 3),
                    "test_accuracy": accuracy(model, target.x_test, target.y_test),
                }
                rows.append(row)
                if progress:
                    size = "all" if n is None else n
                    print(
                        f"[{len(rows):>3}/{total}] n_per_class={size}"
                        f" seed={seed} {method:<8} steps={steps:<5} "
                        f"accuracy={row['test_accuracy']:.4f} ({seconds:.1f} s)",
                        flush=True,
                    )
    return rows


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
