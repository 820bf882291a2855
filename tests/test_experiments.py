"""helpers.experiments: the methods, early-stopped fits, samples, the sweep, and
the paired comparison that turns its rows into verdicts."""

from __future__ import annotations

import io
import json
import pickle
import random
import re
from contextlib import redirect_stdout

import keras
import numpy as np
import pytest

from helpers import experiments
from helpers.analysis import holm, left_by_patience, prediction_interval, rates_per_size
from helpers.experiments import (
    SCRATCH,
    STEPS_PER_EPOCH,
    TRANSFER,
    Budget,
    Method,
    Setting,
    best_rates,
    check_sizes,
    compare,
    draw_sample,
    fit_until_stopped,
    one_run,
    paired_difference,
    relative_change,
    sweep,
)
from helpers.models import (
    FEATURE_LAYERS,
    FEATURE_SHAPE,
    HEAD_LAYERS,
    build_model,
    feature_extractor,
    weights_of,
)
from helpers.study import Study
from helpers.training import set_seed

ROW_KEYS = {
    "n_per_class",
    "seed",
    "method",
    "learning_rate",
    "test_accuracy",
    "moved",
    "mistakes",
    "seconds",
    "epochs",
    "best_epoch",
    "hit_cap",
    "best_val_accuracy",
    "val_accuracy",
}


@pytest.fixture(scope="module")
def base() -> keras.Model:
    """An untrained, seeded CNN for 5 classes: its convolutions are the "base"."""
    set_seed(0)
    return build_model(5)


@pytest.fixture(scope="module")
def features(base, small_task) -> dict[str, np.ndarray]:
    extractor = feature_extractor(base)
    parts = {"train": small_task.x_train, "val": small_task.x_val}
    parts["test"] = small_task.x_test
    return {k: extractor.predict(x, verbose=0) for k, x in parts.items()}


def same(first, second) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


# ---------------------------------------------------------------------- methods


def test_transfer_trains_a_new_head_on_cached_features(base):
    assert TRANSFER.cached
    model = TRANSFER.build(base, 5)
    assert model.input_shape == (None, *FEATURE_SHAPE)
    assert [layer.name for layer in model.layers] == list(HEAD_LAYERS)
    assert model.name == "transfer"
    assert len(model.trainable_weights) == 4  # dense and output: all of the head
    # A new head: dense and output are not the base's.
    assert not np.array_equal(
        model.get_layer("dense").get_weights()[0],
        base.get_layer("dense").get_weights()[0],
    )


def test_scratch_trains_the_whole_network_from_new_weights(base):
    assert not SCRATCH.cached
    model = SCRATCH.build(base, 5)
    assert model.input_shape == (None, 28, 28, 1)
    assert len(model.trainable_weights) == 8  # four layers with kernel and bias
    for name in ("conv1", "conv2", "dense"):
        assert not same(weights_of(model, [name]), weights_of(base, [name])), name


def test_a_frozen_copied_dense_leaves_only_the_output_trainable(base):
    method = Method(
        "frozen_dense",
        copied=("conv1", "conv2", "dense"),
        frozen=("conv1", "conv2", "dense"),
    )
    assert method.cached
    head = method.build(base, 5)
    assert [layer.name for layer in head.layers] == list(HEAD_LAYERS)
    assert not head.get_layer("dense").trainable
    output = head.get_layer("output")
    assert [id(w) for w in head.trainable_weights] == [
        id(w) for w in output.trainable_weights
    ]
    assert same(weights_of(head, ["dense"]), weights_of(base, ["dense"]))


def test_frozen_random_convolutions_are_not_cached(base):
    method = Method("random_conv", frozen=("conv1", "conv2"))
    assert not method.cached
    model = method.build(base, 5)
    assert [layer.name for layer in model.layers][: len(FEATURE_LAYERS)] == list(
        FEATURE_LAYERS
    )
    for name in ("conv1", "conv2"):
        assert not model.get_layer(name).trainable
        assert not same(weights_of(model, [name]), weights_of(base, [name])), name
    assert model.get_layer("dense").trainable
    assert len(model.trainable_weights) == 4


