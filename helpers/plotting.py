"""The course's figures: one idea each, titled, with labelled axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def digit_grid(
    images: np.ndarray,
    labels: np.ndarray,
    digits: Sequence[int],
    title: str,
    per_digit: int = 8,
) -> Figure:
    """The first ``per_digit`` images of every class, one row per digit."""
    fig, axes = plt.subplots(
        len(digits),
        per_digit,
        figsize=(per_digit * 0.9, len(digits) * 0.95),
        squeeze=False,
    )
    for row, digit in enumerate(digits):
        members = np.flatnonzero(labels == row)[:per_digit]
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(members):
                ax.imshow(np.squeeze(images[members[col]]), cmap="gray_r")
        axes[row, 0].set_ylabel(str(digit), rotation=0, labelpad=12, fontsize=12)
    fig.suptitle(title)
    fig.supylabel("digit")
    fig.tight_layout()
    return fig


def class_histogram(counts: Mapping[str, Mapping[int, int]], title: str) -> Figure:
    """Bars of examples per digit, one colour per named group."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, per_digit in counts.items():
        digits = list(per_digit)
        bars = ax.bar([str(d) for d in digits], list(per_digit.values()), label=name)
        ax.bar_label(bars, fontsize=7)
    ax.set_xlabel("digit")
    ax.set_ylabel("training examples")
    ax.set_title(title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)  # room for the legend above the bars
    ax.legend(loc="upper center", ncol=len(counts))
    fig.tight_layout()
    return fig


def learning_curves(records: Mapping[str, dict], title: str) -> Figure:
    """Accuracy and loss per epoch of several runs (validation dashed)."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, record) in enumerate(records.items()):
        history = record["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        colour = f"C{i}"
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            ax.plot(
                epochs,
                history[key],
                color=colour,
                marker="o",
                label=f"{name}, training",
            )
            if f"val_{key}" in history:
                ax.plot(
                    epochs,
                    history[f"val_{key}"],
                    color=colour,
                    marker="s",
                    linestyle="--",
                    label=f"{name}, validation",
                )
    for ax, what in ((acc_ax, "accuracy"), (loss_ax, "loss (cross-entropy)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    acc_ax.set_title("accuracy")
    loss_ax.set_title("loss")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrices(
    matrices: Mapping[str, np.ndarray], digits: Sequence[int], title: str
) -> Figure:
    """Side-by-side confusion matrices with counts; off-diagonal cells are errors."""
    fig, axes = plt.subplots(
        1, len(matrices), figsize=(4.6 * len(matrices), 4.2), squeeze=False
    )
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        ax.imshow(np.log1p(matrix), cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if i == j else ("crimson" if count else "grey")
            ax.text(
                j, i, str(count), ha="center", va="center", fontsize=8, color=colour
            )
        ticks = np.arange(len(digits))
        ax.set_xticks(ticks, [str(d) for d in digits])
        ax.set_yticks(ticks, [str(d) for d in digits])
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        errors = int(matrix.sum() - np.trace(matrix))
        ax.set_title(f"{name}: {errors} errors")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_efficiency(
    summary: Sequence[dict], full_size_label: str, title: str
) -> Figure:
    """Test accuracy (mean ± sd over seeds) against labelled examples per class.

    ``summary`` rows hold ``method``, ``n_per_class`` (None = all), ``mean`` and
    ``sd``; the "all" point is drawn at ``mean_n_per_class`` if given.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, method in enumerate(
        sorted({row["method"] for row in summary}, reverse=True)
    ):
        rows = [row for row in summary if row["method"] == method]
        x = [row["examples_per_class"] for row in rows]
        ax.errorbar(
            x,
            [row["mean"] for row in rows],
            yerr=[row["sd"] for row in rows],
            marker="o",
            capsize=4,
            color=f"C{i}",
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xlabel(
        f"labelled training examples per class (log scale; "
        f"rightmost point: {full_size_label})"
    )
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def freeze_depth(
    summary: Sequence[dict],
    depths: Sequence[str],
    kinds: Mapping[str, Sequence[str]],
    title: str,
) -> Figure:
    """Test accuracy against how many layers are frozen: a line per data size.

    ``kinds`` maps a line style's label (say "copied from the base model") to
    its methods, one per entry of ``depths``; the first kind is drawn solid, the
    others dashed and dotted. ``summary`` rows are those of
    :func:`helpers.experiments.summarize`.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    sizes = list(dict.fromkeys(row["n_per_class"] for row in summary))
    styles = ("-", "--", ":")
    found = {(row["method"], row["n_per_class"]): row for row in summary}
    for k, (kind, methods) in enumerate(kinds.items()):
        for i, n in enumerate(sizes):
            rows = [found.get((method, n)) for method in methods]
            x = [d + 0.04 * (k - 0.5) for d, row in enumerate(rows) if row]
            ax.errorbar(
                x,
                [row["mean"] for row in rows if row],
                yerr=[row["sd"] for row in rows if row],
                marker="o" if k == 0 else "s",
                capsize=3,
                linestyle=styles[k % len(styles)],
                color=f"C{i}",
                label=f"{'all' if n is None else n} per class, {kind}",
            )
    ax.set_xticks(range(len(depths)), depths)
    ax.set_xlabel("frozen layers (the layers above them train)")
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig


def bar_comparison(values: Mapping[str, float], ylabel: str, title: str) -> Figure:
    """One bar per named value, labelled with the value."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(
        list(values), list(values.values()), color=[f"C{i}" for i in range(len(values))]
    )
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig
