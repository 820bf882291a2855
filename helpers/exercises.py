"""The check cells of the exercises: each answers in one friendly line, never with a
traceback: "✓ ..." when the exercise is done, else "Not yet: ..." and what to change."""

import keras
import numpy as np

from helpers.models import weights_of

UNFILLED = "a `...` is still there: replace it with your code (see the comments)."

def _answer(done: str, *rules) -> None:
    """The message of the first rule ``(test, message)`` whose test is true (tests run
    in order: each may assume the ones before passed), else ``done``."""
    problem = next((message for test, message in rules if test()), None)
    print(f"Not yet: {problem() if callable(problem) else problem}" if problem
          else f"✓ {done() if callable(done) else done}")

def _frozen(model) -> list[str]:
    return [x.name for x in model.layers if x.weights and not x.trainable]

def _moved(model, names, before) -> bool:
    return any(not np.array_equal(a, b)
               for a, b in zip(weights_of(model, names), before, strict=True))

def check_frozen(model, names) -> None:
    """Exactly the layers ``names`` are frozen, of those that have weights."""
    if model is ...:
        return _answer("", (lambda: True, UNFILLED))
    weighted = [name for name in names if model.get_layer(name).weights]
    still = [name for name in weighted if model.get_layer(name).trainable]
    extra = sorted(set(_frozen(model)) - set(names))
    trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    _answer(f"{', '.join(weighted)} frozen: {trained:,} of {model.count_params():,} "
            "parameters will train.",
            (lambda: still, f"{', '.join(still)}: set `trainable` to False."),
            (lambda: extra, f"{', '.join(extra)} is frozen too: only "
             f"{', '.join(weighted)}."))

def check_fit(model, history, stop, base, frozen) -> None:
    """``model`` fit with validation and ``stop``, layers ``frozen`` as in ``base``."""
    _answer("trained with validation and early stopping; the best epoch's weights "
            "are back.",
            (lambda: ... in (stop, history), UNFILLED),
            (lambda: not isinstance(stop, keras.callbacks.EarlyStopping),
             "`stop` should be a keras.callbacks.EarlyStopping(...)."),
            (lambda: stop.monitor != "val_accuracy" or not stop.restore_best_weights,
             'give EarlyStopping monitor="val_accuracy" and restore_best_weights=True, '
             "so the best epoch comes back."),
            (lambda: getattr(history, "model", None) is not model,
             "`history` should be what your model's `fit` returns."),
            (lambda: "val_accuracy" not in history.history,
             'no validation accuracy: compile with metrics=["accuracy"] and fit with '
             "validation_data=(...)."),
            (lambda: _moved(model, frozen, weights_of(base, frozen)),
             "the frozen layers moved: set `trainable` before you compile."))

def check_accuracy(model, accuracy, x, y, floor: float) -> None:
    """``accuracy`` is ``model``'s accuracy on (x, y), and at least ``floor``."""
    _answer(f"test accuracy above {floor:.0%}: it works.",
            (lambda: accuracy is ..., UNFILLED),
            (lambda: not isinstance(accuracy, float | np.floating),
             "`accuracy` should be a number: evaluate returns [loss, accuracy], so "
             "write `_, accuracy = ....evaluate(...)`."),
            (lambda: abs(accuracy - model.evaluate(x, y, verbose=0)[1]) > 1e-6,
             "that is not your model's accuracy on the test images."),
            (lambda: accuracy < floor, lambda: f"{accuracy:.1%} is below {floor:.0%}: "
             "are the features frozen, and did fit run long enough?"))

def check_fine_tuned(model, history, names, before, earlier) -> None:
    """Every layer trainable, recompiled at a rate <= 1e-4, fitted on from where
    ``earlier`` stopped; the layers ``names`` moved from their weights ``before``."""
    def rate():
        return float(model.optimizer.learning_rate.numpy())
    def done():
        was, now = (h.history.get("val_accuracy") for h in (earlier, history))
        seen = (f"; validation accuracy: best before {max(was):.4f}, last now "
                f"{now[-1]:.4f}" if was and now else "")
        return f"every layer fine-tuned at a small rate, its epochs counted on{seen}."
    _answer(done,
            (lambda: ... in (history, earlier), UNFILLED),
            (lambda: _frozen(model), lambda: f"{', '.join(_frozen(model))} is still "
             "frozen: set `trainable = True`."),
            (lambda: rate() > 1e-4, lambda: f"the rate is {rate():g}: compile "
             "again with a small one (say 1e-5), or the first steps undo the copied "
             "features."),
            (lambda: getattr(history, "epoch", [None])[:1] != [len(earlier.epoch)],
             lambda: f"fit with initial_epoch={len(earlier.epoch)}, so the epochs "
             "count on."),
            (lambda: not _moved(model, names, before),
             "the convolutions did not move: compile again after unfreezing."))
