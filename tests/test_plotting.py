"""helpers.plotting: every figure has its title, labelled axes, and the lines,
points and ticks its data asks for."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import plotting


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_figures_are_drawn_off_screen():
    assert matplotlib.get_backend().lower() == "agg"  # conftest sets MPLBACKEND


def tick_labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]


# ------------------------------------------------------------- learning_curves


def history(accuracy: list[float], validation: bool = True) -> dict:
    h = {"accuracy": accuracy, "loss": [1 - a for a in accuracy]}
    if validation:
        h["val_accuracy"] = [a - 0.05 for a in accuracy]
        h["val_loss"] = [1.1 - a for a in accuracy]
    return h


def test_learning_curves_draw_training_and_validation_per_history():
    fig = plotting.learning_curves(
        {"base": history([0.5, 0.8, 0.9]), "head": history([0.4, 0.7], False)},
        "Learning",
    )
    assert fig.get_suptitle() == "Learning"
    accuracy, loss = fig.axes
    assert accuracy.get_ylabel() == "accuracy"
    assert loss.get_ylabel() == "loss (cross-entropy, log scale)"
    assert loss.get_yscale() == "log" and accuracy.get_yscale() == "linear"
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        assert len(ax.lines) == 3  # base: training and validation; head: training
    assert list(accuracy.lines[0].get_xdata()) == [1, 2, 3]  # epochs from 1
    assert list(accuracy.lines[1].get_ydata()) == pytest.approx([0.45, 0.75, 0.85])
    # one legend for the figure, below the axes, so that it covers no curve
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "base, training",
        "base, validation",
        "head, training",
    ]
    assert legend.get_bbox_to_anchor().y0 < min(ax.get_position().y0 for ax in fig.axes)


def test_learning_curves_mark_guessing_and_an_epoch_when_asked():
    fig = plotting.learning_curves(
        {"run": history([0.5, 0.8, 0.9])},
        "Fine-tuning",
        chance=0.2,
        marker=(2, "fine-tuning starts"),
    )
    accuracy, loss = fig.axes
    for ax, level in ((accuracy, 0.2), (loss, math.log(5))):  # guessing 1 of 5
        by_label = {line.get_label(): line for line in ax.lines}
        assert len(ax.lines) == 4
        assert list(by_label["guessing"].get_ydata()) == pytest.approx([level] * 2)
        assert list(by_label["fine-tuning starts"].get_xdata()) == [2, 2]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "guessing" in legend and "fine-tuning starts" in legend


# ------------------------------------------------------------------ error_curve


def comparison_row(n, a, b, low, high):
    return {
        "n_per_class": n,
        "transfer": a,
        "scratch": b,
        "mean": a - b,
        "low": low,
        "high": high,
    }


def test_error_curve_log_error_and_paired_difference_with_the_sizes_as_ticks():
    rows = [
        comparison_row(5, 0.90, 0.80, 0.05, 0.15),
        comparison_row(50, 0.95, 0.94, -0.01, 0.03),
        comparison_row(None, 0.99, 0.99, None, None),  # one pair: no interval
    ]
    fig = plotting.error_curve(rows, "transfer", "scratch", 5000, "Error")
    assert fig.get_suptitle() == "Error"
    left, right = fig.axes
    assert left.get_yscale() == "log"
    assert right.get_yscale() == "linear"
    for ax in (left, right):
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == [5, 50, 5000]
        assert tick_labels(ax.xaxis) == ["5", "50", "all"]
        assert ax.get_xlabel().startswith("labelled training images per digit")
        assert ax.get_ylabel()
    transfer, scratch = left.lines
    assert transfer.get_label() == "transfer" and scratch.get_label() == "scratch"
    assert list(transfer.get_ydata()) == pytest.approx([10, 5, 1])  # error in %
    assert list(scratch.get_ydata()) == pytest.approx([20, 6, 1])
    # one marker per size: an error bar where there is an interval, a grey dot
    # where there is one pair only; coloured by the verdict
    bars = [container.lines[0] for container in right.containers]
    assert [list(b.get_ydata()) for b in bars] == [
        pytest.approx([10]),
        pytest.approx([1]),
    ]
    assert [b.get_color() for b in bars] == ["C2", "grey"]
    lone = [
        line for line in right.lines if line not in bars and line.get_xdata()[0] == 5000
    ]
    assert len(lone) == 1 and list(lone[0].get_ydata()) == pytest.approx([0])
    assert "transfer" in right.get_ylabel() and "scratch" in right.get_ylabel()


def test_paired_picture_shows_each_seed_and_the_mean_with_its_interval():
    runs = [
        {"method": m, "seed": s, "test_accuracy": acc}
        for m, accuracies in (("a", [0.90, 0.92, 0.95]), ("b", [0.89, 0.90, 0.92]))
        for s, acc in enumerate(accuracies)
    ]
    row = {"n_per_class": 10, "mean": 0.02, "low": 0.005, "high": 0.035}
    (ax,) = plotting.paired_picture(row, runs, "a", "b").axes
    dots = ax.lines[0]
    assert list(dots.get_xdata()) == pytest.approx([1.0, 2.0, 3.0])  # points
    (bar,) = ax.containers
    assert list(bar.lines[0].get_xdata()) == pytest.approx([2.0])
    assert (
        "excludes zero" in ax.get_title() and "3 paired seeds at 10" in ax.get_title()
    )
    wide = {**row, "low": -0.01}
    assert (
        "cannot tell"
        in plotting.paired_picture(wide, runs, "a", "b").axes[0].get_title()
    )
    same = {**row, "mean": 0.0, "low": 0.0, "high": 0.0}  # identical runs
    title = plotting.paired_picture(same, runs, "a", "b").axes[0].get_title()
    assert "zero alone: the runs were identical" in title


# ------------------------------------------------------------------ image_grid


def test_image_grid_rows_of_columns_with_captions():
    images = [np.full((28, 28), i, np.uint8) for i in range(10)]
    captions = [f"filter {i}" for i in range(10)]
    fig = plotting.image_grid(images, captions, "Filters", columns=4)
    assert fig.get_suptitle() == "Filters"
    assert len(fig.axes) == 12  # 3 rows of 4
    assert [ax.get_title() for ax in fig.axes] == captions + ["", ""]
    assert [len(ax.images) for ax in fig.axes] == [1] * 10 + [0, 0]
    assert all(not ax.axison for ax in fig.axes)
