"""The course's CNN, the original example's: feature layers, then a head (02, 03)."""

import keras
import numpy as np

IMAGE_SHAPE = (28, 28, 1)
FEATURE_SHAPE = (12, 12, 32)  # the output of "pool" for a 28 x 28 image

def _layers(n_classes: int) -> list[keras.layers.Layer]:
    """Fresh layers in order, with fixed names: the same summaries in every session."""
    L = keras.layers
    return [L.Conv2D(32, 3, name="conv1"), L.Activation("relu", name="conv1_relu"),
            L.Conv2D(32, 3, name="conv2"), L.Activation("relu", name="conv2_relu"),
            L.MaxPooling2D(2, name="pool"), L.Dropout(0.25, name="feature_dropout"),
            L.Flatten(name="flatten"),
            L.Dense(128, name="dense"), L.Activation("relu", name="dense_relu"),
            L.Dropout(0.5, name="head_dropout"), L.Dense(n_classes, name="output"),
            L.Activation("softmax", name="softmax")]

LAYERS = tuple(layer.name for layer in _layers(2))
FEATURE_LAYERS, CLASSIFICATION_LAYERS = LAYERS[:7], LAYERS[7:]
CONVOLUTIONS = ("conv1", "conv2")
# Features are cached at "pool", the last layer that computes the same thing in
# training and inference; the layers after it are the *head* trained on the cache.
CACHE_POINT = "pool"
HEAD_LAYERS = LAYERS[LAYERS.index(CACHE_POINT) + 1 :]

def _check_classes(n_classes) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes={n_classes!r}; it must be an integer >= 2")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}; a classifier needs 2 or more")
    return int(n_classes)

def build_model(n_classes: int, name: str = "cnn") -> keras.Sequential:
    layers = _layers(_check_classes(n_classes))
    return keras.Sequential([keras.Input(IMAGE_SHAPE), *layers], name=name)

def build_head(n_classes: int, name: str = "head") -> keras.Sequential:
    """The layers after the cache point, on cached features, freshly initialised."""
    head = [layer for layer in _layers(_check_classes(n_classes))
            if layer.name in HEAD_LAYERS]
    return keras.Sequential([keras.Input(FEATURE_SHAPE, name="features"), *head],
                            name=name)

def head_of(model: keras.Model, name: str = "head") -> keras.Sequential:
    """``model``'s layers after the cache point (as ``model`` with frozen features)."""
    head = [model.get_layer(n) for n in HEAD_LAYERS]
    return keras.Sequential([keras.Input(FEATURE_SHAPE, name="features"), *head],
                            name=name)

def feature_extractor(model: keras.Model) -> keras.Model:
    """A model that maps images to ``model``'s cached features (shares its layers)."""
    return keras.Model(model.inputs[0], model.get_layer(CACHE_POINT).output,
                       name="features")

def copy_weights(source: keras.Model, target: keras.Model, names) -> None:
    for name in names:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())

def transfer_model(base: keras.Model, n_classes: int, head: str = "new"):
    """``base``'s convolutions; "copied" also ``dense``, and ``output`` if it fits."""
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