def test_copied_but_trainable_convolutions_start_from_the_base(base):
    method = Method("fine_tune", copied=("conv1", "conv2"))
    assert not method.cached
    model = method.build(base, 5)
    assert same(
        weights_of(model, ["conv1", "conv2"]), weights_of(base, ["conv1", "conv2"])
    )
    assert len(model.trainable_weights) == 8


# ------------------------------------------------------------ fit_until_stopped


def tiny_problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in 8 dimensions, 3 classes told apart by their mean."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x[np.arange(n), y] += 3.0
    return x, y


def tiny_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


class Snapshots(keras.callbacks.EarlyStopping):
    """EarlyStopping that also keeps the weights at the end of every epoch."""

    taken: list = []

    def on_epoch_end(self, epoch, logs=None):
        Snapshots.taken.append(self.model.get_weights())
        super().on_epoch_end(epoch, logs)


@pytest.mark.parametrize(
    "n, batch_size",
    [(150, 128), (700, 16)],
    ids=["sample-smaller-than-an-epoch", "sample-larger-than-an-epoch"],
)
def test_every_epoch_is_the_same_number_of_batches(n, batch_size):
    # Keras continues a pass over arrays into the next epoch, which would then
    # get only the batches left of that pass.
    set_seed(0)
    model = tiny_model()
    run = fit_until_stopped(
        model,
        tiny_problem(n),
        tiny_problem(30, seed=1),
        optimizer="adam",
        learning_rate=1e-3,
        budget=Budget(max_epochs=3, patience=3, batch_size=batch_size),
    )
    assert run["epochs"] == 3 and run["hit_cap"]  # patience >= the cap
    assert len(run["val_accuracy"]) == 3
    assert 1 <= run["best_epoch"] <= 3
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS_PER_EPOCH


def test_early_stopping_restores_the_best_epoch_counted_from_the_start(
    monkeypatch,
):
    Snapshots.taken = []
    monkeypatch.setattr(keras.callbacks, "EarlyStopping", Snapshots)
    set_seed(0)
    model = tiny_model()
    validation = tiny_problem(50, seed=1)
    run = fit_until_stopped(
        model,
        tiny_problem(60),
        validation,
        optimizer="adam",
        learning_rate=0.05,
        budget=Budget(max_epochs=30, patience=1, batch_size=8),
        initial_epoch=5,  # as phase 2 of two_phase: epochs still count from 1
    )
    # Validation accuracy cannot rise for ever: the run stops one epoch after
    # its best, which therefore is not the last.
    assert not run["hit_cap"]
    assert 2 <= run["epochs"] < 30
    assert run["best_epoch"] == run["epochs"] - 1
    assert len(Snapshots.taken) == run["epochs"]
    assert same(model.get_weights(), Snapshots.taken[run["best_epoch"] - 1])
    assert not same(model.get_weights(), Snapshots.taken[-1])
    _, accuracy = model.evaluate(*validation, verbose=0)
    assert accuracy == pytest.approx(run["best_val_accuracy"], abs=1e-6)
    assert run["best_val_accuracy"] == max(run["val_accuracy"])


