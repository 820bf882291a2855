"""Time the original's training against the course's, side by side in one process.

`make bench` runs this. Every method trains with Keras' `compile` and `fit`,
Adadelta at rate 1.0, batch 128, the same epochs, no validation data, repeated;
the table shows medians. Training images: the course's (`make_task`, 10 % held out).

- plain fit: the original's full training on digits 5-9, Keras' default `compile`;
- course fit: the same with `steps_per_execution=STEPS_PER_EXECUTION`;
- bf16 fit: the course fit under the mixed_bfloat16 policy (STUDY_PRECISION);
- frozen fit: the original's transfer step on digits 0-4: the first plain-fit
  model, head copied, feature layers frozen, `fit` on the images;
- cached: the course's transfer step: `predict` the features once (timed), then
  `fit` the head on them with the course's setting.

Ratios: cached / frozen fit in seconds (target <= 0.5), course / plain fit in
images per second (target >= 1.0), bf16 / course fit in seconds. Results go to
build/bench.json. `--settings` measures why the course picked its `fit` settings
(images/s of the CNN at several `steps_per_execution`, and of the head with and
without XLA), into build/bench_settings.json.

    python benchmarks/bench.py [--epochs 5] [--repeats 3] [--quick] [--settings]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "build" / "bench.json"
DEFAULT_SETTINGS_OUTPUT = REPO / "build" / "bench_settings.json"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from helpers.data import check_cap, load_mnist, make_task  # noqa: E402
from helpers.models import (  # noqa: E402
    FEATURE_LAYERS,
    build_head,
    build_model,
    copy_weights,
    feature_extractor,
    transfer_model,
)
from helpers.reporting import format_table, save_json  # noqa: E402
from helpers.study import PACKAGES, machine  # noqa: E402
from helpers.training import (  # noqa: E402
    LOSS,
    STEPS_PER_EXECUTION,
    EpochTimer,
    set_seed,
    two_figures,
)

BATCH_SIZE = 128
PREDICT_BATCH_SIZE = 1024
OPTIMIZER, LEARNING_RATE = "adadelta", 1.0
SOURCE_DIGITS, TARGET_DIGITS = [5, 6, 7, 8, 9], [0, 1, 2, 3, 4]
VALIDATION_FRACTION = 0.1
QUICK_SAMPLES = 2000
CACHED_TARGET, COURSE_TARGET = 0.5, 1.0
CNN_STEPS = (1, 8, 32, 128)  # --settings: the whole CNN
HEAD_STEPS = (1, 32)  # --settings: the head on cached features, without/with XLA


# ------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak resident memory of this process while the block runs, in MiB: Linux
    resets the peak (VmHWM) when 5 is written to /proc/self/clear_refs (where it
    cannot, the peak since the process started is an upper bound)."""

    def __enter__(self):
        self.start_mib = _status_mib("VmRSS")
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        return self

    def __exit__(self, *exc):
        self.mib = _status_mib("VmHWM")
        self.added_mib = self.mib - self.start_mib


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


# ----------------------------------------------------------------- shared pieces


def compiled(model: keras.Model, **settings) -> keras.Model:
    """``model`` compiled as the original example does, plus ``settings``.

    No ``settings``: Keras' defaults, as the original. The course passes
    ``steps_per_execution=STEPS_PER_EXECUTION``.
    """
    model.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=LEARNING_RATE),
        loss=LOSS,
        metrics=["accuracy"],
        **settings,
    )
    return model


def fit(model: keras.Model, x, y, epochs: int, callbacks=None) -> None:
    model.fit(
        x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks
    )


def accuracy(model: keras.Model, x, y) -> float:
    return float(model.evaluate(x, y, batch_size=PREDICT_BATCH_SIZE, verbose=0)[1])


def features_of(extractor: keras.Model, x) -> np.ndarray:
    return extractor.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)


def shown(value: float) -> str:
    """A timing as the table prints it: two significant figures (740, 2.0, 0.68)."""
    value = two_figures(value)
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:#.2g}"


def load_tasks(max_train_samples: int | None):
    """The source and target tasks, with the course's training parts."""
    mnist = load_mnist()
    common = {
        "validation_fraction": VALIDATION_FRACTION,
        "max_train_samples": max_train_samples,
        "seed": 0,
    }
    return (
        make_task(mnist, SOURCE_DIGITS, **common),
        make_task(mnist, TARGET_DIGITS, **common),
    )


