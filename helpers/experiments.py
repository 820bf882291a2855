"""The repeated experiments of notebooks 04-06: one Keras recipe, many runs.

Every run follows the recipe that notebooks 02 and 03 write out: build a model,
set ``trainable``, ``compile``, ``fit`` with early stopping on validation, and
``evaluate`` on test. Nothing else happens here but the bookkeeping around it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers.data import Task, sample_per_class
from helpers.models import build_head, build_model, copy_weights, feature_extractor
from helpers.training import LOSS, STEPS_PER_EXECUTION, make_optimizer, set_seed

# In the sweeps an epoch is a fixed number of batches, whatever the sample size:
# early stopping then checks validation equally often for 5 images and for
# 27,000 (a sample smaller than one epoch is repeated, each image equally often).
STEPS_PER_EPOCH = 32


@dataclass(frozen=True)
class Method:
    """How a run starts: which layers are copied from the base model, which frozen.

    With both convolutions frozen and copied, the run trains a head on cached
    features (notebook 03 shows that this is the same training, faster).
    """

    name: str
    copied: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()

    @property
    def cached(self) -> bool:
        return {"conv1", "conv2"} <= set(self.frozen) and {"conv1", "conv2"} <= set(
            self.copied
        )

    def build(self, base: keras.Model, n_classes: int) -> keras.Model:
        """The model this method trains: the whole CNN, or a head on features."""
        model = build_model(n_classes, name=self.name)
        copy_weights(base, model, self.copied)
        for name in self.frozen:
            model.get_layer(name).trainable = False
        if not self.cached:
            return model
        head = build_head(n_classes, name=self.name)
        copy_weights(
            model, head, [n for n in self.copied if n not in ("conv1", "conv2")]
        )
        for name in self.frozen:
            if name in (layer.name for layer in head.layers):
                head.get_layer(name).trainable = False
        return head


TRANSFER = Method("transfer", copied=("conv1", "conv2"), frozen=("conv1", "conv2"))
SCRATCH = Method("scratch")


@dataclass(frozen=True)
class Budget:
    """When a run stops: ``patience`` epochs without a better validation accuracy,
    or ``max_epochs`` (the cap), each of :data:`STEPS_PER_EPOCH` batches."""

    max_epochs: int
    patience: int
    batch_size: int = 128


def fit_until_stopped(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    optimizer: str,
    learning_rate: float,
    budget: Budget,
    initial_epoch: int = 0,
) -> dict:
    """Compile and fit ``model`` until validation accuracy stops improving.

    The weights of the best epoch are restored. Returns the epochs trained, the
    best epoch (counted from 1), whether the cap ended the run, and the
    validation accuracy after every epoch.
    """
    x, y = train
    batch_size = min(budget.batch_size, len(y))
    # An endless stream of batches, reshuffled on every pass over the sample, so
    # every epoch is STEPS_PER_EPOCH batches and every image is seen equally often.
    # (Arrays with `steps_per_epoch` continue a pass into the next epoch, which
    # then gets only the batches left of that pass: a short epoch.)
    images, labels = tf.constant(x), tf.constant(y)
    batches = (
        tf.data.Dataset.range(len(y))
        .shuffle(len(y), reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size)
        .map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    )
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=LOSS,
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EPOCH,
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=budget.patience, restore_best_weights=True
    )
    history = model.fit(
        batches,
        steps_per_epoch=STEPS_PER_EPOCH,
        shuffle=False,  # the stream shuffles itself
        initial_epoch=initial_epoch,
        epochs=initial_epoch + budget.max_epochs,
        validation_data=validation,
        validation_batch_size=batch_size,
        callbacks=[stop],
        verbose=0,
    ).history
    curve = [round(v, 4) for v in history["val_accuracy"]]
    return {
        "epochs": len(curve),
        "best_epoch": stop.best_epoch + 1 - initial_epoch,
        "hit_cap": len(curve) == budget.max_epochs,
        "best_val_accuracy": max(curve),
        "val_accuracy": curve,
    }


def check_sizes(name: str, sizes, task: Task, seeds, part: str = "train") -> None:
    """ValueError naming ``name`` unless ``sizes`` is a non-empty list of images
    per class (integers >= 1, or None for all) that the task's ``part`` holds,
    and ``seeds`` a non-empty list of integers >= 0."""
    labels = task.y_train if part == "train" else task.y_val
    pool = min(np.bincount(labels, minlength=task.n_classes))
    if isinstance(sizes, str) or not isinstance(sizes, Sequence) or not sizes:
        raise ValueError(f"{name}={sizes!r}; give a non-empty list")
    for n in sizes:
        if n is None and part == "train":
            continue
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"{name}={list(sizes)!r} holds {n!r}; use integers >= 1"
                + (" or None (all images)" if part == "train" else "")
            )
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
    val, _ = sample_per_class(
        np.arange(len(task.y_val)), task.y_val, validation_per_class, seed
    )
    return train, val


MOVING = ("conv1", "conv2", "dense", "output")  # the layers with weights


def relative_change(before: dict, model: keras.Model) -> dict[str, float]:
    """||w_after - w_before|| / ||w_before|| of each layer's kernel in ``before``."""
    names = {layer.name for layer in model.layers}
    return {
        name: float(
            np.linalg.norm(model.get_layer(name).get_weights()[0] - kernel)
            / np.linalg.norm(kernel)
        )
        for name, kernel in before.items()
        if name in names
    }