def test_fit_until_stopped_repeats_exactly_with_the_same_seed():
    runs = []
    for _ in range(2):
        set_seed(3)
        model = tiny_model()
        run = fit_until_stopped(
            model,
            tiny_problem(40),
            tiny_problem(30, seed=1),
            optimizer="adam",
            learning_rate=1e-2,
            budget=Budget(max_epochs=2, patience=2, batch_size=16),
        )
        runs.append((run, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert same(runs[0][1], runs[1][1])


# ------------------------------------------------------------------ draw_sample


def test_draw_sample_takes_n_per_class_and_repeats_with_the_seed(small_task):
    train, val = draw_sample(small_task, 7, seed=0, validation_per_class=4)
    assert np.bincount(small_task.y_train[train]).tolist() == [7] * 5
    assert np.bincount(small_task.y_val[val]).tolist() == [4] * 5
    assert len(set(train)) == 35 and len(set(val)) == 20
    assert val.max() < len(small_task.y_val)  # indices into the validation part
    again = draw_sample(small_task, 7, seed=0, validation_per_class=4)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    other, _ = draw_sample(small_task, 7, seed=1, validation_per_class=4)
    assert not np.array_equal(train, other)


def test_draw_sample_with_none_takes_every_training_image(small_task):
    train, val = draw_sample(small_task, None, seed=0, validation_per_class=3)
    assert np.array_equal(train, np.arange(len(small_task.y_train)))
    assert len(val) == 15


# ------------------------------------------------------------------ check_sizes


def test_check_sizes_accepts_sizes_up_to_the_rarest_class(small_task):
    rarest = int(np.bincount(small_task.y_train).min())  # 92: digit 4
    check_sizes("sizes", [1, rarest, None], small_task, [0, 1])
    check_sizes("sizes", [np.int64(5)], small_task, [np.int64(0)])
    with pytest.raises(ValueError, match=f"holds {rarest + 1}.*at most {rarest}"):
        check_sizes("sizes", [5, rarest + 1], small_task, [0])


def test_check_sizes_for_validation_uses_the_validation_part(small_task):
    rarest = int(np.bincount(small_task.y_val).min())  # 23
    check_sizes("validation_per_class", [rarest], small_task, [0], part="validation")
    with pytest.raises(ValueError, match=f"validation part.*at most {rarest}"):
        check_sizes(
            "validation_per_class", [rarest + 1], small_task, [0], part="validation"
        )
    with pytest.raises(ValueError, match=r"validation_per_class=\[None\] holds None"):
        check_sizes("validation_per_class", [None], small_task, [0], part="validation")


@pytest.mark.parametrize(
    "sizes, shown",
    [
        ([], "sizes=[]"),
        ("5", "sizes='5'"),
        (5, "sizes=5"),
        ([0], "sizes=[0] holds 0"),
        ([5, True], "sizes=[5, True] holds True"),
        ([2.5], "sizes=[2.5] holds 2.5"),
    ],
)
def test_check_sizes_names_the_parameter_and_the_bad_size(small_task, sizes, shown):
    with pytest.raises(ValueError, match=re.escape(shown)):
        check_sizes("sizes", sizes, small_task, [0])


@pytest.mark.parametrize(
    "seeds, shown",
    [([], "seeds=[]"), ("0", "seeds='0'"), ([0, -1], "holds -1"), ([True], "True")],
)
def test_check_sizes_checks_the_seeds(small_task, seeds, shown):
    with pytest.raises(ValueError, match=re.escape(shown)):
        check_sizes("sizes", [5], small_task, seeds)


# ------------------------------------------------------------ paired comparison


def test_paired_difference_hand_example():
    # Differences 0.01 .. 0.05: mean 0.03, sd 0.0158, t(4) = 2.776, so the
    # half-width is 2.776 x 0.0158 / sqrt(5) = 0.0196.
    a = [0.81, 0.82, 0.83, 0.84, 0.85]
    b = [0.80] * 5
    result = paired_difference(a, b)
    assert result["pairs"] == 5
    assert result["mean"] == pytest.approx(0.03)
    assert result["low"] == pytest.approx(0.0104, abs=1e-4)
    assert result["high"] == pytest.approx(0.0496, abs=1e-4)
    # t = 0.03 / (0.0158 / sqrt(5)) = 4.24 with 4 degrees of freedom
    assert result["p"] == pytest.approx(0.0132, abs=2e-4)
    assert result["verdict"] == "a better"
    swapped = paired_difference(b, a)
    assert swapped["mean"] == pytest.approx(-0.03)
    assert swapped["verdict"] == "b better"


def test_paired_difference_cannot_tell_when_the_interval_holds_zero():
    # a is ahead on average (0.005), but the pairs disagree: the interval,
    # 0.005 +- 3.182 x 0.0238 / 2, holds zero.
    result = paired_difference([0.93, 0.89, 0.92, 0.88], [0.90] * 4)
    assert result["mean"] == pytest.approx(0.005)
    assert result["low"] == pytest.approx(-0.0329, abs=1e-4)
    assert result["high"] == pytest.approx(0.0429, abs=1e-4)
    assert result["verdict"] == "cannot tell"


def test_paired_difference_of_one_pair_has_no_interval():
    assert paired_difference([0.9], [0.8]) == {
        "pairs": 1,
        "mean": pytest.approx(0.1),
        "low": None,
        "high": None,
        "p": None,
        "verdict": "cannot tell (one pair)",
    }


def test_paired_difference_without_spread_is_its_own_interval():
    result = paired_difference([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert (result["low"], result["high"], result["p"]) == (0.0, 0.0, 1.0)
    assert result["verdict"] == "cannot tell"


def run_row(method, n, seed, test, val=0.5, rate=1e-3):
    return {
        "method": method,
        "n_per_class": n,
        "seed": seed,
        "learning_rate": rate,
        "test_accuracy": test,
        "best_val_accuracy": val,
    }


def comparison_rows() -> list[dict]:
    # At n=5, transfer is 0.02 better than scratch at every seed, while the
    # seeds differ a lot from each other: only pairing by seed shows it.
    rows = [run_row("transfer", 5, s, acc) for s, acc in enumerate([0.9, 0.7, 0.8])]
    rows += [run_row("scratch", 5, s, acc) for s, acc in enumerate([0.88, 0.68, 0.78])]
    rows.append(run_row("transfer", 5, 3, 0.99))  # no scratch run: not a pair
    rows += [run_row("transfer", None, s, 0.97) for s in range(3)]
    rows += [run_row("scratch", None, s, 0.99) for s in range(3)]
    return rows


def test_compare_pairs_by_seed_at_each_size():
    table = {
        row["n_per_class"]: row
        for row in compare(comparison_rows(), "transfer", "scratch")
    }
    assert set(table) == {5, None}
    small = table[5]
    assert small["pairs"] == 3
    assert small["transfer"] == pytest.approx(0.8)  # mean of the paired runs
    assert small["scratch"] == pytest.approx(0.78)
    assert small["low"] == pytest.approx(0.02) and small["high"] == pytest.approx(0.02)
    assert small["verdict"] == "transfer better"
    assert table[None]["verdict"] == "scratch better"
    assert table[None]["mean"] == pytest.approx(-0.02)


def by_size(row: dict) -> str:
    return str(row["n_per_class"])


def test_compare_does_not_depend_on_the_order_of_the_rows():
    rows = comparison_rows()
    expected = compare(rows, "transfer", "scratch")
    random.Random(0).shuffle(rows)
    shuffled = compare(rows, "transfer", "scratch")
    assert sorted(shuffled, key=by_size) == sorted(expected, key=by_size)


def test_compare_can_use_another_key():
    (row,) = compare(
        [run_row("a", 5, 0, 0.9, val=0.6), run_row("b", 5, 0, 0.8, val=0.7)],
        "a",
        "b",
        key="best_val_accuracy",
    )
    assert row["mean"] == pytest.approx(-0.1)
    assert row["verdict"] == "cannot tell (one pair)"


def test_best_rates_chooses_by_mean_validation_accuracy_never_test():
    rows = [
        # transfer: 0.1 has the single best validation run, 1.0 the best mean;
        # test accuracy says the opposite and must be ignored.
        run_row("transfer", 5, 0, test=0.99, val=0.99, rate=0.1),
        run_row("transfer", 5, 1, test=0.99, val=0.50, rate=0.1),
        run_row("transfer", 5, 0, test=0.10, val=0.80, rate=1.0),
        run_row("transfer", 5, 1, test=0.10, val=0.80, rate=1.0),
        run_row("scratch", 5, 0, test=0.10, val=0.90, rate=1e-3),
        run_row("scratch", 5, 0, test=0.99, val=0.70, rate=1e-2),
    ]
    assert best_rates(rows) == {"transfer": 1.0, "scratch": 1e-3}


def test_holm_adjusts_the_rows_that_have_a_p_value_together():
    # p = 0.01, 0.04, 0.03 over three rows: Holm multiplies the smallest by 3,
    # the next by 2, the last by 1, each at least the one before: 0.03, 0.06, 0.06.
    table = [
        {"p": 0.01, "verdict": "a better"},
        {"p": 0.04, "verdict": "b better"},
        {"p": 0.03, "verdict": "a better"},
        {"p": None, "verdict": "cannot tell (one pair)"},
    ]
    adjusted = holm(table)
    assert [r["holm_p"] for r in adjusted] == pytest.approx([0.03, 0.06, 0.06, None])
    assert [r["holm_verdict"] for r in adjusted] == [
        "a better",
        "cannot tell",
        "cannot tell",
        "cannot tell (one pair)",
    ]
    assert [r["verdict"] for r in adjusted] == [r["verdict"] for r in table]


def test_rates_per_size_takes_the_nearest_tuning_size_on_a_log_scale():
    tuning = [
        run_row(m, n, 0, 0.5, val=0.9, rate=rate)
        for n, rate in ((1, 0.1), (50, 0.01), (None, 0.001))
        for m in ("transfer", "scratch")
    ]
    chosen = rates_per_size(tuning, [1, 5, 10, 50, 500, None], all_size=5500)
    assert {n: r["transfer"] for n, r in chosen.items()} == {
        1: 0.1,
        5: 0.1,
        10: 0.01,
        50: 0.01,
        500: 0.01,
        None: 0.001,
    }


@pytest.mark.parametrize("patience", [1, 2, 3, 5])
def test_left_by_patience_stops_where_keras_early_stopping_stops(patience):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for trial in range(20):
        curve = [round(v, 2) for v in np.random.default_rng(trial).random(15)]
        stop = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=patience, mode="max"
        )
        stop.set_model(model)
        model.stop_training = False
        stop.on_train_begin()
        for epoch, value in enumerate(curve):
            stop.on_epoch_end(epoch, {"val_accuracy": value})
            if model.stop_training:
                break
        kept = max(curve[: epoch + 1])
        assert left_by_patience(curve, patience) == pytest.approx(max(curve) - kept)


def test_prediction_interval_hand_example():
    # mean 2, s = 1, t(0.975, 2) = 4.303: 2 +- 4.303 x sqrt(1 + 1/3) = 2 +- 4.968
    low, high = prediction_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((-2.968, 6.968), abs=1e-3)


def test_relative_change_hand_example():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="dense")])
    kernel = np.array([[3.0, 0.0], [0.0, 4.0]], np.float32)  # norm 5
    model.get_layer("dense").set_weights([kernel, np.zeros(2, np.float32)])
    before = {"dense": kernel - np.array([[0, 0], [0, 1]], np.float32), "conv1": kernel}
    # ||after - before|| = 1, ||before|| = sqrt(9 + 9) = 4.243; conv1 is absent.
    assert relative_change(before, model) == {"dense": pytest.approx(1 / 18**0.5)}


