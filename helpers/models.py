"""The course's CNN (the original example's): feature layers, then a head.

Notebook 02 explains the two parts; notebook 03 freezes the first and trains the
second, on images or on cached features.
"""

from __future__ import annotations

import keras
import numpy as np

IMAGE_SHAPE = (28, 28, 1)
# Layer names, in order. Stable names keep summaries and saved models the same in
# every session, and let a notebook write `model.get_layer("conv1")`.
FEATURE_LAYERS = (
    "conv1",
    "conv1_relu",
    "conv2",
    "conv2_relu",
    "pool",
    "feature_dropout",
    "flatten",
)
CLASSIFICATION_LAYERS = ("dense", "dense_relu", "head_dropout", "output", "softmax")
CONVOLUTIONS = ("conv1", "conv2")
# Cached features are the output of "pool": the last layer that computes the same
# thing in training and in inference. Everything after it (from the feature
# dropout on) is the *head* that trains on the cache.
CACHE_POINT = "pool"
HEAD_LAYERS = FEATURE_LAYERS[FEATURE_LAYERS.index(CACHE_POINT) + 1 :]
HEAD_LAYERS += CLASSIFICATION_LAYERS
FEATURE_SHAPE = (12, 12, 32)  # the output of "pool" for a 28 x 28 image


def _layers(n_classes: int) -> list[keras.layers.Layer]:
    """Fresh layers of the whole network, in order (names as above)."""
    return [
        keras.layers.Conv2D(32, 3, name="conv1"),
        keras.layers.Activation("relu", name="conv1_relu"),
        keras.layers.Conv2D(32, 3, name="conv2"),
        keras.layers.Activation("relu", name="conv2_relu"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Dropout(0.25, name="feature_dropout"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(128, name="dense"),
        keras.layers.Activation("relu", name="dense_relu"),
        keras.layers.Dropout(0.5, name="head_dropout"),
        keras.layers.Dense(n_classes, name="output"),
        keras.layers.Activation("softmax", name="softmax"),
    ]


def _check_classes(n_classes) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes={n_classes!r}; it must be an integer >= 2")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}; a classifier needs 2 or more")
    return int(n_classes)


def build_model(n_classes: int, name: str = "cnn") -> keras.Sequential:
    """The whole CNN for ``n_classes`` classes, freshly initialised."""
    layers = _layers(_check_classes(n_classes))
    return keras.Sequential(
        [keras.Input(IMAGE_SHAPE, name="image"), *layers], name=name
    )


def build_head(n_classes: int, name: str = "head") -> keras.Sequential:
    """The layers after the cache point, on cached features, freshly initialised."""
    layers = _layers(_check_classes(n_classes))
    layers = [layer for layer in layers if layer.name in HEAD_LAYERS]
    return keras.Sequential(
        [keras.Input(FEATURE_SHAPE, name="features"), *layers], name=name
    )


def feature_extractor(model: keras.Model) -> keras.Model:
    """A model that maps images to ``model``'s cached features (shares its layers)."""
    return keras.Model(
        model.inputs[0], model.get_layer(CACHE_POINT).output, name="features"
    )


def copy_weights(source: keras.Model, target: keras.Model, names) -> None:
    """Copy the weights of the layers ``names`` from ``source`` into ``target``."""
    for name in names:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())


def transfer_model(
    base: keras.Model, n_classes: int, head: str = "new"
) -> keras.Sequential:
    """A model for a new task that starts from ``base``'s convolutions.

    ``head="new"``: the classification layers start from random weights.
    ``head="copied"``: ``dense`` is copied as well, and ``output`` too when the
    number of classes matches (as the original example did); otherwise a new
    output layer. ``base`` is left untouched; nothing is frozen.
    """
    if head not in ("new", "copied"):
        raise ValueError(f"head={head!r}; use 'new' or 'copied'")
    model = build_model(n_classes, name=f"transfer_{head}_head")
    names = list(CONVOLUTIONS)
    if head == "copied":
        names.append("dense")
        if base.get_layer("output").units == n_classes:
            names.append("output")
    copy_weights(base, model, names)
    return model


def weights_of(model: keras.Model, names) -> list[np.ndarray]:
    """Copies of the weights of the layers ``names``, to compare before and after."""
    return [w for name in names for w in model.get_layer(name).get_weights()]
