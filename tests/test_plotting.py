"""helpers.plotting: every figure has a title, labelled axes and, with several
lines, a legend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def record(acc):
    return {
        "history": {
            "loss": [1.0, 0.5],
            "accuracy": acc,
            "val_loss": [0.9, 0.4],
            "val_accuracy": acc,
        }
    }


def test_learning_curves_have_labels_and_legends():
    fig = plotting.learning_curves(
        {"a": record([0.5, 0.9]), "b": record([0.4, 0.8])}, "title"
    )
    assert fig._suptitle.get_text() == "title"
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert len(ax.get_legend().get_texts()) == 4  # 2 runs x train/validation
        assert len(ax.lines) == 4


def test_digit_grid_shows_one_row_per_digit():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (30, 28, 28, 1))
    labels = np.repeat(np.arange(3), 10)
    fig = plotting.digit_grid(images, labels, [7, 1, 4], "grid", per_digit=4)
    assert len(fig.axes) == 12
    assert [fig.axes[i * 4].get_ylabel() for i in range(3)] == ["7", "1", "4"]


def test_class_histogram_bars_match_counts():
    fig = plotting.class_histogram({"s": {5: 10, 6: 20}, "t": {0: 30}}, "hist")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [10, 20, 30]
    assert ax.get_title() == "hist" and ax.get_legend() is not None


def test_confusion_matrices_title_counts_errors():
    matrix = np.array([[5, 1], [0, 4]])
    fig = plotting.confusion_matrices({"m": matrix}, [3, 8], "cm")
    assert fig.axes[0].get_title() == "m: 1 errors"
    assert fig.axes[0].get_xlabel() == "predicted digit"


def test_sample_efficiency_is_log_x_with_error_bars():
    summary = [
        {"method": m, "examples_per_class": n, "mean": 0.9, "sd": 0.01}
        for m in ("transfer", "scratch")
        for n in (1, 10, 100)
    ]
    fig = plotting.sample_efficiency(summary, "all", "eff")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "scratch",
        "transfer",
    ]
    assert ax.get_title() == "eff" and ax.get_ylabel()


def test_freeze_depth_draws_a_line_per_size_and_kind():
    kinds = {"copied": ["a0", "a1"], "random": ["b0", "b1"]}
    summary = [
        {"method": m, "n_per_class": n, "mean": 0.5 + 0.01 * n, "sd": 0.01}
        for n in (10, 100)
        for m in ("a0", "a1", "b0", "b1")
    ]
    fig = plotting.freeze_depth(summary, ["none", "conv1"], kinds, "depth")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "conv1"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "10 per class, copied",
        "100 per class, copied",
        "10 per class, random",
        "100 per class, random",
    ]
    means = [list(c.lines[0].get_ydata()) for c in ax.containers]
    assert np.allclose(means, [[0.6, 0.6], [1.5, 1.5], [0.6, 0.6], [1.5, 1.5]])
