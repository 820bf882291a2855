"""Time full training, the original's frozen fit and cached-feature training.

`make bench` runs this. All timings are taken side by side in one process on the
same data, at the same batch size, epochs and optimizer (Adadelta, learning rate
1.0), and repeated; the table shows medians. The methods:

- plain fit: the original example's full training, `model.fit` on the images;
- helpers loop: the same full training through `helpers.training.train_for_steps`
  (the loop the notebooks' sweeps use), to check it is no slower than `fit`;
- frozen fit: the original's transfer step, `model.fit` on the images with the
  convolutions frozen, so every image still runs through them in every epoch;
- cached: the convolutions run once over the training images, then the layers
  after them train on those arrays (the caching time is included).

The two full trainings learn the source digits; the base model they give is
the starting point of the two transfer methods, which learn the target digits.
Results go to build/bench.json.

    python benchmarks/bench.py [--epochs 5] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from helpers.data import load_mnist, make_task  # noqa: E402
from helpers.features import compute_features, head_of  # noqa: E402
from helpers.models import build_model, freeze_features, model_for_target  # noqa: E402
from helpers.reporting import format_table, versions  # noqa: E402
from helpers.training import (  # noqa: E402
    OPTIMIZERS,
    predict_classes,
    set_seed,
    train_for_steps,
)

BATCH_SIZE = 128
OPTIMIZER, LEARNING_RATE = "adadelta", 1.0


class PeakMemory:
    """Peak resident memory of this process while the block runs, in MiB.

    Linux resets the peak (VmHWM) when 5 is written to /proc/self/clear_refs;
    where that is not possible, a thread samples the resident size instead.
    """

    def __enter__(self):
        self.mib = None
        self.start_mib = _rss_mib()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._sampler = None
        except OSError:
            self._stop = threading.Event()
            self._peak = _rss_mib()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, _rss_mib())

    def __exit__(self, *exc):
        if self._sampler is None:
            self.mib = _status_mib("VmHWM")
        else:
            self._stop.set()
            self._sampler.join()
            self.mib = self._peak
        self.added_mib = self.mib - self.start_mib


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def compiled(model):
    model.compile(
        optimizer=OPTIMIZERS[OPTIMIZER](learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def timed_fit(model, task, epochs):
    """``model.fit`` on the image arrays, as the original example calls it."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        model.fit(
            task.x_train, task.y_train, batch_size=BATCH_SIZE, epochs=epochs, verbose=0
        )
        seconds = time.perf_counter() - start
    return model, seconds, memory


def plain_fit(task, epochs, seed):
    """The original's full training: compile, then `fit` on the image arrays."""
    set_seed(seed)
    return timed_fit(compiled(build_model(task.n_classes)), task, epochs)


def helpers_loop(task, epochs, seed):
    """The same training through the helpers' compiled loop."""
    set_seed(seed)
    model = build_model(task.n_classes)
    steps = epochs * math.ceil(len(task.y_train) / BATCH_SIZE)
    with PeakMemory() as memory:
        seconds = train_for_steps(
            model,
            task.x_train,
            task.y_train,
            steps=steps,
            batch_size=BATCH_SIZE,
            optimizer=OPTIMIZER,
            learning_rate=LEARNING_RATE,
            seed=seed,
        )
    return model, seconds, memory


def frozen_fit(base, task, epochs, seed):
    """The original's transfer step: the whole frozen model in the training loop."""
    set_seed(seed)
    model, _ = model_for_target(base, task.n_classes)
    freeze_features(model)
    return timed_fit(compiled(model), task, epochs)


def cached(base, task, epochs, seed):
    """Features once (timed), then the layers after them on the arrays."""
    set_seed(seed)
    model, _ = model_for_target(base, task.n_classes)
    freeze_features(model)
    steps = epochs * math.ceil(len(task.y_train) / BATCH_SIZE)
    with PeakMemory() as memory:
        start = time.perf_counter()
        features = compute_features(model, task.x_train)
        head = head_of(model)
        caching = time.perf_counter() - start
        training = train_for_steps(
            head,
            features,
            task.y_train,
            steps=steps,
            batch_size=BATCH_SIZE,
            optimizer=OPTIMIZER,
            learning_rate=LEARNING_RATE,
            seed=seed,
        )
    return head, caching + training, memory, caching


