"""The course's figures: one idea each, titled, with labelled axes."""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def image_grid(images: Sequence[np.ndarray], captions: Sequence[str], title: str,
               columns: int = 8, cmap: str = "gray_r", symmetric: bool = False):
    """Captioned images in rows of ``columns``; ``symmetric`` zero-centres colours."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        image = np.squeeze(image)
        limit = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap=cmap,
                  **({"vmin": -limit, "vmax": limit} if symmetric else {}))
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig

def learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str,
                    chance: float | None = None,
                    marker: tuple[float, str] | None = None) -> Figure:
    """Accuracy and loss per epoch of `fit` histories; ``chance`` marks guessing,
    ``marker`` = (epoch, label) a moment such as fine-tuning's start."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("accuracy", "loss"), strict=True):
        for i, (name, history) in enumerate(histories.items()):
            epochs = np.arange(1, len(history["loss"]) + 1)
            ax.plot(epochs, history[key], f"C{i}o-", ms=3, label=f"{name}, training")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], f"C{i}s--", ms=3,
                        label=f"{name}, validation")
        if chance is not None:
            level = chance if key == "accuracy" else -np.log(chance)
            ax.axhline(level, color="grey", lw=1, ls=":", label="guessing")
        if marker is not None:
            ax.axvline(marker[0], color="black", lw=1, label=marker[1])
        ax.set(xlabel="epoch", title=key,
               ylabel=key if key == "accuracy" else "loss (cross-entropy, log scale)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")  # so that a fast and a slow run both show
    handles, labels = axes[1].get_legend_handles_labels()  # below, over no curve
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(labels) - 1) // 3), 1, 1))
    return fig

def _interval(ax, position: float, row: dict, horizontal: bool = False) -> None:
    """A paired difference (points) with its 95% interval, coloured by verdict."""
    mean = 100 * row["mean"]
    x, y = (mean, position) if horizontal else (position, mean)
    if row["low"] is None:  # one pair: no interval
        ax.plot(x, y, "o", color="grey")
        return
    low, high = 100 * row["low"], 100 * row["high"]
    colour = "C2" if low > 0 else "C3" if high < 0 else "grey"
    error = {"xerr" if horizontal else "yerr": [[mean - low], [high - mean]]}
    ax.errorbar([x], [y], fmt="o", color=colour, capsize=4, **error)

def error_curve(comparison: Sequence[dict], a: str, b: str, all_position: float,
                title: str) -> Figure:
    """Test error of ``a`` and ``b`` per size, and their paired difference (rows of
    :func:`helpers.analysis.compare`)."""
    sizes = [row["n_per_class"] for row in comparison]
    x = [all_position if n is None else n for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    errors = {m: [100 * (1 - row[m]) for row in comparison] for m in (a, b)}
    for i, (method, error) in enumerate(errors.items()):
        left.plot(x, error, f"C{i}o-", label=method)
    every = [e for error in errors.values() for e in error]
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
             if min(every) / 2 <= t <= max(every) * 2]
    left.set(yscale="log", ylabel="test error, % (mean over seeds, log scale)")
    left.set_yticks(ticks, [f"{t:g}" for t in ticks])
    left.legend()
    for position, row in zip(x, comparison, strict=True):
        _interval(right, position, row)
    right.axhline(0, color="black", lw=1)
    right.set_ylabel(f"{a} − {b}, accuracy points (95% interval)")
    right.set_title("green: above zero; red: below; grey: cannot tell", fontsize=9)
    for ax in (left, right):
        ax.set(xscale="log", xlabel="labelled training images per digit (log scale)")
        ax.set_xticks(x, ["all" if n is None else str(n) for n in sizes])
        ax.minorticks_off()
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    fig.tight_layout()
    return fig

def paired_picture(row: dict, runs: Sequence[dict], a: str, b: str) -> Figure:
    """Each seed's difference ``a`` − ``b`` (a dot), their mean and its 95% interval."""
    by_seed = {m: {r["seed"]: r["test_accuracy"] for r in runs if r["method"] == m}
               for m in (a, b)}
    gaps = [100 * (by_seed[a][s] - by_seed[b][s]) for s in sorted(by_seed[a])]
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.plot(gaps, np.zeros(len(gaps)) + 0.5, "o", color="C0", alpha=0.6)
    _interval(ax, 0, row, horizontal=True)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks([0, 0.5], ["mean, 95% interval", "each seed"])
    size = "all" if row["n_per_class"] is None else row["n_per_class"]
    result = ("excludes zero, so the verdict names a winner" if row["low"] is not None
              and (row["low"] > 0 or row["high"] < 0) else "includes zero: cannot tell")
    if row["low"] == row["high"] == 0:  # no spread, no difference
        result = "is zero alone: the runs were identical"
    ax.set(ylim=(-0.5, 1), xlabel="test accuracy points", title=f"{len(gaps)} paired "
           f"seeds at {size} images per digit: the interval {result}")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
