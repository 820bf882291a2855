"""helpers.exercises: the check cells answer in one line; and the starters
(scripts/make_student.py) keep only what the learner must not write."""

from __future__ import annotations

from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest

from helpers.data import load_mnist, make_task
from helpers.exercises import check_accuracy, check_fine_tuned, check_fit, check_frozen
from helpers.models import CONVOLUTIONS, FEATURE_LAYERS, build_model, weights_of
from scripts.make_student import BEGIN, END, starter

RNG = np.random.default_rng(0)
X = RNG.random((40, 28, 28, 1), dtype=np.float32)
Y = np.arange(40) % 2


def answer(capsys, check, *args, **kwargs) -> tuple[bool, str]:
    """(done, the line printed): a check prints one line, and returns nothing."""
    assert check(*args, **kwargs) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return out.startswith("✓ "), out


def compiled(model, rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_starter_keeps_what_is_around_and_leaves_one_line_per_statement():
    source = ("net = make()\n# freeze:\n    ### BEGIN SOLUTION\n    for n in names:\n"
              "        net.get_layer(n).trainable = False\n"
              "    _, acc = net.evaluate(x)\n    ### END SOLUTION\nprint(acc)")
    expected = "net = make()\n# freeze:\n    ...\n    acc = ...\nprint(acc)"
    assert starter(source) == expected
    assert starter("a = 1") == "a = 1"
    assert starter(f"{BEGIN}\nd[k] = b = f(1)\n{END}") == "d[k] = b = ..."
    with pytest.raises(ValueError, match="unbalanced"):
        starter("### BEGIN SOLUTION\nx = 1")


def test_check_frozen(capsys):
    model = build_model(2)
    assert answer(capsys, check_frozen, ..., FEATURE_LAYERS) == (
        False, "Not yet: a `...` is still there: replace it with your code (see the "
        "comments).\n")
    done, out = answer(capsys, check_frozen, model, FEATURE_LAYERS)
    assert not done and out.startswith("Not yet: conv1, conv2: set `trainable`"), out
    for name in FEATURE_LAYERS:
        model.get_layer(name).trainable = False
    assert answer(capsys, check_frozen, model, ["conv1", "conv1_relu"])[1].startswith(
        "Not yet: conv2 is frozen too")
    done, out = answer(capsys, check_frozen, model, FEATURE_LAYERS)
    assert done and out.startswith("✓ conv1, conv2 frozen: "), out


@pytest.mark.slow  # trains tiny models: seconds
def test_check_fit_and_check_accuracy(capsys):
    base, model = build_model(2), build_model(2)
    model.set_weights(base.get_weights())
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=1,
                                         restore_best_weights=True)
    assert "`...` is still there" in answer(capsys, check_fit, model, ..., ..., base,
                                       CONVOLUTIONS)[1]
    history = compiled(model).fit(X, Y, validation_data=(X, Y), epochs=2, verbose=0,
                                  callbacks=[stop])
    done, out = answer(capsys, check_fit, model, history, stop, base, CONVOLUTIONS)
    assert not done and "the frozen layers moved" in out  # nothing was frozen
    done, out = answer(capsys, check_fit, model, history, stop, model, CONVOLUTIONS)
    assert done and out.startswith("✓ trained with validation"), out
    loose = keras.callbacks.EarlyStopping(monitor="val_loss")
    assert "restore_best_weights" in answer(capsys, check_fit, model, history, loose,
                                            model, CONVOLUTIONS)[1]
    accuracy = model.evaluate(X, Y, verbose=0)[1]
    assert answer(capsys, check_accuracy, model, accuracy, X, Y, floor=0.0)[0]
    assert "should be a number" in answer(capsys, check_accuracy, model,
                                          [0.1, accuracy], X, Y, floor=0.0)[1]
    assert "not your model's" in answer(capsys, check_accuracy, model, accuracy + 0.1,
                                        X, Y, floor=0.0)[1]
    assert "is below 101%" in answer(capsys, check_accuracy, model, accuracy, X, Y,
                                     floor=1.01)[1]


