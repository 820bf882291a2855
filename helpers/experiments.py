"""The experiments of notebooks 04 and 05: the Keras recipe of 02 and 03, many times."""

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

# The analysis of the runs, re-exported for the notebooks:
from helpers.analysis import best_rates, check_sizes, compare, paired_difference  # noqa: F401
from helpers.data import Task, sample_per_class
from helpers.models import (
    CONVOLUTIONS,
    build_model,
    copy_weights,
    feature_extractor,
    head_of,
)
from helpers.reporting import weights_digest
from helpers.study import Study
from helpers.training import LOSS, make_optimizer, set_seed

# Epochs of fixed batches: early stopping checks as often for 5 images as for 27,000.
STEPS_PER_EPOCH = 32
MOVING = ("conv1", "conv2", "dense", "output")  # the layers with weights

@dataclass(frozen=True)
class Method:
    """How a run starts: layers copied and frozen (both convolutions: a cached head)."""
    name: str
    copied: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()

    @property
    def cached(self) -> bool:
        return set(CONVOLUTIONS) <= set(self.frozen) & set(self.copied)

    def build(self, base: keras.Model, n_classes: int) -> keras.Model:
        """The model this method trains: the whole CNN, or a head on features."""
        model = build_model(n_classes, name=self.name)
        if self.cached:
            model = head_of(model, name=self.name)
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
    """When a run stops: ``patience`` epochs without progress, or ``max_epochs``."""
    max_epochs: int
    patience: int
    batch_size: int = 128

def endless_batches(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """(x, y) in endless reshuffled batches: no short epochs (as arrays would give)."""
    images, labels = tf.constant(x), tf.constant(y)
    return (tf.data.Dataset.range(len(y)).shuffle(len(y)).repeat()
            .batch(min(batch_size, len(y)))
            .map(lambda i: (tf.gather(images, i), tf.gather(labels, i))))

def fit_until_stopped(model, train, validation, *, optimizer: str, learning_rate: float,
                      budget: Budget, initial_epoch: int = 0) -> dict:
    """Fit on ``train`` until ``validation`` accuracy stalls (best weights restored)."""
    batches = endless_batches(*train, budget.batch_size)
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=LOSS,
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EPOCH)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=budget.patience, restore_best_weights=True)
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
    """Each row's likeliest class; not by `predict`, which retraces for every model."""
    scores = (model(x[i : i + batch], training=False) for i in range(0, len(x), batch))
    return np.concatenate([np.argmax(keras.ops.convert_to_numpy(s), 1) for s in scores])

def draw_sample(task: Task, n: int | None, seed: int, validation_per_class: int):
    """Indices of a run's images: training (``n`` per class, None: all), validation."""
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
    """||after - before|| / ||before|| per kernel in ``before`` that ``model`` has."""
    after = kernels(model)
    return {n: float(np.linalg.norm(after[n] - w) / np.linalg.norm(w))
            for n, w in before.items() if n in after}

@dataclass
class Setting:
    """What every run of a sweep shares, and the task's features once computed."""
    base: keras.Model
    task: Task
    optimizer: str
    budget: Budget
    validation_per_class: int
    features: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        # Sent as config and weights, rebuilt by the run that needs it: a Dask worker
        # unpickles the next task mid-run, and building layers then would race seeds.
        state = dict(self.__dict__)
        if not isinstance(self.base, tuple):
            state["base"] = (keras.saving.serialize_keras_object(self.base),
                             self.base.get_weights())
        return state

    def base_model(self) -> keras.Model:
        """The base model (rebuilt here if this setting was sent to a worker)."""
        if isinstance(self.base, tuple):
            config, weights = self.base
            self.base = keras.saving.deserialize_keras_object(config)
            self.base.set_weights(weights)
        return self.base

    def context(self) -> dict:
        """What a recorded run depends on besides its spec."""
        return {"base_weights_digest": weights_digest(self.base_model()),
                "digits": self.task.digits, "sizes": self.task.sizes()}

    def cached_features(self) -> dict[str, np.ndarray]:
        """Base features of train, val and test: one `predict` (new shapes retrace)."""
        if self.features is None:
            parts = [self.task.x_train, self.task.x_val, self.task.x_test]
            cached = feature_extractor(self.base_model()).predict(
                np.concatenate(parts), batch_size=1024, verbose=0)
            ends = np.cumsum([len(x) for x in parts])[:-1]
            self.features = dict(zip(("train", "val", "test"), np.split(cached, ends),
                                     strict=True))
        return self.features

def one_run(setting: Setting, spec: dict) -> dict:
    """The row of the run ``spec`` describes: sample, build, fit until stopped, test."""
    task, budget = setting.task, Budget(spec["max_epochs"], spec["patience"],
                                        spec["batch_size"])
    method = Method(spec["method"], tuple(spec["copied"]), tuple(spec["frozen"]))
    train, val = draw_sample(task, spec["n_per_class"], spec["seed"],
                             spec["validation_per_class"])
    x = (setting.cached_features() if method.cached else
         {"train": task.x_train, "val": task.x_val, "test": task.x_test})
    base = setting.base_model()  # rebuilt (in a worker) before seeding: it draws
    start = time.perf_counter()  # random numbers, and only the first run rebuilds
    set_seed(spec["seed"])
    model = method.build(base, task.n_classes)
    before = kernels(model)
    run = fit_until_stopped(
        model, (x["train"][train], task.y_train[train]),
        (x["val"][val], task.y_val[val]), optimizer=spec["optimizer"],
        learning_rate=spec["learning_rate"], budget=budget)
    predicted = predict_classes(model, x["test"])
    wrong = np.flatnonzero(predicted != task.y_test)
    return {"n_per_class": spec["n_per_class"], "seed": spec["seed"],
            "method": method.name, "learning_rate": spec["learning_rate"],
            "test_accuracy": 1 - len(wrong) / len(task.y_test),
            "mistakes": [[int(i), int(predicted[i])] for i in wrong],
            "moved": relative_change(before, model),
            "seconds": round(time.perf_counter() - start, 1), **run}

def sweep(study: Study, name: str, methods: Sequence[Method], setting: Setting, *,
          sizes: Sequence[int | None], seeds: Sequence[int],
          rates: dict[str, float]) -> list[dict]:
    """A :func:`one_run` row per size, seed, method and rate, all on the same images."""
    budget = setting.budget
    specs = [{"n_per_class": n, "seed": int(seed), "method": m.name,
              "copied": list(m.copied), "frozen": list(m.frozen),
              "learning_rate": rate, "optimizer": setting.optimizer,
              "max_epochs": budget.max_epochs, "patience": budget.patience,
              "batch_size": budget.batch_size,
              "validation_per_class": setting.validation_per_class}
             for n in sizes for seed in seeds for m in methods
             for rate in np.atleast_1d(rates[m.name]).tolist()]
    return study.runs(name, specs, functools.partial(one_run, setting),
                      context=setting.context(), describe=_label)

def _label(spec: dict) -> str:
    n = "all" if spec["n_per_class"] is None else spec["n_per_class"]
    return f"n={n} seed={spec['seed']} {spec['method']} rate {spec['learning_rate']:g}"