def test_accuracy(model, x, y) -> float:
    return float(np.mean(predict_classes(model, x) == y))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-train-samples",
        type=int,
        default=None,
        help="cap on training images per task (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 epoch, 1 repeat, 2000 images: checks the script runs",
    )
    parser.add_argument("--output", default=str(REPO / "build" / "bench.json"))

    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats, args.max_train_samples = 1, 1, 2000
    for name in ("epochs", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}; it must be 1 or more")

    mnist = load_mnist()
    common = {
        "validation_fraction": 0.0,
        "max_train_samples": args.max_train_samples,
        "seed": 0,
    }
    source = make_task(mnist, [5, 6, 7, 8, 9], **common)
    target = make_task(mnist, [0, 1, 2, 3, 4], **common)
    print(
        f"source digits 5-9: {len(source.y_train)} training images; target digits "
        f"0-4: {len(target.y_train)}; batch {BATCH_SIZE}, {args.epochs} epochs, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs",
        flush=True,
    )

    runs = {name: [] for name in ("plain fit", "helpers loop", "frozen fit", "cached")}
    base = None
    for repeat in range(args.repeats):
        seed = repeat
        # Full training, both ways, alternating which goes first.
        order = [("plain fit", plain_fit), ("helpers loop", helpers_loop)]
        for name, method in order if repeat % 2 == 0 else order[::-1]:
            model, seconds, memory = method(source, args.epochs, seed)
            runs[name].append(
                {
                    "seconds": seconds,
                    "peak_mib": memory.mib,
                    "added_mib": memory.added_mib,
                    "accuracy": test_accuracy(model, source.x_test, source.y_test),
                }
            )
            if name == "plain fit" and base is None:
                base = model
            print(f"  repeat {repeat + 1}: {name:<12} {seconds:6.1f} s", flush=True)
        order = [("frozen fit", frozen_fit), ("cached", cached)]
        for name, method in order if repeat % 2 == 0 else order[::-1]:
            model, seconds, memory, *caching = method(base, target, args.epochs, seed)
            x_test = (
                target.x_test
                if name == "frozen fit"
                else compute_features(base, target.x_test)
            )
            runs[name].append(
                {
                    "seconds": seconds,
                    "peak_mib": memory.mib,
                    "added_mib": memory.added_mib,
                    "accuracy": test_accuracy(model, x_test, target.y_test),
                    **({"caching_seconds": caching[0]} if caching else {}),
                }
            )
            print(f"  repeat {repeat + 1}: {name:<12} {seconds:6.1f} s", flush=True)

    images = {
        "plain fit": len(source.y_train),
        "helpers loop": len(source.y_train),
        "frozen fit": len(target.y_train),
        "cached": len(target.y_train),
    }
    rows = []
    for name, measured in runs.items():
        seconds = statistics.median(r["seconds"] for r in measured)
        rows.append(
            {
                "method": name,
                "digits": "5-9" if name in ("plain fit", "helpers loop") else "0-4",
                "median s": seconds,
                "s/epoch": seconds / args.epochs,
                "images/s": images[name] * args.epochs / seconds,
                "peak MiB": statistics.median(r["peak_mib"] for r in measured),
                "MiB above start": statistics.median(r["added_mib"] for r in measured),
                "test accuracy": statistics.median(r["accuracy"] for r in measured),
            }
        )
    by = {row["method"]: row for row in rows}
    result = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "batch_size": BATCH_SIZE,
        "optimizer": OPTIMIZER,
        "learning_rate": LEARNING_RATE,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "methods": rows,
        "runs": runs,
        "ratio_cached_vs_frozen_fit": by["cached"]["median s"]
        / by["frozen fit"]["median s"],
        "ratio_full_fit_vs_plain_keras": by["helpers loop"]["images/s"]
        / by["plain fit"]["images/s"],
        "accuracy_points_cached_minus_frozen_fit": 100
        * (by["cached"]["test accuracy"] - by["frozen fit"]["test accuracy"]),
        "median_caching_seconds": statistics.median(
            r["caching_seconds"] for r in runs["cached"]
        ),
        "versions": versions(),
    }
    print()
    print(format_table(rows))
    print(
        "\ncached / frozen fit, time:          "
        f"{result['ratio_cached_vs_frozen_fit']:.2f}  (target <= 0.5)"
    )
    print(
        f"helpers loop / plain fit, images/s: "
        f"{result['ratio_full_fit_vs_plain_keras']:.2f}  (target >= 0.9)"
    )
    print(
        f"cached - frozen fit, test accuracy: "
        f"{result['accuracy_points_cached_minus_frozen_fit']:+.2f} points "
        "(target within ±0.3)"
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".json.partial")
    partial.write_text(json.dumps(result, indent=2) + "\n")
    partial.replace(output)
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    sys.exit(main())