def common_record(args) -> dict:
    return {
        "repeats": args.repeats,
        "batch_size": BATCH_SIZE,
        "optimizer": OPTIMIZER,
        "learning_rate": LEARNING_RATE,
        "max_train_samples": args.max_train_samples,
        "machine": machine(),  # processor model and cores, as the study records
        "versions": {"python": platform.python_version()}
        | {name: importlib.metadata.version(name) for name in PACKAGES},
    }


# ------------------------------------------------------------------- the methods


def timed(model: keras.Model, x, y, epochs: int) -> dict:
    """Seconds and memory of ``epochs`` epochs of ``fit``; the run's record."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        fit(model, x, y, epochs)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": memory.mib, "added_mib": memory.added_mib}


def plain_fit(task, epochs: int, seed: int):
    """The original's full training: Keras' default `compile`, `fit` on images."""
    set_seed(seed)
    model = compiled(build_model(task.n_classes))
    run = timed(model, task.x_train, task.y_train, epochs)
    run["accuracy"] = accuracy(model, task.x_test, task.y_test)
    return model, run


def course_fit(task, epochs: int, seed: int):
    """The same training with the course's `steps_per_execution`."""
    set_seed(seed)
    model = compiled(
        build_model(task.n_classes), steps_per_execution=STEPS_PER_EXECUTION
    )
    run = timed(model, task.x_train, task.y_train, epochs)
    run["accuracy"] = accuracy(model, task.x_test, task.y_test)
    return model, run


def bf16_fit(task, epochs: int, seed: int):
    """The course's `fit` under Keras' mixed_bfloat16 policy (STUDY_PRECISION):
    fast only where the CPU has bf16 instructions (AVX512_BF16, AMX)."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        return course_fit(task, epochs, seed)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def frozen_fit(base, task, epochs: int, seed: int) -> dict:
    """The original's transfer step: the frozen layers run in every epoch."""
    set_seed(seed)
    model = transfer_model(base, task.n_classes, head="copied")
    for name in FEATURE_LAYERS:
        model.get_layer(name).trainable = False
    compiled(model)
    run = timed(model, task.x_train, task.y_train, epochs)
    run["accuracy"] = accuracy(model, task.x_test, task.y_test)
    return run


def cached(base, task, epochs: int, seed: int) -> dict:
    """Features predicted once (timed), then the head's `fit` on them."""
    set_seed(seed)
    extractor = feature_extractor(base)
    head = build_head(task.n_classes)
    copy_weights(base, head, ["dense", "output"])
    compiled(head, steps_per_execution=STEPS_PER_EXECUTION)
    with PeakMemory() as memory:  # as for the others: `fit` timed, plus `predict`
        start = time.perf_counter()
        features = features_of(extractor, task.x_train)
        predict_seconds = time.perf_counter() - start
        fit(head, features, task.y_train, epochs)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mib": memory.mib,
        "added_mib": memory.added_mib,
        "accuracy": accuracy(head, features_of(extractor, task.x_test), task.y_test),
        "predict_seconds": predict_seconds,
    }


def alternating(pair: list, repeat: int) -> list:
    """The pair in order on even repeats, reversed on odd ones."""
    return pair if repeat % 2 == 0 else pair[::-1]


def run_methods(source, target, epochs: int, repeats: int) -> dict[str, list]:
    """Every raw run of the four methods, by name.

    The transfers start from the model of the first plain fit.
    """
    runs = {
        n: [] for n in ("plain fit", "course fit", "bf16 fit", "frozen fit", "cached")
    }
    base = None
    for repeat in range(repeats):
        seed = repeat
        full = [
            ("plain fit", plain_fit),
            ("course fit", course_fit),
            ("bf16 fit", bf16_fit),
        ]
        for name, method in alternating(full, repeat):
            model, run = method(source, epochs, seed)
            if base is None and name == "plain fit":
                base = model
            record(runs, name, run, repeat)
        transfers = [("frozen fit", frozen_fit), ("cached", cached)]
        for name, method in alternating(transfers, repeat):
            record(runs, name, method(base, target, epochs, seed), repeat)
    return runs


