"""helpers.experiments: argument checks, the methods, the sweep and its summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.data import make_task
from helpers.experiments import (
    ALL_METHODS,
    check_sample_sizes,
    new_model,
    sample_efficiency,
    summarize,
    trains_on_cache,
    two_phase,
)
from helpers.models import build_model, feature_weights, parameter_counts
from helpers.training import compile_model, set_seed


@pytest.mark.parametrize(
    ("sample_sizes", "seeds", "named"),
    [
        ([], [0], "sample_sizes"),
        ("5", [0], "sample_sizes"),
        ([0], [0], "sample_sizes"),
        ([5, 2.5], [0], "sample_sizes"),
        ([5], [], "seeds"),
        ([5], [-1], "seeds"),
        ([5], "0", "seeds"),
    ],
)
def test_check_sample_sizes_names_the_bad_parameter(sample_sizes, seeds, named):
    with pytest.raises(ValueError, match=named):
        check_sample_sizes(sample_sizes, seeds)


def test_check_sample_sizes_accepts_none_for_all():
    check_sample_sizes([1, 10, None], [0, 1])


CONV1, CONV2, DENSE = 320, 9_248, 589_952  # parameters: 3*3*32+32, ...
FROZEN_AND_COPIED = {
    "finetune_all": (0, True),
    "frozen_conv1": (CONV1, True),
    "transfer": (CONV1 + CONV2, True),
    "frozen_dense": (CONV1 + CONV2 + DENSE, True),
    "scratch": (0, False),
    "random_conv1": (CONV1, False),
    "random_conv2": (CONV1 + CONV2, False),
    "random_dense": (CONV1 + CONV2 + DENSE, False),
    "transfer_reused_head": (CONV1 + CONV2, True),
}


def test_new_model_per_method():
    assert set(FROZEN_AND_COPIED) == set(ALL_METHODS)
    set_seed(0)
    base = build_model(5)
    for method, (frozen, copied) in FROZEN_AND_COPIED.items():
        model = new_model(method, base, 5)
        compile_model(model, "adadelta", 1.0)
        assert parameter_counts(model)["non_trainable"] == frozen, method
        same_features = all(
            np.array_equal(a, b)
            for a, b in zip(feature_weights(model), feature_weights(base), strict=True)
        )
        assert same_features == copied, method
        assert trains_on_cache(model) == (frozen >= CONV1 + CONV2), method
    dense = new_model("frozen_dense", base, 5).get_layer("dense").get_weights()
    for got, want in zip(dense, base.get_layer("dense").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="method"):
        new_model("finetune", base, 5)


def test_sample_efficiency_rows_and_summary(mnist):
    target = make_task(
        mnist, [0, 1], validation_fraction=0.1, max_train_samples=200, seed=0
    )
    set_seed(0)
    base = build_model(2)
    rows = sample_efficiency(
        base,
        target,
        sample_sizes=[2, None],
        seeds=[0, 1],
        epochs=1,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        min_steps=3,
        progress=False,
    )
    assert len(rows) == 2 * 2 * 2
    json.dumps(rows)
    small = [r for r in rows if r["n_per_class"] == 2]
    assert {r["n_train"] for r in small} == {4}
    assert {r["steps"] for r in small} == {3}  # min_steps wins over 1 pass
    full = [r for r in rows if r["n_per_class"] is None]
    assert {r["n_train"] for r in full} == {180}
    assert {r["steps"] for r in full} == {6}  # ceil(180 / 32) = 6 > min_steps
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)

    table = summarize(rows, n_classes=2)
    assert [(r["method"], r["n_per_class"]) for r in table] == [
        ("transfer", 2),
        ("scratch", 2),
        ("transfer", None),
        ("scratch", None),
    ]
    first = table[0]
    accs = [r["test_accuracy"] for r in rows[:4] if r["method"] == "transfer"]
    assert first["runs"] == 2
    assert first["examples_per_class"] == 2
    assert first["mean"] == pytest.approx(np.mean(accs))
    assert first["sd"] == pytest.approx(np.std(accs, ddof=1))


def test_sample_efficiency_rejects_unknown_methods(mnist):
    target = make_task(
        mnist, [0, 1], validation_fraction=0.1, max_train_samples=100, seed=0
    )
    with pytest.raises(ValueError, match="methods"):
        sample_efficiency(
            build_model(2),
            target,
            sample_sizes=[2],
            seeds=[0],
            epochs=1,
            batch_size=8,
            optimizer="adadelta",
            learning_rate=1.0,
            min_steps=1,
            methods=("transfer", "fine-tune"),
        )


def test_sample_efficiency_reuses_a_matching_scratch_run(mnist):
    from helpers.training import train_and_evaluate

    target = make_task(
        mnist, [0, 1], validation_fraction=0.1, max_train_samples=200, seed=0
    )
    set_seed(0)
    scratch_run = train_and_evaluate(
        build_model(2),
        target,
        epochs=1,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        seed=0,
        progress=False,
    )
    kwargs = dict(
        sample_sizes=[None],
        epochs=1,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        min_steps=1,
        methods=("scratch",),
        scratch_all_run=scratch_run,
        progress=False,
    )
    rows = sample_efficiency(build_model(2), target, seeds=[0, 1], **kwargs)
    reused = [r for r in rows if "reused" in r]
    assert [r["seed"] for r in reused] == [0]  # seed 1 differs: trained anew
    assert reused[0]["test_accuracy"] == scratch_run["test_accuracy"]
    assert reused[0]["steps"] == 6  # ceil(180 / 32): the same budget
    # A budget that differs (min_steps above one pass) is never reused.
    kwargs["min_steps"] = 50
    rows = sample_efficiency(build_model(2), target, seeds=[0], **kwargs)
    assert not any("reused" in r for r in rows)


def test_every_freeze_depth_method_runs_and_earlier_rows_are_reused(mnist):
    target = make_task(
        mnist, [0, 1], validation_fraction=0.1, max_train_samples=200, seed=0
    )
    set_seed(0)
    base = build_model(2)
    kwargs = dict(
        sample_sizes=[3],
        epochs=1,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        min_steps=4,
        progress=False,
    )
    methods = tuple(m for m in ALL_METHODS if m != "transfer_reused_head")
    first = sample_efficiency(base, target, seeds=[0], methods=methods, **kwargs)
    assert [r["method"] for r in first] == list(methods)
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["steps"] == 4 for r in first)
    # Trained again with the same seed, every method gives the same accuracy.
    again = sample_efficiency(base, target, seeds=[0], methods=methods, **kwargs)
    assert [r["test_accuracy"] for r in again] == [r["test_accuracy"] for r in first]
    # Given the first rows, a second sweep takes them over and trains only seed 1.
    second = sample_efficiency(
        base, target, seeds=[0, 1], methods=methods, previous=first, **kwargs
    )
    assert [r["seed"] for r in second if "reused" in r] == [0] * len(methods)
    assert not any("reused" in r for r in second if r["seed"] == 1)


def test_two_phase_rows_and_errors(mnist):
    target = make_task(
        mnist, [0, 1], validation_fraction=0.1, max_train_samples=200, seed=0
    )
    set_seed(0)
    base = build_model(2)
    kwargs = dict(
        sample_sizes=[3],
        seeds=[0],
        epochs=1,
        batch_size=32,
        optimizer="adadelta",
        learning_rate=1.0,
        min_steps=4,
        progress=False,
    )
    rows = two_phase(base, target, slower=10, **kwargs)
    assert len(rows) == 1
    json.dumps(rows)
    (row,) = rows
    assert row["phase1_steps"] == 4 and row["phase2_steps"] == 2
    assert row["phase2_learning_rate"] == 0.1
    # Phase 1 is the sweep's transfer run: the same accuracy.
    (transfer,) = sample_efficiency(base, target, methods=("transfer",), **kwargs)
    assert row["phase1_accuracy"] == transfer["test_accuracy"]
    with pytest.raises(ValueError, match="slower=0.5"):
        two_phase(base, target, slower=0.5, **kwargs)
