"""The course's CNN: feature layers, classification layers, freezing, counting."""

from __future__ import annotations

import keras
import numpy as np

IMAGE_SHAPE = (28, 28, 1)

# Stable names, so summaries and saved models read the same in every session.
FEATURE_LAYER_NAMES = (
    "conv1",
    "conv1_relu",
    "conv2",
    "conv2_relu",
    "pool",
    "feature_dropout",
    "flatten",
)
CLASSIFICATION_LAYER_NAMES = (
    "dense",
    "dense_relu",
    "head_dropout",
    "output",
    "softmax",
)


def feature_layers() -> list[keras.layers.Layer]:
    """Two 3x3 convolutions, max-pooling, dropout, flatten: the part that transfers."""
    return [
        keras.layers.Conv2D(32, 3, padding="valid", name="conv1"),
        keras.layers.Activation("relu", name="conv1_relu"),
        keras.layers.Conv2D(32, 3, name="conv2"),
        keras.layers.Activation("relu", name="conv2_relu"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Dropout(0.25, name="feature_dropout"),
        keras.layers.Flatten(name="flatten"),
    ]


def classification_layers(n_classes: int) -> list[keras.layers.Layer]:
    """Dense(128), dropout and a softmax over ``n_classes``: the task-specific part."""
    return [
        keras.layers.Dense(128, name="dense"),
        keras.layers.Activation("relu", name="dense_relu"),
        keras.layers.Dropout(0.5, name="head_dropout"),
        keras.layers.Dense(n_classes, name="output"),
        keras.layers.Activation("softmax", name="softmax"),
    ]


def build_model(n_classes: int, name: str = "cnn") -> keras.Sequential:
    """The original example's CNN for ``n_classes`` classes, freshly initialised."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes must be an integer, got {n_classes!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}; a classifier needs 2 or more")
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE, name="image"),
            *feature_layers(),
            *classification_layers(int(n_classes)),
        ],
        name=name,
    )


def features_of(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's feature layers, in order."""
    return [model.get_layer(name) for name in FEATURE_LAYER_NAMES]


def freeze_features(model: keras.Model, frozen: bool = True) -> None:
    """Mark the feature layers (not) trainable. Compile again before training."""
    for layer in features_of(model):
        layer.trainable = not frozen


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts."""

    def count(weights: list) -> int:
        return int(sum(np.prod(w.shape) for w in weights))

    trainable = count(model.trainable_weights)
    non_trainable = count(model.non_trainable_weights)
    return {
        "total": trainable + non_trainable,
        "trainable": trainable,
        "non_trainable": non_trainable,
    }


def feature_weights(model: keras.Model) -> list[np.ndarray]:
    """Copies of the feature layers' weights, to compare before and after training."""
    return [w for layer in features_of(model) for w in layer.get_weights()]


def model_for_target(
    base: keras.Model, n_classes: int, reuse_head: bool = True
) -> tuple[keras.Sequential, str]:
    """A model for a task with ``n_classes`` classes that starts from ``base``.

    The feature layers' weights are always copied from ``base``. With
    ``reuse_head`` and a matching number of outputs, the classification layers
    are copied too, as the original example does; if the output sizes differ,
    only the output layer is new. Without ``reuse_head`` all classification
    layers are freshly initialised. Returns the model and a sentence saying
    which happened. ``base`` itself is left untouched.
    """
    old = base.get_layer("output").units
    if reuse_head and old == n_classes:
        model = keras.models.clone_model(base)
        model.set_weights(base.get_weights())
        return model, (
            f"The base model already has {n_classes} outputs: "
            "its classification layers are reused as they are."
        )
    model = build_model(n_classes, name=base.name)
    copied = FEATURE_LAYER_NAMES
    if reuse_head:
        copied += ("dense",)
        message = (
            f"The base model has {old} outputs and this task has {n_classes} "
            f"classes: the output layer is replaced by a new, untrained "
            f"Dense({n_classes}); the other layers are copied."
        )
    else:
        message = (
            "The feature layers are copied from the base model; the classification "
            "layers are new and untrained."
        )
    for name in copied:
        model.get_layer(name).set_weights(base.get_layer(name).get_weights())
    return model, message


def layer_table(model: keras.Model) -> list[dict]:
    """One row per layer: name, type, output shape, parameters, trainable.

    A plain alternative to ``model.summary()`` whose output is the same in every
    session (no colour codes, no optimizer line after training).
    """
    rows = []
    for layer in model.layers:
        n_params = int(sum(np.prod(w.shape) for w in layer.weights))
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output shape": str(tuple(layer.output.shape)),
                "parameters": n_params,
                "trainable": ("yes" if layer.trainable else "no") if n_params else "-",
            }
        )
    return rows