def record(runs: dict[str, list], name: str, run: dict, repeat: int) -> None:
    runs[name].append(run)
    print(f"  repeat {repeat + 1}: {name:<10} {shown(run['seconds'])} s", flush=True)


def method_rows(runs: dict[str, list], images: dict[str, int], epochs: int):
    """One row of medians per method, as measured (timings not yet rounded)."""
    rows = []
    for name, measured in runs.items():
        seconds = statistics.median(r["seconds"] for r in measured)
        rows.append(
            {
                "method": name,
                "digits": "5-9"
                if name.endswith(" fit") and name != "frozen fit"
                else "0-4",
                "median s": seconds,
                "s/epoch": seconds / epochs,
                "images/s": images[name] * epochs / seconds,
                "peak MiB": statistics.median(r["peak_mib"] for r in measured),
                "MiB above start": statistics.median(r["added_mib"] for r in measured),
                "test accuracy": statistics.median(r["accuracy"] for r in measured),
            }
        )
    return rows


TIMINGS = ("median s", "s/epoch", "images/s")


def rounded(row: dict) -> dict:
    """``row`` with its timings at two significant figures."""
    return {k: two_figures(v) if k in TIMINGS else v for k, v in row.items()}


def printable(row: dict) -> dict:
    """``row`` as the table shows it: timings at two significant figures."""
    cells = {k: shown(v) if k in TIMINGS else v for k, v in row.items()}
    cells["peak MiB"] = f"{row['peak MiB']:.0f}"
    cells["MiB above start"] = f"{row['MiB above start']:.0f}"
    return cells


def bench(args) -> int:
    source, target = load_tasks(args.max_train_samples)
    print(
        f"source digits 5-9: {len(source.y_train)} training images; target digits "
        f"0-4: {len(target.y_train)}; batch {BATCH_SIZE}, {args.epochs} epochs, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs",
        flush=True,
    )
    runs = run_methods(source, target, args.epochs, args.repeats)
    images = {n: len(source.y_train) for n in ("plain fit", "course fit", "bf16 fit")}
    images |= {"frozen fit": len(target.y_train), "cached": len(target.y_train)}
    rows = method_rows(runs, images, args.epochs)
    by = {row["method"]: row for row in rows}
    cached_ratio = by["cached"]["median s"] / by["frozen fit"]["median s"]
    course_ratio = by["course fit"]["images/s"] / by["plain fit"]["images/s"]
    points = 100 * (by["cached"]["test accuracy"] - by["frozen fit"]["test accuracy"])
    predict_seconds = statistics.median(r["predict_seconds"] for r in runs["cached"])
    result = {
        **common_record(args),
        "epochs": args.epochs,
        "steps_per_execution": STEPS_PER_EXECUTION,
        "methods": [rounded(row) for row in rows],
        "runs": runs,
        "ratio_cached_vs_frozen_fit": cached_ratio,
        "ratio_course_fit_vs_plain_fit": course_ratio,
        "ratio_bf16_vs_course_fit": by["bf16 fit"]["median s"]
        / by["course fit"]["median s"],
        "accuracy_points_cached_minus_frozen_fit": points,
        "median_predict_seconds": predict_seconds,
    }
    print()
    print(format_table([printable(row) for row in rows]))
    print(
        f"\ncached / frozen fit, time:          {shown(cached_ratio)}  "
        f"(target <= {CACHED_TARGET}; {shown(predict_seconds)} s of it predicting)"
    )
    print(
        f"course fit / plain fit, images/s:   {shown(course_ratio)}  "
        f"(target >= {COURSE_TARGET})"
    )
    print(f"cached - frozen fit, test accuracy: {points:+.2f} points")
    if args.quick:
        print("quick run: mostly TensorFlow's tracing; the ratios say nothing here")
    print(f"written: {save_json(result, Path(args.output or DEFAULT_OUTPUT))}")
    return 0


# --------------------------------------------------------------------- --settings


def allow_xla() -> None:
    """Turn TensorFlow's op determinism off if this process turned it on.

    `set_seed` (an earlier run in the same process, such as the tests) enables
    it, and under it Keras quietly compiles without XLA whatever `jit_compile`
    says. TensorFlow has no public switch to undo it; Keras' own tests use this.
    """
    from tensorflow.python.framework import config

    if config.is_op_determinism_enabled():
        config.disable_op_determinism()