def sweep(
    methods: Sequence[Method],
    base: keras.Model,
    task: Task,
    *,
    sizes: Sequence[int | None],
    seeds: Sequence[int],
    rates: dict[str, float],
    optimizer: str,
    budget: Budget,
    validation_per_class: int,
    features: dict[str, np.ndarray] | None = None,
    progress: bool = True,
) -> list[dict]:
    """One run per size, seed and method; at a size and seed, the same images
    for every method.

    ``rates`` maps a method's name to its learning rate. ``features`` holds the
    base model's cached features of the task's "train", "val" and "test" images,
    for the methods that train on them. Returns one row per run: size, seed,
    method, rate, epochs (trained, best, cap reached), validation and test
    accuracy, the misclassified test images (index, predicted class), how far
    each layer moved, and seconds.
    """
    images = {"train": task.x_train, "val": task.x_val, "test": task.x_test}
    rows, total = [], len(sizes) * len(seeds) * len(methods)
    for n in sizes:
        for seed in seeds:
            train, val = draw_sample(task, n, seed, validation_per_class)
            for method in methods:
                x = features if method.cached else images
                start = time.perf_counter()
                set_seed(seed)
                model = method.build(base, task.n_classes)
                names = {layer.name for layer in model.layers}
                before = {
                    name: model.get_layer(name).get_weights()[0]
                    for name in MOVING
                    if name in names
                }
                run = fit_until_stopped(
                    model,
                    (x["train"][train], task.y_train[train]),
                    (x["val"][val], task.y_val[val]),
                    optimizer=optimizer,
                    learning_rate=rates[method.name],
                    budget=budget,
                )
                predicted = np.argmax(
                    model.predict(x["test"], batch_size=1024, verbose=0), axis=1
                )
                wrong = np.flatnonzero(predicted != task.y_test)
                test_accuracy = 1 - len(wrong) / len(task.y_test)
                rows.append(
                    {
                        "n_per_class": n,
                        "seed": int(seed),
                        "method": method.name,
                        "learning_rate": rates[method.name],
                        "test_accuracy": test_accuracy,
                        "moved": relative_change(before, model),
                        "mistakes": [[int(i), int(predicted[i])] for i in wrong],
                        "seconds": round(time.perf_counter() - start, 1),
                        **run,
                    }
                )
                if progress:
                    print(
                        f"[{len(rows):>3}/{total}] n={'all' if n is None else n} "
                        f"seed={seed} {method.name}: {run['epochs']} epochs "
                        f"(best {run['best_epoch']}), test accuracy "
                        f"{test_accuracy:.4f}, {rows[-1]['seconds']:.0f} s",
                        flush=True,
                    )
    return rows


def best_rates(rows: Sequence[dict]) -> dict[str, float]:
    """For each method, the learning rate whose runs reached the highest mean
    validation accuracy (test accuracy is not looked at)."""
    scores: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        by_rate = scores.setdefault(row["method"], {})
        by_rate.setdefault(row["learning_rate"], []).append(row["best_val_accuracy"])
    return {
        method: max(by_rate, key=lambda rate: float(np.mean(by_rate[rate])))
        for method, by_rate in scores.items()
    }


