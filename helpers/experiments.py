"""The repeated experiments of notebooks 04 and 05: the Keras recipe of notebooks
02 and 03 (build, set ``trainable``, ``compile``, ``fit``, measure), many times."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers.data import Task, sample_per_class
from helpers.models import CONVOLUTIONS, build_head, build_model, copy_weights
from helpers.training import LOSS, make_optimizer, set_seed

# In the sweeps an epoch is a fixed number of batches, whatever the sample size:
# early stopping then looks at validation as often for 5 images as for 27,000.
STEPS_PER_EPOCH = 32
MOVING = ("conv1", "conv2", "dense", "output")  # the layers with weights


@dataclass(frozen=True)
class Method:
    """How a run starts: the layers copied from the base model, and those frozen.
    With both convolutions copied and frozen, a head trains on cached features."""

    name: str
    copied: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()

    @property
    def cached(self) -> bool:
        return set(CONVOLUTIONS) <= set(self.frozen) & set(self.copied)

    def build(self, base: keras.Model, n_classes: int) -> keras.Model:
        """The model this method trains: the whole CNN, or a head on features."""
        model = build_model(n_classes, name=self.name)
        if self.cached:  # (after the whole model, which draws its seeds first)
            model = build_head(n_classes, name=self.name)
        names = {layer.name for layer in model.layers}
        copy_weights(base, model, [n for n in self.copied if n in names])
        for name in self.frozen:
            if name in names:
                model.get_layer(name).trainable = False
        return model


TRANSFER = Method("transfer", copied=CONVOLUTIONS, frozen=CONVOLUTIONS)
SCRATCH = Method("scratch")


@dataclass(frozen=True)
class Budget:
    """When a run stops: ``patience`` epochs without a better validation accuracy,
    or ``max_epochs`` (the cap), each of :data:`STEPS_PER_EPOCH` batches."""

    max_epochs: int
    patience: int
    batch_size: int = 128


def fit_until_stopped(model, train, validation, *, optimizer: str,
                      learning_rate: float, budget: Budget,
                      initial_epoch: int = 0) -> dict:
    """Compile and fit ``model`` on ``train`` = (x, y) until its accuracy on
    ``validation`` stops improving, and restore the best epoch's weights. Returns
    the epochs trained, the best epoch (from 1), whether the cap ended the run,
    and the validation accuracy after every epoch."""
    x, y = train
    images, labels = tf.constant(x), tf.constant(y)
    # An endless stream of batches, reshuffled at every pass over the sample: an
    # epoch is always STEPS_PER_EPOCH batches, and every image is seen equally
    # often. (Arrays with `steps_per_epoch` carry a pass over into the next
    # epoch, which then gets only the batches left of that pass.)
    batches = (
        tf.data.Dataset.range(len(y)).shuffle(len(y)).repeat()
        .batch(min(budget.batch_size, len(y)))
        .map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    )
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=LOSS,
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EPOCH)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=budget.patience, restore_best_weights=True
    )
    curve = model.fit(
        batches, steps_per_epoch=STEPS_PER_EPOCH, shuffle=False, verbose=0,
        initial_epoch=initial_epoch, epochs=initial_epoch + budget.max_epochs,
        validation_data=validation, validation_batch_size=1024, callbacks=[stop],
    ).history["val_accuracy"]
    curve = [round(v, 4) for v in curve]
    return {"epochs": len(curve), "best_epoch": stop.best_epoch + 1 - initial_epoch,
            "hit_cap": len(curve) == budget.max_epochs,
            "best_val_accuracy": max(curve), "val_accuracy": curve}


def predict_classes(model: keras.Model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The most probable class of every row of ``x``. Calls the model directly:
    `predict` would trace a function for every new model, and TensorFlow warns."""
    scores = (model(x[i : i + batch], training=False) for i in range(0, len(x), batch))
    return np.concatenate([np.argmax(keras.ops.convert_to_numpy(s), 1) for s in scores])


def check_sizes(name: str, sizes, task: Task, seeds, part: str = "train") -> None:
    """ValueError naming ``name`` unless ``sizes`` is a non-empty list of images
    per class (integers >= 1, or None for all of the training part) that the
    task's ``part`` holds, and ``seeds`` a non-empty list of integers >= 0."""
    pool = min(np.bincount(task.y_train if part == "train" else task.y_val))
    if isinstance(sizes, str) or not isinstance(sizes, Sequence) or not sizes:
        raise ValueError(f"{name}={sizes!r}; give a non-empty list")
    for n in sizes:
        if n is None and part == "train":
            continue
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            also = " or None (all images)" if part == "train" else ""
            raise ValueError(f"{name}={list(sizes)!r} holds {n!r}; use integers >= 1"
                             + also)
        if n > pool:
            raise ValueError(
                f"{name}={list(sizes)!r} holds {n}, but the task's {part} part has "
                f"only {pool} images of its rarest class; use at most {pool}"
            )
    if isinstance(seeds, str) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"seeds={seeds!r}; give a non-empty list of integers >= 0")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0:
            raise ValueError(f"seeds={list(seeds)!r} holds {s!r}; use integers >= 0")


def draw_sample(task: Task, n: int | None, seed: int, validation_per_class: int):
    """Indices of one run's training images (``n`` per class, None: all) and of its
    validation images (``validation_per_class`` from the task's validation part)."""
    train = np.arange(len(task.y_train))
    if n is not None:
        train, _ = sample_per_class(train, task.y_train, n, seed)
    val = np.arange(len(task.y_val))
    val, _ = sample_per_class(val, task.y_val, validation_per_class, seed)
    return train, val