# ------------------------------------------------------------------------ sweep


@pytest.fixture(scope="module")
def swept(base, small_task, features, tmp_path_factory):
    """One tiny sweep, with every sample drawn, every fit and the progress
    lines recorded."""
    draws, fits = [], []

    def recording_draw(task, n, seed, validation_per_class):
        result = draw_sample(task, n, seed, validation_per_class)
        draws.append((n, seed, result))
        return result

    def recording_fit(model, train, validation, **kwargs):
        fits.append((model.name, train, validation))
        return fit_until_stopped(model, train, validation, **kwargs)

    printed = io.StringIO()
    setting = Setting(base, small_task, "adam", Budget(2, 2, 16), 20, features)
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(printed):
        patch.setenv("COURSE_RESULTS", str(tmp_path_factory.mktemp("results")))
        patch.delenv("STUDY_JOBS", raising=False)
        patch.setattr(experiments, "draw_sample", recording_draw)
        patch.setattr(experiments, "fit_until_stopped", recording_fit)
        rows = sweep(
            Study("test", {}, rerun=True),
            "tiny",
            [TRANSFER, SCRATCH],
            setting,
            sizes=[30],
            seeds=[0, 1],
            rates={"transfer": 1e-3, "scratch": 2e-3},
        )
    return rows, draws, fits, printed.getvalue()


