"""The course's figures: one idea each, titled, with labelled axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def digit_grid(
    images: np.ndarray,
    labels: np.ndarray,
    names: Sequence,
    title: str,
    per_row: int = 8,
) -> Figure:
    """The first ``per_row`` images of every class, one row per class name."""
    fig, axes = plt.subplots(
        len(names), per_row, figsize=(per_row * 0.9, len(names) * 0.95), squeeze=False
    )
    for row, name in enumerate(names):
        members = np.flatnonzero(labels == row)[:per_row]
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(members):
                ax.imshow(np.squeeze(images[members[col]]), cmap="gray_r")
        axes[row, 0].set_ylabel(str(name), rotation=0, labelpad=12, fontsize=12)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_histogram(counts: Mapping[str, Mapping[int, int]], title: str) -> Figure:
    """Bars of examples per digit, one colour per named group."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, per_digit in counts.items():
        bars = ax.bar([str(d) for d in per_digit], list(per_digit.values()), label=name)
        ax.bar_label(bars, fontsize=7)
    ax.set_xlabel("digit")
    ax.set_ylabel("training images")
    ax.set_title(title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)  # room for the legend above the bars
    ax.legend(loc="upper center", ncol=len(counts))
    fig.tight_layout()
    return fig


def learning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    title: str,
    chance: float | None = None,
    marker: tuple[float, str] | None = None,
) -> Figure:
    """Accuracy and loss per epoch (validation dashed) of one or more `fit` histories.

    ``chance`` draws the accuracy and loss of guessing; ``marker`` = (epoch,
    label) draws a vertical line, e.g. where fine-tuning starts.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, history) in enumerate(histories.items()):
        epochs = np.arange(1, len(history["loss"]) + 1)
        for ax, key in zip(axes, ("accuracy", "loss"), strict=True):
            ax.plot(epochs, history[key], f"C{i}o-", ms=3, label=f"{name}, training")
            if f"val_{key}" in history:
                ax.plot(
                    epochs,
                    history[f"val_{key}"],
                    f"C{i}s--",
                    ms=3,
                    label=f"{name}, validation",
                )
    for ax, key in zip(axes, ("accuracy", "loss"), strict=True):
        if chance is not None:
            level = chance if key == "accuracy" else -np.log(chance)
            ax.axhline(level, color="grey", lw=1, ls=":", label="guessing")
        if marker is not None:
            ax.axvline(marker[0], color="black", lw=1, label=marker[1])
        ax.set_xlabel("epoch")
        ax.set_ylabel(key if key == "accuracy" else "loss (cross-entropy)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _sizes_axis(ax, sizes: Sequence, positions: Sequence[float]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(positions, ["all" if n is None else str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class (log scale)")


def error_curve(
    comparison: Sequence[dict], a: str, b: str, all_position: float, title: str
) -> Figure:
    """Left: test error of ``a`` and ``b`` (log scale) against images per class;
    right: the paired difference in points with its 95% interval.

    ``comparison`` rows come from :func:`helpers.experiments.compare`; the
    "all" size (None) is drawn at ``all_position`` images per class.
    """
    sizes = [row["n_per_class"] for row in comparison]
    x = [all_position if n is None else n for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, method in enumerate((a, b)):
        error = [100 * (1 - row[method]) for row in comparison]
        left.plot(x, error, f"C{i}o-", label=method)
    left.set_yscale("log")
    left.set_ylabel("test error, % (mean over seeds, log scale)")
    left.legend()
    gain = np.array([100 * row["mean"] for row in comparison])
    low = np.array(
        [
            100 * (row["low"] if row["low"] is not None else row["mean"])
            for row in comparison
        ]
    )
    high = np.array(
        [
            100 * (row["high"] if row["high"] is not None else row["mean"])
            for row in comparison
        ]
    )
    right.errorbar(x, gain, yerr=[gain - low, high - gain], fmt="C2o", capsize=4)
    right.axhline(0, color="black", lw=1)
    right.set_ylabel(f"{a} − {b}, accuracy points (95% interval)")
    for ax in (left, right):
        _sizes_axis(ax, sizes, x)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def paired_intervals(rows: Sequence[dict], label_key: str, title: str) -> Figure:
    """One horizontal 95% interval per row (a paired difference, in points)."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    for i, row in enumerate(rows):
        low, high = row["low"], row["high"]
        colour = (
            "C2"
            if low is not None and low > 0
            else "C3"
            if high is not None and high < 0
            else "grey"
        )
        if low is not None:
            ax.plot([100 * low, 100 * high], [i, i], color=colour, lw=2)
        ax.plot(100 * row["mean"], i, "o", color=colour)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(rows)), [str(row[label_key]) for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel("paired difference, accuracy points (mean and 95% interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def image_grid(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    title: str,
    columns: int = 8,
    cmap: str = "gray_r",
    symmetric: bool = False,
) -> Figure:
    """Images in rows of ``columns``, each with a caption (filters, maps, mistakes).

    ``symmetric`` centres each image's colour scale on zero (for signed weights).
    """
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * 1.1, rows * 1.25), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        image = np.squeeze(image)
        limit = float(np.abs(image).max()) or 1.0
        scale = {"vmin": -limit, "vmax": limit} if symmetric else {}
        ax.imshow(image, cmap=cmap, **scale)
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
