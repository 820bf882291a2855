"""helpers.features: the head on cached features is the frozen model's head."""

from __future__ import annotations

import numpy as np

from helpers.data import make_task
from helpers.features import HEAD_LAYERS, compute_features, copy_head_into, head_of
from helpers.models import build_model, feature_weights, freeze_features
from helpers.training import set_seed, train_for_steps


def small_task(mnist):
    return make_task(
        mnist, [3, 8], validation_fraction=0.0, max_train_samples=200, seed=0
    )


def test_head_on_cached_features_predicts_like_the_whole_model(mnist):
    task = small_task(mnist)
    set_seed(0)
    model = build_model(2)
    features = compute_features(model, task.x_test[:300])
    assert features.shape == (300, 12, 12, 32)
    head = head_of(model)
    assert [layer.name for layer in head.layers] == list(HEAD_LAYERS)
    np.testing.assert_allclose(
        head.predict(features, verbose=0),
        model.predict(task.x_test[:300], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_training_the_head_leaves_the_model_alone_until_copied_back(mnist):
    task = small_task(mnist)
    set_seed(1)
    model = build_model(2)
    before = [w.copy() for w in model.get_weights()]
    head = head_of(model)
    train_for_steps(
        head,
        compute_features(model, task.x_train),
        task.y_train,
        steps=5,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        seed=1,
    )
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    copy_head_into(head, model)
    np.testing.assert_array_equal(
        model.get_layer("dense").get_weights()[0],
        head.get_layer("dense").get_weights()[0],
    )
    assert not np.array_equal(model.get_layer("dense").get_weights()[0], before[4])
    for got, want in zip(feature_weights(model), before[:4], strict=True):
        np.testing.assert_array_equal(got, want)


def test_feature_dropout_still_acts_in_training(mnist):
    task = small_task(mnist)
    set_seed(2)
    head = head_of(build_model(2))
    features = np.asarray(compute_features(build_model(2), task.x_test[:64]))
    dropout = head.get_layer("feature_dropout")
    trained = np.asarray(dropout(features, training=True))
    active = features != 0
    dropped = np.mean(trained[active] == 0)
    assert 0.2 < dropped < 0.3  # Dropout(0.25) on the cached features
    kept = trained[active] != 0
    np.testing.assert_allclose(
        trained[active][kept], features[active][kept] / 0.75, rtol=1e-5
    )
    np.testing.assert_array_equal(
        np.asarray(dropout(features, training=False)), features
    )


def test_head_on_the_cache_trains_like_the_whole_frozen_model(mnist):
    # Same seed, batches and dropout masks: training the head on cached features
    # and training the whole frozen model end at the same weights (to rounding).
    task = small_task(mnist)
    trained = {}
    for how in ("whole model", "cached head"):
        set_seed(3)
        model = build_model(2)
        freeze_features(model)
        if how == "whole model":
            network, x = model, task.x_train
        else:
            network, x = head_of(model), compute_features(model, task.x_train)
        train_for_steps(
            network,
            x,
            task.y_train,
            steps=20,
            batch_size=32,
            optimizer="adadelta",
            learning_rate=1.0,
            seed=3,
        )
        trained[how] = network.get_layer("dense").get_weights()[0]
    np.testing.assert_allclose(
        trained["whole model"], trained["cached head"], rtol=1e-4, atol=1e-5
    )