def kernels(model: keras.Model) -> dict[str, np.ndarray]:
    """Copies of the kernel of every layer of :data:`MOVING` that ``model`` has."""
    names = {layer.name for layer in model.layers}
    return {n: model.get_layer(n).get_weights()[0] for n in MOVING if n in names}


def relative_change(before: dict[str, np.ndarray], model: keras.Model) -> dict:
    """||w_after - w_before|| / ||w_before|| for each kernel in ``before`` that
    ``model`` has."""
    after = kernels(model)
    return {n: float(np.linalg.norm(after[n] - w) / np.linalg.norm(w))
            for n, w in before.items() if n in after}


def sweep(methods: Sequence[Method], base: keras.Model, task: Task, *,
          sizes: Sequence[int | None], seeds: Sequence[int], rates: dict[str, float],
          optimizer: str, budget: Budget, validation_per_class: int,
          features: dict[str, np.ndarray] | None = None,
          progress: bool = True) -> list[dict]:
    """One run per size, seed and method, with the same images for every method
    at a size and seed (ten parameters: a run is defined by all of them).
    ``rates`` maps a method's name to its learning rate; ``features`` holds the
    base model's cached features of the task's "train", "val" and "test" images.
    One row per run: size, seed, method, rate, epochs (trained, best, cap
    reached), validation and test accuracy, the misclassified test images
    (index, predicted class), how far each layer moved, and seconds."""
    images = {"train": task.x_train, "val": task.x_val, "test": task.x_test}
    rows, total = [], len(sizes) * len(seeds) * len(methods)
    for n in sizes:
        for seed in seeds:
            train, val = draw_sample(task, n, seed, validation_per_class)
            for method in methods:
                x, start = features if method.cached else images, time.perf_counter()
                set_seed(seed)
                model = method.build(base, task.n_classes)
                before = kernels(model)
                run = fit_until_stopped(
                    model, (x["train"][train], task.y_train[train]),
                    (x["val"][val], task.y_val[val]), optimizer=optimizer,
                    learning_rate=rates[method.name], budget=budget,
                )
                predicted = predict_classes(model, x["test"])
                wrong = np.flatnonzero(predicted != task.y_test)
                rows.append({
                    "n_per_class": n, "seed": int(seed), "method": method.name,
                    "learning_rate": rates[method.name],
                    "test_accuracy": 1 - len(wrong) / len(task.y_test),
                    "mistakes": [[int(i), int(predicted[i])] for i in wrong],
                    "moved": relative_change(before, model),
                    "seconds": round(time.perf_counter() - start, 1), **run,
                })
                if progress:
                    r = rows[-1]
                    print(f"[{len(rows):>3}/{total}] n={'all' if n is None else n} "
                          f"seed={seed} {method.name}: {r['epochs']} epochs (best "
                          f"{r['best_epoch']}), validation {r['best_val_accuracy']:.4f}"
                          f", {r['seconds']:.0f} s", flush=True)
    return rows


def best_rates(rows: Sequence[dict]) -> dict[str, float]:
    """For each method, the learning rate whose runs reached the highest mean
    validation accuracy (test accuracy is not looked at)."""
    scores: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        by_rate = scores.setdefault(row["method"], {})
        by_rate.setdefault(row["learning_rate"], []).append(row["best_val_accuracy"])
    return {m: max(r, key=lambda rate: np.mean(r[rate])) for m, r in scores.items()}


# Two-sided 95% quantiles of Student's t for 1-30 degrees of freedom.
T_95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def paired_difference(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Mean of ``a - b`` over paired runs, its 95% t-interval, and a verdict that
    names the better side only when the interval excludes zero."""
    if len(values_a) != len(values_b) or not len(values_a):
        raise ValueError(f"{len(values_a)} and {len(values_b)} values; give pairs")
    diffs = np.asarray(values_a, float) - np.asarray(values_b, float)
    k, mean = len(diffs), float(diffs.mean())
    if k < 2:
        return {"pairs": k, "mean": mean, "low": None, "high": None,
                "verdict": "cannot tell (one pair)"}
    half = T_95[min(k - 1, len(T_95)) - 1] * float(diffs.std(ddof=1)) / math.sqrt(k)
    low, high = mean - half, mean + half
    verdict = "a better" if low > 0 else "b better" if high < 0 else "cannot tell"
    return {"pairs": k, "mean": mean, "low": low, "high": high, "verdict": verdict}


def compare(rows: Sequence[dict], a: str, b: str, key: str = "test_accuracy") -> list:
    """:func:`paired_difference` of methods ``a`` and ``b`` at each size (in the
    order of ``rows``), the runs paired by seed; verdicts name the methods."""
    table = []
    for n in dict.fromkeys(row["n_per_class"] for row in rows):
        by_seed = {m: {r["seed"]: r[key] for r in rows
                       if r["method"] == m and r["n_per_class"] == n} for m in (a, b)}
        seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
        first, second = [by_seed[a][s] for s in seeds], [by_seed[b][s] for s in seeds]
        result = paired_difference(first, second)
        named = {"a better": f"{a} better", "b better": f"{b} better"}
        result["verdict"] = named.get(result["verdict"], result["verdict"])
        table.append({"n_per_class": n, a: float(np.mean(first)),
                      b: float(np.mean(second)), **result})
    return table
