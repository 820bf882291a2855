"""The check cells of the exercises: each answers in one friendly line, never with a
traceback: "✓ ..." when the exercise is done, else "Not yet: ..." and what to change."""

from __future__ import annotations

import ast
import textwrap

import keras
import numpy as np

from helpers.models import weights_of


def _answer(problem: str | None, done) -> None:
    """Print the problem, or ``done()`` (called only when there is none)."""
    print(f"Not yet: {problem}" if problem else f"✓ {done()}")


def _unfilled(**names) -> str | None:
    return next((f"`{name}` is still `...`: replace it with your code."
                 for name, value in names.items() if value is ...), None)


def _frozen(model) -> list[str]:
    return [layer.name for layer in model.layers
            if layer.weights and not layer.trainable]


def _moved(model, names, before) -> None:
    return any(not np.array_equal(a, b)
               for a, b in zip(weights_of(model, names), before, strict=True))


def check_frozen(model, names) -> None:
    """Exactly the layers ``names`` are frozen, of those that have weights."""
    def problem():
        if (unfilled := _unfilled(model=model)):
            return unfilled
        weighted = [n for n in names if model.get_layer(n).weights]
        still = [n for n in weighted if model.get_layer(n).trainable]
        extra = sorted(set(_frozen(model)) - set(names))
        if still:
            return f"{', '.join(still)}: set `trainable` to False."
        only = ", ".join(weighted)
        return extra and f"{', '.join(extra)} is frozen too: only {only}."

    def done():
        trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        return (f"{', '.join(_frozen(model))} frozen: {trained:,} of "
                f"{model.count_params():,} parameters will train.")
    return _answer(problem() or None, done)


def check_fit(model, history, stop, base, frozen) -> None:
    """``model`` fitted with validation data and ``stop`` (EarlyStopping on
    val_accuracy, best weights restored); its layers ``frozen`` still as in ``base``."""
    def problem():
        if (unfilled := _unfilled(stop=stop, history=history)):
            return unfilled
        if not isinstance(stop, keras.callbacks.EarlyStopping):
            return "`stop` should be a keras.callbacks.EarlyStopping(...)."
        if stop.monitor != "val_accuracy" or not stop.restore_best_weights:
            return ('give EarlyStopping monitor="val_accuracy" and '
                    "restore_best_weights=True, so the best epoch comes back.")
        if not isinstance(history, keras.callbacks.History) or (
                history.model is not model):
            return "`history` should be what your model's `fit` returns."
        if "val_accuracy" not in history.history:
            return ('no validation accuracy: compile with metrics=["accuracy"] and '
                    "fit with validation_data=(...).")
        if _moved(model, frozen, weights_of(base, frozen)):
            return "the frozen layers moved: set `trainable` before you compile."
        return None

    def done():
        best = int(np.argmax(history.history["val_accuracy"])) + 1
        return (f"{len(history.epoch)} epochs; epoch {best} was best on validation, "
                "and its weights are back.")
    return _answer(problem(), done)


def check_accuracy(model, accuracy, x, y, floor: float) -> None:
    """``accuracy`` is ``model``'s accuracy on (x, y), and at least ``floor``."""
    def problem():
        if (unfilled := _unfilled(accuracy=accuracy)):
            return unfilled
        if not isinstance(accuracy, float | np.floating):
            return ("`accuracy` should be a number: evaluate returns [loss, accuracy], "
                    "so write `_, accuracy = ....evaluate(...)`.")
        if abs(accuracy - model.evaluate(x, y, verbose=0)[1]) > 1e-6:
            return "that is not your model's accuracy on the test images."
        if accuracy < floor:
            return (f"{accuracy:.1%} is below {floor:.0%}: are the features frozen, "
                    "and did fit run long enough?")
        return None

    return _answer(problem(), lambda: f"test accuracy above {floor:.0%}: it works.")


def check_fine_tuned(model, history, names, before, initial_epoch: int,
                     max_rate: float = 1e-4) -> None:
    """Every layer trainable, compiled again at a rate <= ``max_rate``, fitted on
    from ``initial_epoch``; the layers ``names`` moved from their weights ``before``."""
    def problem():
        if (unfilled := _unfilled(history=history)):
            return unfilled
        if (frozen := _frozen(model)):
            return f"{', '.join(frozen)} is still frozen: set `trainable = True`."
        if (rate := float(model.optimizer.learning_rate.numpy())) > max_rate:
            return (f"the rate is {rate:g}: compile again with a small one (say 1e-5), "
                    "or the first steps undo the copied features.")
        if not history.epoch or history.epoch[0] != initial_epoch:
            return f"fit with initial_epoch={initial_epoch}, so the epochs count on."
        if not _moved(model, names, before):
            return "the convolutions did not move: compile again after unfreezing."
        return None

    return _answer(problem(), lambda: f"epochs {history.epoch[0] + 1} to "
                   f"{history.epoch[-1] + 1} fine-tuned every layer.")


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"  # nbgrader's markers


def _names(statement) -> list[str]:
    """The names an assignment sets (not ``_``); none for another statement."""
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return [node.id for target in targets for node in ast.walk(target)
            if isinstance(node, ast.Name) and node.id != "_"]


def starter(source: str) -> str:
    """``source`` with each solution region replaced by its starter: one line per
    statement, ``name = ...`` for an assignment, else ``...``."""
    lines, out, region = source.splitlines(), [], None
    for line in lines:
        if line.strip() == BEGIN and region is None:
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif line.strip() == END and region is not None:
            body = ast.parse(textwrap.dedent("\n".join(region)))
            out += [indent + " = ".join([*_names(s), "..."]) for s in body.body]
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None or any(END == line.strip() for line in out):
        raise ValueError(f"unbalanced {BEGIN!r} / {END!r} in:\n{source}")
    return "\n".join(out)
