"""helpers.models: the CNN's size, stable names, freezing and the target copy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.data import select_digits, to_model_input
from helpers.models import (
    CLASSIFICATION_LAYER_NAMES,
    FEATURE_LAYER_NAMES,
    build_model,
    feature_weights,
    freeze_features,
    model_for_target,
    parameter_counts,
)
from helpers.training import compile_model

STABLE_NAMES = list(FEATURE_LAYER_NAMES + CLASSIFICATION_LAYER_NAMES)


def weights_of(model: keras.Model, layer: str) -> list[np.ndarray]:
    """Copies of one layer's weights."""
    return [w.copy() for w in model.get_layer(layer).get_weights()]


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    return "\n".join(lines)


@pytest.fixture
def small_batch(mnist) -> tuple[np.ndarray, np.ndarray]:
    """256 real training images of digits 5-9, labels 0-4, model-ready."""
    (x, y), _ = mnist
    x_sel, y_sel = select_digits(x[:600], y[:600], [5, 6, 7, 8, 9])
    return to_model_input(x_sel[:256]), y_sel[:256]


def test_build_model_parameter_counts():
    assert parameter_counts(build_model(5)) == {
        "total": 600_165,
        "trainable": 600_165,
        "non_trainable": 0,
    }


def test_frozen_features_counts_after_compile():
    model = build_model(5)
    freeze_features(model)
    compile_model(model, "adam", 1e-3)
    assert parameter_counts(model) == {
        "total": 600_165,
        "trainable": 590_597,
        "non_trainable": 9_568,
    }
    freeze_features(model, frozen=False)
    compile_model(model, "adam", 1e-3)
    assert parameter_counts(model)["trainable"] == 600_165


def test_layer_and_weight_names_are_stable_across_builds():
    first, second = build_model(5), build_model(5)
    assert [layer.name for layer in first.layers] == STABLE_NAMES
    assert [layer.name for layer in second.layers] == STABLE_NAMES
    assert [w.path for w in first.weights] == [w.path for w in second.weights]
    assert summary_text(first) == summary_text(second)


def test_frozen_features_do_not_move_while_the_head_learns(small_batch):
    x, y = small_batch
    keras.utils.set_random_seed(0)
    model = build_model(5)
    freeze_features(model)
    compile_model(model, "adam", 1e-3)
    features_before = feature_weights(model)
    head_before = weights_of(model, "dense") + weights_of(model, "output")
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    features_after = feature_weights(model)
    head_after = weights_of(model, "dense") + weights_of(model, "output")
    assert len(features_before) == 4  # two kernels and two biases
    for before, after in zip(features_before, features_after, strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(head_before, head_after, strict=True):
        assert not np.array_equal(before, after)


def test_model_for_target_with_the_same_classes_reuses_the_head():
    keras.utils.set_random_seed(1)
    base = build_model(5)
    base_weights = [w.copy() for w in base.get_weights()]
    model, message = model_for_target(base, 5)
    assert "reused" in message
    assert [layer.name for layer in model.layers] == STABLE_NAMES
    for got, want in zip(model.get_weights(), base_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    # A copy, not the same layers: changing it leaves the base alone.
    model.get_layer("output").kernel.assign(np.zeros((128, 5), np.float32))
    for got, want in zip(base.get_weights(), base_weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_model_for_target_with_other_classes_replaces_the_output_layer():
    keras.utils.set_random_seed(2)
    base = build_model(5)
    base_weights = [w.copy() for w in base.get_weights()]
    model, message = model_for_target(base, 3)
    assert "replaced" in message
    assert [layer.name for layer in model.layers] == STABLE_NAMES
    assert model.output_shape == (None, 3)
    assert tuple(model.get_layer("output").kernel.shape) == (128, 3)
    for got, want in zip(feature_weights(model), feature_weights(base), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(
        weights_of(model, "dense"), weights_of(base, "dense"), strict=True
    ):
        np.testing.assert_array_equal(got, want)

    # The base keeps its five outputs and every weight, even when the copy changes.
    model.get_layer("conv1").kernel.assign(np.zeros((3, 3, 1, 32), np.float32))
    assert base.output_shape == (None, 5)
    assert [layer.name for layer in base.layers] == STABLE_NAMES
    for got, want in zip(base.get_weights(), base_weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n_classes", [1, 0, 2.0, "5", True])
def test_build_model_rejects_bad_n_classes(n_classes):
    with pytest.raises(ValueError, match="n_classes") as info:
        build_model(n_classes)
    assert repr(n_classes) in str(info.value)


def test_model_for_target_with_a_fresh_head_copies_only_the_features():
    keras.utils.set_random_seed(3)
    base = build_model(5)
    model, message = model_for_target(base, 5, reuse_head=False)
    assert "new and untrained" in message
    assert [layer.name for layer in model.layers] == STABLE_NAMES
    for got, want in zip(feature_weights(model), feature_weights(base), strict=True):
        np.testing.assert_array_equal(got, want)
    for name in ("dense", "output"):
        assert not np.array_equal(
            weights_of(model, name)[0], weights_of(base, name)[0]
        ), f"{name} should be freshly initialised"
