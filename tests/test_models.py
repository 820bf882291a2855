"""helpers.models: the CNN's size and names, the head on cached features, the
transfer copy, and freezing as the notebooks do it (trainable, compile, fit)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from helpers.models import (
    CLASSIFICATION_LAYERS,
    CONVOLUTIONS,
    FEATURE_LAYERS,
    FEATURE_SHAPE,
    HEAD_LAYERS,
    build_head,
    build_model,
    copy_weights,
    feature_extractor,
    transfer_model,
    weights_of,
)
from helpers.training import set_seed

ALL_LAYERS = list(FEATURE_LAYERS + CLASSIFICATION_LAYERS)


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    return "\n".join(lines)


def assert_same(first: list[np.ndarray], second: list[np.ndarray]) -> None:
    assert len(first) == len(second) > 0
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def all_differ(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return all(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def compile_adadelta(model: keras.Model) -> None:
    """The notebooks' compile: a fresh Adadelta at 1.0, integer labels."""
    model.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
        loss="sparse_categorical_crossentropy",
    )


@pytest.fixture(scope="module")
def images(small_task) -> tuple[np.ndarray, np.ndarray]:
    """128 real training images of digits 0-4 and their labels."""
    return small_task.x_train[:128], small_task.y_train[:128]


# --------------------------------------------------------------- size and names


def test_build_model_has_the_original_examples_parameter_count():
    # conv1 320 + conv2 9,248 + dense 589,952 + output 645 (128 x 5 + 5)
    assert build_model(5).count_params() == 600_165
    assert build_model(2).count_params() == 599_778  # output 258


def test_layer_names_are_stable_across_builds():
    first, second = build_model(5), build_model(5)
    assert [layer.name for layer in first.layers] == ALL_LAYERS
    assert [layer.name for layer in second.layers] == ALL_LAYERS
    assert [w.path for w in first.weights] == [w.path for w in second.weights]
    assert summary_text(first) == summary_text(second)  # no dense_1, conv2d_3, ...


def test_build_head_takes_cached_features_and_has_the_head_layers():
    head = build_head(5)
    assert head.input_shape == (None, *FEATURE_SHAPE)
    assert [layer.name for layer in head.layers] == list(HEAD_LAYERS)
    assert HEAD_LAYERS[0] == "feature_dropout" and HEAD_LAYERS[-1] == "softmax"
    assert head.count_params() == 590_597  # the whole model minus both convolutions
    assert head.output_shape == (None, 5)


@pytest.mark.parametrize("n_classes", [True, 1, 0, "5", 2.0])
@pytest.mark.parametrize("build", [build_model, build_head])
def test_bad_n_classes_is_refused_naming_the_value(build, n_classes):
    with pytest.raises(ValueError, match=re.escape(f"n_classes={n_classes!r}")):
        build(n_classes)


def test_numpy_integer_classes_are_accepted():
    assert build_model(np.int64(3)).output_shape == (None, 3)


# ------------------------------------------------- features, head, whole model


def test_feature_extractor_gives_the_pool_output(images):
    set_seed(0)
    base = build_model(5)
    x = images[0][:16]
    features = keras.ops.convert_to_numpy(feature_extractor(base)(x))
    assert features.shape == (16, *FEATURE_SHAPE)
    # The same layers called one after the other, up to and including "pool".
    h = x
    for name in FEATURE_LAYERS[: FEATURE_LAYERS.index("pool") + 1]:
        h = base.get_layer(name)(h)
    np.testing.assert_allclose(features, keras.ops.convert_to_numpy(h), atol=1e-6)


def test_head_on_features_predicts_what_the_whole_model_predicts(images):
    set_seed(1)
    base = build_model(5)
    head = build_head(5)
    copy_weights(base, head, ["dense", "output"])
    x = images[0][:32]
    whole = base.predict(x, verbose=0)
    features = feature_extractor(base).predict(x, verbose=0)
    np.testing.assert_allclose(
        head.predict(features, verbose=0), whole, rtol=1e-5, atol=1e-6
    )
    # Without the copied weights the head is another classifier.
    fresh = build_head(5).predict(features, verbose=0)
    assert not np.allclose(fresh, whole, atol=1e-3)


