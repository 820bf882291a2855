"""Cached bottleneck features: run the frozen layers once, train the head on arrays.

Frozen layers never change, so their output for an image is the same in every
epoch. The cache point is the max-pooling output, *before* the feature dropout:
dropout is random in training, so it stays in the trained head, where it still
acts on every step exactly as it does in the whole frozen model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from helpers.models import build_model

CACHE_POINT = "pool"
# The layers after the cache point: the head that is trained on cached features.
HEAD_LAYERS = (
    "feature_dropout",
    "flatten",
    "dense",
    "dense_relu",
    "head_dropout",
    "output",
    "softmax",
)


def compute_features(
    model: keras.Model, images: np.ndarray, batch_size: int = 2048
) -> tf.Tensor:
    """The output of ``model``'s layers up to the cache point, for every image.

    One compiled call per batch (faster here than ``predict``, and than calling
    the layers eagerly). The result stays a TensorFlow tensor: for all training
    images it takes half a gigabyte, and copying it into a NumPy array and back
    into a tensor for training would cost more time than computing it
    (``np.asarray`` gives an array when one is needed).
    """
    extractor = keras.Model(model.inputs[0], model.get_layer(CACHE_POINT).output)
    with quiet_retracing():  # a new model each time: retracing is intended
        run = tf.function(lambda batch: extractor(batch, training=False))
        return tf.concat(
            [
                run(images[start : start + batch_size])
                for start in range(0, len(images), batch_size)
            ],
            axis=0,
        )


@contextlib.contextmanager
def quiet_retracing() -> Iterator[None]:
    """Silence TensorFlow's warning that tf.functions are being retraced.

    Sweeps build a new model for every run, so each one traces its own
    functions: the retracing TensorFlow warns about is intended.
    """
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def head_of(model: keras.Model) -> keras.Sequential:
    """A model of the layers after the cache point, with ``model``'s weights.

    The head's layers are new objects (training it leaves ``model`` alone) with the
    same names, so :func:`copy_head_into` can put the trained weights back. A
    layer frozen in ``model`` (say ``dense``) is frozen in the head as well, and
    the dropout layers continue ``model``'s random sequence: the head draws the
    masks that ``model`` itself would have drawn next.
    """
    n_classes = model.get_layer("output").units
    template = build_model(n_classes)
    shape = tuple(model.get_layer(CACHE_POINT).output.shape[1:])
    head = keras.Sequential(
        [
            keras.Input(shape, name="features"),
            *(template.get_layer(name) for name in HEAD_LAYERS),
        ],
        name="head",
    )
    for name in HEAD_LAYERS:
        layer, original = head.get_layer(name), model.get_layer(name)
        layer.trainable = original.trainable
        if hasattr(original, "seed_generator"):  # the same dropout masks, in order
            layer.seed_generator.state.assign(original.seed_generator.state.value)
    copy_weights(model, head)
    return head


def copy_head_into(head: keras.Model, model: keras.Model) -> None:
    """Put a trained head's weights back into the whole model."""
    copy_weights(head, model)


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the weights of the head layers from ``source`` to ``target``."""
    for name in HEAD_LAYERS:
        weights = source.get_layer(name).get_weights()
        if weights:
            target.get_layer(name).set_weights(weights)