@pytest.mark.slow  # trains tiny models: seconds
def test_check_fine_tuned(capsys):
    model = compiled(build_model(2))
    model.get_layer("conv1").trainable = False
    before = weights_of(model, CONVOLUTIONS)
    earlier = model.fit(X, Y, epochs=1, verbose=0)
    args = (model, earlier, CONVOLUTIONS, before, earlier)
    assert "conv1 is still frozen" in answer(capsys, check_fine_tuned, *args)[1]
    model.get_layer("conv1").trainable = True
    compiled(model, rate=1e-2)
    assert "the rate is 0.01" in answer(capsys, check_fine_tuned, *args)[1]
    compiled(model, rate=1e-5)
    assert "initial_epoch=1" in answer(capsys, check_fine_tuned, *args)[1]
    before = weights_of(model, CONVOLUTIONS)
    history = model.fit(X, Y, initial_epoch=1, epochs=2, verbose=0)
    args = (model, history, CONVOLUTIONS, before, earlier)
    done, out = answer(capsys, check_fine_tuned, *args)
    assert done and out.startswith("✓ every layer fine-tuned"), out
    assert "validation" not in out  # fitted without: nothing to compare
    before = weights_of(model, CONVOLUTIONS)
    more = model.fit(X, Y, validation_data=(X, Y), initial_epoch=1, epochs=2, verbose=0)
    validated = model.fit(X, Y, validation_data=(X, Y), epochs=1, verbose=0)
    args = (model, more, CONVOLUTIONS, before, validated)
    done, out = answer(capsys, check_fine_tuned, *args)
    best = max(validated.history["val_accuracy"])
    last = more.history["val_accuracy"][-1]
    assert done and f"best before {best:.4f}, last now {last:.4f}." in out, out
    unfilled = build_model(2)  # never compiled: no optimizer to read
    for history_, earlier_ in ((..., earlier), (history, ...)):
        assert "`...` is still there" in answer(
            capsys, check_fine_tuned, unfilled, history_, CONVOLUTIONS, before,
            earlier_)[1]


# The exercises of the committed notebooks, each run twice in a fresh context: as the
# student edition leaves it (its check must say "Not yet", without a traceback), then
# filled with its solution (its check must say "✓").
REPO = Path(__file__).resolve().parents[1]
EXERCISE_NOTEBOOKS = ("03_freeze_and_fine_tune", "05_what_transfers")


def exercises(name: str) -> list[tuple[str, str]]:
    """(exercise cell, the check cell after it) of a notebook, in order."""
    cells = [cell.source for cell in nbformat.read(
        REPO / "notebooks" / f"{name}.ipynb", as_version=4).cells
        if cell.cell_type == "code"]
    return [(source, cells[i + 1]) for i, source in enumerate(cells)
            if BEGIN in source]


@pytest.fixture(scope="module")
def context() -> dict:
    """What the exercises read: the study's base model (02's recipe), the target
    task and the notebooks' imports."""
    namespace: dict = {}
    exec("import keras\nimport numpy as np\nfrom helpers.data import *\n"
         "from helpers.models import *\nfrom helpers.training import *\n"
         "from helpers.exercises import *", namespace)
    namespace["seed"] = 0
    namespace["base"] = keras.saving.load_model(REPO / "results" / "base_model.keras")
    namespace["target"] = make_task(load_mnist(), [0, 1, 2, 3, 4], seed=0,
                                    validation_fraction=0.1, max_train_samples=None)
    return namespace


@pytest.mark.slow
@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_each_exercise_fails_friendly_unfilled_and_passes_filled(name, context,
                                                                 capsys):
    found = exercises(name)
    assert found, f"{name} has no exercise with a solution region"
    namespace = dict(context)
    for number, (exercise, check) in enumerate(found, start=1):
        for source, verdict in ((starter(exercise), "Not yet: "), (exercise, "✓ ")):
            exec(source, namespace)
            capsys.readouterr()
            exec(check, namespace)
            out = capsys.readouterr().out
            assert out.startswith(verdict) and out.count("\n") == 1, (number, out)