def test_sweep_rows_in_order_with_the_documented_keys(swept):
    rows, *_ = swept
    assert [(r["n_per_class"], r["seed"], r["method"]) for r in rows] == [
        (30, 0, "transfer"),
        (30, 0, "scratch"),
        (30, 1, "transfer"),
        (30, 1, "scratch"),
    ]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert (
            row["learning_rate"] == {"transfer": 1e-3, "scratch": 2e-3}[row["method"]]
        )
        assert 1 <= row["best_epoch"] <= row["epochs"] <= 2
        assert row["hit_cap"]  # patience 2 >= max_epochs 2
        assert len(row["val_accuracy"]) == row["epochs"]
    assert json.loads(json.dumps(rows)) == rows  # the notebooks save them as JSON


def test_sweep_trains_every_method_at_a_seed_on_the_same_images(
    swept, small_task, features
):
    _, draws, fits, _ = swept
    # each run draws its own sample: the same one for both methods at a seed
    assert [(n, seed) for n, seed, _ in draws] == [(30, 0), (30, 0), (30, 1), (30, 1)]
    for (_, _, first), (_, _, second) in zip(draws[::2], draws[1::2], strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    draws = draws[::2]
    assert [name for name, _, _ in fits] == ["transfer", "scratch"] * 2
    for i, (_, _, (train, val)) in enumerate(draws):
        assert len(train) == 150 and len(val) == 100
        (name_a, (x_a, y_a), (xv_a, _)), (name_b, (x_b, y_b), (xv_b, _)) = fits[
            2 * i : 2 * i + 2
        ]
        assert np.array_equal(x_a, features["train"][train])  # transfer: features
        assert np.array_equal(xv_a, features["val"][val])
        assert np.array_equal(x_b, small_task.x_train[train])  # scratch: images
        assert np.array_equal(xv_b, small_task.x_val[val])
        assert np.array_equal(y_a, y_b)
    assert not np.array_equal(draws[0][2][0], draws[1][2][0])  # seeds differ


def test_sweep_learns_and_reports_its_mistakes(swept, small_task):
    rows, *_ = swept
    for row in rows:
        assert row["test_accuracy"] > 0.6, row  # guessing: 0.2
        wrong = row["mistakes"]
        assert len(wrong) == round((1 - row["test_accuracy"]) * len(small_task.y_test))
        assert all(small_task.y_test[i] != predicted for i, predicted in wrong)
        assert all(0 <= predicted < 5 for _, predicted in wrong)
    moved = {row["method"]: row["moved"] for row in rows}
    assert set(moved["transfer"]) == {"dense", "output"}  # a head: no convolutions
    assert set(moved["scratch"]) == {"conv1", "conv2", "dense", "output"}
    assert all(v > 0 for m in moved.values() for v in m.values())


def test_sweep_prints_one_line_per_run(swept):
    *_, printed = swept
    lines = printed.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("[tiny 1/4] n=30 seed=0 transfer rate 0.001: ")
    assert lines[3].startswith("[tiny 4/4] n=30 seed=1 scratch rate 0.002: ")
    # progress shows validation only: test accuracy is for the result tables
    assert all("best_val_accuracy 0." in line and "test" not in line for line in lines)
    assert all(line.endswith(" left") for line in lines)


def test_a_run_in_a_worker_gives_the_row_it_gives_here(base, small_task):
    """A worker gets the setting pickled, base model as config and weights, and
    rebuilds it in its first run only: rebuilding draws random numbers, so it
    must not happen between the seeding and the new layers, or a run's result
    would depend on the order the runs reach the workers."""
    setting = Setting(base, small_task, "adam", Budget(2, 2, 16), 20)
    spec = {"n_per_class": 10, "seed": 3, "method": "scratch", "copied": []}
    spec |= {"frozen": [], "learning_rate": 1e-2, "optimizer": "adam"}
    spec |= {"max_epochs": 2, "patience": 2, "batch_size": 16}
    spec["validation_per_class"] = 20
    in_worker = pickle.loads(pickle.dumps(setting))
    rows = [one_run(in_worker, spec), one_run(in_worker, spec), one_run(setting, spec)]
    for row in rows:
        row.pop("seconds")
    assert rows[0] == rows[1] == rows[2]