# Two-sided 95% quantiles of Student's t for 1-30 degrees of freedom.
T_95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def paired_difference(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Mean of ``a - b`` over paired runs, with a 95% t-interval and a verdict.

    The verdict names the better side only when the interval excludes zero;
    otherwise it is "cannot tell".
    """
    if len(values_a) != len(values_b) or not len(values_a):
        raise ValueError(f"{len(values_a)} and {len(values_b)} values; give pairs")
    diffs = np.asarray(values_a, float) - np.asarray(values_b, float)
    k = len(diffs)
    mean = float(diffs.mean())
    if k < 2:
        return {
            "pairs": k,
            "mean": mean,
            "low": None,
            "high": None,
            "verdict": "cannot tell (one pair)",
        }
    half = T_95[min(k - 1, len(T_95)) - 1] * float(diffs.std(ddof=1)) / math.sqrt(k)
    low, high = mean - half, mean + half
    verdict = "a better" if low > 0 else "b better" if high < 0 else "cannot tell"
    return {"pairs": k, "mean": mean, "low": low, "high": high, "verdict": verdict}


def compare(
    rows: Sequence[dict], a: str, b: str, key: str = "test_accuracy"
) -> list[dict]:
    """:func:`paired_difference` of methods ``a`` and ``b`` per size, paired by seed."""
    table = []
    for n in dict.fromkeys(row["n_per_class"] for row in rows):
        by_seed = {
            method: {
                r["seed"]: r[key]
                for r in rows
                if r["method"] == method and r["n_per_class"] == n
            }
            for method in (a, b)
        }
        seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
        first = [by_seed[a][s] for s in seeds]
        second = [by_seed[b][s] for s in seeds]
        result = paired_difference(first, second)
        named = {"a better": f"{a} better", "b better": f"{b} better"}
        result["verdict"] = named.get(result["verdict"], result["verdict"])
        table.append(
            {
                "n_per_class": n,
                a: float(np.mean(first)),
                b: float(np.mean(second)),
                **result,
            }
        )
    return table


def original_example(
    source: Task,
    target: Task,
    *,
    seed: int,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    base: keras.Model | None = None,
) -> dict:
    """The original example's two steps with Adadelta at ``learning_rate``.

    Step 1 trains a base model on the source digits (or takes ``base``, trained
    so already; then no training history is returned). Step 2 freezes its
    feature layers and retrains its head on the target digits, on features
    computed once (notebook 03 shows it is the same training). Returns the test
    accuracy of each step.
    """
    set_seed(seed)
    settings = {
        "loss": LOSS,
        "metrics": ["accuracy"],
        "steps_per_execution": STEPS_PER_EXECUTION,
    }
    history = None
    if base is None:
        base = build_model(source.n_classes)
        base.compile(keras.optimizers.Adadelta(learning_rate), **settings)
        history = base.fit(
            source.x_train,
            source.y_train,
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
        ).history
    _, base_accuracy = base.evaluate(source.x_test, source.y_test, verbose=0)
    extractor = feature_extractor(base)
    head = build_head(target.n_classes)
    same = target.n_classes == source.n_classes
    copy_weights(base, head, ["dense", "output"] if same else ["dense"])
    head.compile(keras.optimizers.Adadelta(learning_rate), **settings)
    head.fit(
        extractor.predict(target.x_train, batch_size=1024, verbose=0),
        target.y_train,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
    )
    test_features = extractor.predict(target.x_test, batch_size=1024, verbose=0)
    _, transfer_accuracy = head.evaluate(test_features, target.y_test, verbose=0)
    return {
        "base_accuracy": base_accuracy,
        "transfer_accuracy": transfer_accuracy,
        "base_history": history,
    }


def two_phase(
    base: keras.Model,
    task: Task,
    *,
    n: int | None,
    seed: int,
    rates: tuple[float, float],
    optimizer: str,
    budget: Budget,
    validation_per_class: int,
    features: dict[str, np.ndarray],
) -> dict:
    """Feature extraction, then fine-tuning, as notebook 05 writes it out once.

    Phase 1 trains a new head on the base model's cached features at
    ``rates[0]``. Phase 2 puts that head on the base model's convolutions,
    makes every layer trainable and continues at ``rates[1]``; both phases stop
    early on validation. Returns the validation and test accuracy after each
    phase, and the epochs of each.
    """
    train, val = draw_sample(task, n, seed, validation_per_class)
    set_seed(seed)
    head = TRANSFER.build(base, task.n_classes)
    first = fit_until_stopped(
        head,
        (features["train"][train], task.y_train[train]),
        (features["val"][val], task.y_val[val]),
        optimizer=optimizer,
        learning_rate=rates[0],
        budget=budget,
    )
    _, first_test = head.evaluate(features["test"], task.y_test, verbose=0)
    model = build_model(task.n_classes)
    copy_weights(base, model, ("conv1", "conv2"))
    copy_weights(head, model, ("dense", "output"))
    second = fit_until_stopped(
        model,
        (task.x_train[train], task.y_train[train]),
        (task.x_val[val], task.y_val[val]),
        optimizer=optimizer,
        learning_rate=rates[1],
        budget=budget,
        initial_epoch=first["epochs"],
    )
    _, second_test = model.evaluate(task.x_test, task.y_test, verbose=0)
    return {
        "n_per_class": n,
        "seed": int(seed),
        "fine_tune_rate": rates[1],
        "phase1_val": first["best_val_accuracy"],
        "phase2_val": second["best_val_accuracy"],
        "phase1_test": first_test,
        "phase2_test": second_test,
        "phase1_epochs": first["epochs"],
        "phase2_epochs": second["epochs"],
        "phase2_hit_cap": second["hit_cap"],
    }