# ----------------------------------------------------------- transfer_model


@pytest.fixture(scope="module")
def base() -> keras.Model:
    set_seed(2)
    return build_model(5)


def test_transfer_model_with_a_new_head_copies_only_the_convolutions(base):
    before = [w.copy() for w in base.get_weights()]
    set_seed(3)
    model = transfer_model(base, 5, head="new")
    assert [layer.name for layer in model.layers] == ALL_LAYERS
    assert_same(weights_of(model, CONVOLUTIONS), weights_of(base, CONVOLUTIONS))
    for name in ("dense", "output"):
        assert all_differ(weights_of(model, [name])[:1], weights_of(base, [name])[:1])
    assert_same(base.get_weights(), before)
    assert all(layer.trainable for layer in model.layers)  # nothing frozen


def test_transfer_model_with_a_copied_head_copies_dense_and_output(base):
    model = transfer_model(base, 5, head="copied")
    assert_same(model.get_weights(), base.get_weights())
    # A copy, not shared layers: changing it leaves the base alone.
    before = [w.copy() for w in base.get_weights()]
    model.get_layer("conv1").kernel.assign(np.zeros((3, 3, 1, 32), np.float32))
    model.get_layer("output").kernel.assign(np.zeros((128, 5), np.float32))
    assert_same(base.get_weights(), before)


def test_transfer_model_with_other_classes_copies_dense_but_not_output(base):
    model = transfer_model(base, 3, head="copied")
    assert model.output_shape == (None, 3)
    names = [*CONVOLUTIONS, "dense"]
    assert_same(weights_of(model, names), weights_of(base, names))
    assert tuple(model.get_layer("output").kernel.shape) == (128, 3)
    assert base.output_shape == (None, 5)


@pytest.mark.parametrize("head", ["old", "", None, "Copied"])
def test_transfer_model_refuses_an_unknown_head(base, head):
    with pytest.raises(ValueError, match=re.escape(f"head={head!r}")):
        transfer_model(base, 5, head=head)


@pytest.mark.parametrize("n_classes", [True, 1, "5"])
def test_transfer_model_refuses_bad_n_classes(base, n_classes):
    with pytest.raises(ValueError, match=re.escape(f"n_classes={n_classes!r}")):
        transfer_model(base, n_classes)


def test_weights_of_returns_copies_in_layer_order(base):
    got = weights_of(base, ["conv2", "conv1"])
    assert [w.shape for w in got] == [(3, 3, 32, 32), (32,), (3, 3, 1, 32), (32,)]
    got[0][...] = 0
    assert np.any(base.get_layer("conv2").get_weights()[0] != 0)


# ------------------------------------------------------------------- freezing


def test_frozen_feature_layers_stay_bit_identical_while_the_head_learns(images):
    x, y = images
    set_seed(0)
    model = build_model(5)
    for name in FEATURE_LAYERS:
        model.get_layer(name).trainable = False
    compile_adadelta(model)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert frozen == 9_568  # conv1 320 + conv2 9,248
    conv_before = weights_of(model, CONVOLUTIONS)
    head_before = weights_of(model, ["dense", "output"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert_same(weights_of(model, CONVOLUTIONS), conv_before)
    assert all_differ(weights_of(model, ["dense", "output"]), head_before)


def test_trainable_false_needs_a_new_compile_to_take_effect(images):
    x, y = images
    set_seed(0)
    model = build_model(5)
    compile_adadelta(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)

    # Frozen after compile and fit, but not compiled again: the next fit still
    # updates the convolutions (PITFALLS.md, 6).
    for name in FEATURE_LAYERS:
        model.get_layer(name).trainable = False
    conv_before = weights_of(model, CONVOLUTIONS)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert all_differ(weights_of(model, CONVOLUTIONS), conv_before)

    # Compiled again: now they stay put, and the head still learns.
    compile_adadelta(model)
    conv_before = weights_of(model, CONVOLUTIONS)
    head_before = weights_of(model, ["dense", "output"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert_same(weights_of(model, CONVOLUTIONS), conv_before)
    assert all_differ(weights_of(model, ["dense", "output"]), head_before)
