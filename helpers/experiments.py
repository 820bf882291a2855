"""Repeated experiments: transfer against scratch over data sizes and seeds."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers.data import Task, sample_per_class
from helpers.features import (
    compute_features,
    copy_head_into,
    head_of,
    quiet_retracing,
)
from helpers.models import (
    build_model,
    feature_weights,
    freeze_features,
    model_for_target,
)
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

# Which layers transfer (notebook 05). Every method is (frozen layers, initial
# weights). With "base" weights, conv1 and conv2 (and dense, when it is frozen)
# start as the base model's and only the first layers listed are frozen; the
# layers above them train. With "random" weights nothing is copied: the frozen
# layers keep their untrained initial weights, the control for the copied ones.
FREEZE_DEPTH_METHODS = {
    "finetune_all": ((), "base"),
    "frozen_conv1": (("conv1",), "base"),
    "transfer": (("conv1", "conv2"), "base"),
    "frozen_dense": (("conv1", "conv2", "dense"), "base"),
    "scratch": ((), "random"),
    "random_conv1": (("conv1",), "random"),
    "random_conv2": (("conv1", "conv2"), "random"),
    "random_dense": (("conv1", "conv2", "dense"), "random"),
}
ALL_METHODS = (*FREEZE_DEPTH_METHODS, "transfer_reused_head")
# The x axis of notebook 05's figure, and the methods drawn along it.
FREEZE_DEPTHS = ("none", "conv1", "conv1+conv2", "conv1+conv2+dense")
COPIED_METHODS = ("finetune_all", "frozen_conv1", "transfer", "frozen_dense")
RANDOM_METHODS = ("scratch", "random_conv1", "random_conv2", "random_dense")


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
    if method == "transfer_reused_head":
        model, _ = model_for_target(base, n_classes, reuse_head=True)
        freeze_features(model)
        return model
    if method not in FREEZE_DEPTH_METHODS:
        raise ValueError(f"method={method!r}; choose one of {ALL_METHODS}")
    frozen, weights = FREEZE_DEPTH_METHODS[method]
    model = build_model(n_classes)
    if weights == "base":
        copied = ("conv1", "conv2", *(("dense",) if "dense" in frozen else ()))
        for name in copied:
            model.get_layer(name).set_weights(base.get_layer(name).get_weights())
    for name in frozen:
        model.get_layer(name).trainable = False
    return model


def trains_on_cache(model: keras.Model) -> bool:
    """Whether both convolutions are frozen, so their outputs can be cached."""
    return not any(model.get_layer(name).trainable for name in ("conv1", "conv2"))


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
    previous: Sequence[dict] = (),
    progress: bool = True,
) -> list[dict]:
    """Test accuracy of each method for every data size and seed.

    At each size every method takes the same number of gradient steps
    (:func:`helpers.training.budget_steps`) on the same sampled examples, with the
    same optimizer and batch size. ``None`` in ``sample_sizes`` means the whole
    training set. Methods whose convolutions are all frozen train the layers
    after them on cached features (:mod:`helpers.features`), which gives the
    same result as training the whole frozen model, in less time.

    ``previous`` may hold rows of an earlier sweep on the same task and base
    model: a run with the same method, size, seed, steps and training-set size
    is taken from there instead of being trained again. ``scratch_all_run`` may
    hold a :func:`helpers.training.train_and_evaluate` record of scratch on the
    whole training set, used in the same way.
    """
    check_sample_sizes(sample_sizes, seeds)
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}; choose from {ALL_METHODS}")
    done = {
        (r["method"], r["n_per_class"], r["seed"], r["steps"], r["n_train"]): r
        for r in previous
    }
    rows = []
    total = len(sample_sizes) * len(seeds) * len(methods)
    with quiet_retracing():
        for n in sample_sizes:
            for seed in seeds:
                picked = _picked(target, n, seed)
                y = target.y_train[picked]
                steps = budget_steps(len(y), epochs, batch_size, min_steps)
                for method in methods:
                    key = (method, n, seed, steps, len(y))
                    if key in done:
                        row, note = dict(done[key]), "taken from the earlier sweep"
                        row["reused"] = row.get("reused", "the earlier sweep")
                    elif (
                        method == "scratch"
                        and n is None
                        and _same_run(scratch_all_run, seed, steps, batch_size, len(y))
                    ):
                        row = _reused_row(scratch_all_run, len(y), steps)
                        note = "the same run as on all images above, reused"
                    else:
                        set_seed(seed)
                        model = new_model(method, base, target.n_classes)
                        seconds, test_accuracy = _train_and_test(
                            model,
                            base,
                            target,
                            picked,
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
                            "test_accuracy": test_accuracy,
                        }
                        note = (
                            f"steps={steps} accuracy={test_accuracy:.4f} "
                            f"({seconds:.1f} s)"
                        )
                    rows.append(row)
                    if progress:
                        size = "all" if n is None else n
                        print(
                            f"[{len(rows):>3}/{total}] n_per_class={size} "
                            f"seed={seed} {method} {note}",
                            flush=True,
                        )
    return rows


def _picked(target: Task, n: int | None, seed: int) -> np.ndarray:
    """Indices of the training examples of one run: ``n`` per class (None: all)."""
    everything = np.arange(len(target.y_train))
    if n is None:
        return everything
    picked, _ = sample_per_class(everything, target.y_train, n, seed)
    return picked


def _train_and_test(model, base, target, picked, **training) -> tuple[float, float]:
    """Train ``model`` on the picked examples; seconds and test accuracy.

    With all convolutions frozen only the head trains, on cached features:
    the base model's, computed once for all runs, or (random frozen weights)
    this model's own, computed for the picked and test images. The caching
    time is counted in the seconds.
    """
    y = target.y_train[picked]
    if not trains_on_cache(model):
        seconds = train_for_steps(model, target.x_train[picked], y, **training)
        return seconds, accuracy(model, target.x_test, target.y_test)
    start = time.perf_counter()
    if _same_features(model, base):
        train_features, x_test = _base_features(base, target)
        x = tf.gather(train_features, picked)
    else:
        x = compute_features(model, target.x_train[picked])
        x_test = compute_features(model, target.x_test)
    head = head_of(model)
    caching = time.perf_counter() - start
    seconds = caching + train_for_steps(head, x, y, **training)
    copy_head_into(head, model)
    return seconds, float(np.mean(predict_classes(head, x_test) == target.y_test))


_BASE_FEATURES: dict = {}  # the latest base model's features of one task's images


def _base_features(base: keras.Model, target: Task) -> tuple[tf.Tensor, tf.Tensor]:
    """The base model's cached features of ``target``'s training and test images.

    Computed once and kept for the next sweep on the same task with the same
    feature weights (notebook 04 runs two sweeps, notebook 05 a sweep and the
    two-phase runs): the same numbers, a few seconds sooner.
    """
    weights = b"".join(w.tobytes() for w in feature_weights(base))
    held = _BASE_FEATURES
    if not (
        held
        and held["weights"] == weights
        and held["images"][0] is target.x_train
        and held["images"][1] is target.x_test
    ):
        held.clear()
        held.update(
            weights=weights,
            images=(target.x_train, target.x_test),
            train=compute_features(base, target.x_train),
            test=compute_features(base, target.x_test),
        )
    return held["train"], held["test"]


def _same_features(model: keras.Model, base: keras.Model) -> bool:
    return all(
        np.array_equal(a, b)
        for a, b in zip(feature_weights(model), feature_weights(base), strict=True)
    )


def two_phase(
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
    slower: float = 10.0,
    progress: bool = True,
) -> list[dict]:
    """Train the head on frozen features, then unfreeze everything and go on.

    Phase 1 is the ``transfer`` method of :func:`sample_efficiency` (the same
    examples, seed and budget). Phase 2 then trains every layer, with
    ``learning_rate / slower``, for half as many steps again: a short second
    phase at a low rate, as the recipe goes. One row per size and seed with the
    test accuracy after each phase.
    """
    check_sample_sizes(sample_sizes, seeds)
    if isinstance(slower, bool) or not isinstance(slower, int | float) or slower < 1:
        raise ValueError(f"slower={slower!r}; give a factor >= 1 (10 to 100 is usual)")
    rows = []
    with quiet_retracing():
        for n in sample_sizes:
            for seed in seeds:
                picked = _picked(target, n, seed)
                y = target.y_train[picked]
                steps = budget_steps(len(y), epochs, batch_size, min_steps)
                training = {
                    "steps": steps,
                    "batch_size": batch_size,
                    "optimizer": optimizer,
                    "seed": seed,
                }
                set_seed(seed)
                model = new_model("transfer", base, target.n_classes)
                first_seconds, first = _train_and_test(
                    model,
                    base,
                    target,
                    picked,
                    learning_rate=learning_rate,
                    **training,
                )
                for layer in model.layers:
                    layer.trainable = True
                training["steps"] = math.ceil(steps / 2)
                second_seconds = train_for_steps(
                    model,
                    target.x_train[picked],
                    y,
                    learning_rate=learning_rate / slower,
                    **training,
                )
                second = accuracy(model, target.x_test, target.y_test)
                rows.append(
                    {
                        "n_per_class": n,
                        "n_train": int(len(y)),
                        "seed": int(seed),
                        "phase1_steps": int(steps),
                        "phase2_steps": math.ceil(steps / 2),
                        "phase2_learning_rate": learning_rate / slower,
                        "phase1_accuracy": first,
                        "phase2_accuracy": second,
                        "seconds": round(first_seconds + second_seconds, 3),
                    }
                )
                if progress:
                    size = "all" if n is None else n
                    print(
                        f"[{len(rows):>3}/{len(sample_sizes) * len(seeds)}] "
                        f"n_per_class={size} seed={seed} phase 1 {first:.4f} -> "
                        f"phase 2 {second:.4f} ({rows[-1]['seconds']:.1f} s)",
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