def throughput(model: keras.Model, x, y, repeats: int) -> list[float]:
    """Seconds of ``repeats`` 1-epoch fits after one warm-up epoch (not counted)."""
    timer = EpochTimer()
    fit(model, x, y, 1 + repeats, callbacks=[timer])
    return timer.seconds[1:]


def settings_run(what: str, model, x, y, repeats: int, **settings):
    """One setting's row (timings rounded) and its raw seconds."""
    compiled(model, **settings)
    seconds = throughput(model, x, y, repeats)
    median = statistics.median(seconds)
    row = {
        "model": what,
        "steps_per_execution": settings["steps_per_execution"],
        "jit_compile": bool(model.jit_compile),  # as Keras compiled it
        "s/epoch": median,
        "images/s": len(y) / median,
    }
    options = " ".join(f"{key}={value}" for key, value in settings.items())
    print(f"  {what:<9} {options}: {shown(median)} s/epoch", flush=True)
    return row, seconds


def measure_settings(source, target, repeats: int):
    """Rows and raw seconds of every setting: the CNN first, then the head."""
    rows, runs = [], []
    model = None
    for steps in CNN_STEPS:
        model = build_model(source.n_classes)
        row, seconds = settings_run(
            "whole CNN",
            model,
            source.x_train,
            source.y_train,
            repeats,
            steps_per_execution=steps,
            jit_compile=False,
        )
        rows.append(row)
        runs.append({**row, "seconds": seconds})
    # The features of the last CNN trained: what they hold does not matter here.
    features = features_of(feature_extractor(model), target.x_train)
    for jit in (False, True):
        for steps in HEAD_STEPS:
            row, seconds = settings_run(
                "head",
                build_head(target.n_classes),
                features,
                target.y_train,
                repeats,
                steps_per_execution=steps,
                jit_compile=jit,
            )
            rows.append(row)
            runs.append({**row, "seconds": seconds})
    return rows, runs


def settings(args) -> int:
    # Keras' seeding only: `set_seed` would also enable op determinism, under
    # which Keras refuses `jit_compile` (and silently compiles without XLA).
    keras.utils.set_random_seed(0)
    allow_xla()
    source, target = load_tasks(args.max_train_samples)
    print(
        f"fit settings: whole CNN on {len(source.y_train)} images of digits 5-9, "
        f"head on features of {len(target.y_train)} images of digits 0-4; batch "
        f"{BATCH_SIZE}, median of {args.repeats} epochs after one warm-up epoch",
        flush=True,
    )
    rows, runs = measure_settings(source, target, args.repeats)
    result = {
        **common_record(args),
        "course_steps_per_execution": STEPS_PER_EXECUTION,
        "settings": [rounded(row) for row in rows],
        "runs": runs,
    }
    print()
    print(format_table([printable_setting(row) for row in rows]))
    print(f"\nthe course uses steps_per_execution={STEPS_PER_EXECUTION}, no XLA")
    output = Path(args.output or DEFAULT_SETTINGS_OUTPUT)
    print(f"written: {save_json(result, output)}")
    return 0


def printable_setting(row: dict) -> dict:
    return {k: shown(v) if k in TIMINGS else v for k, v in row.items()}


# --------------------------------------------------------------------------- main


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="(ignored by --settings)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-train-samples",
        type=int,
        default=None,
        help="cap on the images per task before the validation split (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"1 epoch, 1 repeat, {QUICK_SAMPLES} images: checks the script runs",
    )
    parser.add_argument(
        "--settings",
        action="store_true",
        help="measure the course's fit settings instead (build/bench_settings.json)",
    )
    parser.add_argument(
        "--output", default=None, help="JSON path (default: in build/, by mode)"
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}; it must be 1 or more")
    try:
        check_cap("--max-train-samples", args.max_train_samples)
    except ValueError as error:
        parser.error(str(error))
    if args.quick:
        args.epochs, args.repeats, args.max_train_samples = 1, 1, QUICK_SAMPLES
    return args


def main(argv=None) -> int:
    args = parse(argv)
    return settings(args) if args.settings else bench(args)


if __name__ == "__main__":
    sys.exit(main())
