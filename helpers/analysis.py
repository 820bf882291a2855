"""Reading the study's rows (not fingerprinted: a change here keeps every record)."""

from collections.abc import Sequence

import numpy as np
from scipy import stats

from helpers.data import Task
from helpers.training import check_count, check_list


def check_sizes(name: str, sizes, task: Task, seeds, part: str = "train") -> None:
    """ValueError unless the task's ``part`` holds ``sizes`` images per class (None:
    all) and ``seeds`` are integers >= 0."""
    pool = min(np.bincount(task.y_train if part == "train" else task.y_val))
    def size(_, n):
        if (n is not None or part != "train") and check_count(name, n) > pool:
            raise ValueError(f"the task's {part} part has only {pool} images of "
                             f"its rarest class: use at most {pool}")
    check_list(name, sizes, size)
    check_list("seeds", seeds, lambda n, v: check_count(n, v, minimum=0))

def best_rates(rows: Sequence[dict]) -> dict[str, float]:
    """Each method's learning rate with the best mean validation (not test) accuracy."""
    scores: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        by_rate = scores.setdefault(row["method"], {})
        by_rate.setdefault(row["learning_rate"], []).append(row["best_val_accuracy"])
    return {m: max(r, key=lambda rate: np.mean(r[rate])) for m, r in scores.items()}

def paired_difference(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Mean of paired ``a - b``, 95% t-interval, p-value; a verdict if 0 is outside."""
    if len(values_a) != len(values_b) or not len(values_a):
        raise ValueError(f"{len(values_a)} and {len(values_b)} values; give pairs")
    diffs = np.asarray(values_a, float) - np.asarray(values_b, float)
    k, mean = len(diffs), float(diffs.mean())
    low = high = p = None
    if k > 1 and np.ptp(diffs) == 0:  # no spread: the interval is the point itself
        low, high, p = mean, mean, 1.0 if mean == 0 else 0.0
    elif k > 1:
        test = stats.ttest_rel(values_a, values_b)
        interval = test.confidence_interval(0.95)
        low, high, p = float(interval.low), float(interval.high), float(test.pvalue)
    verdict = ("cannot tell (one pair)" if k < 2 else "a better" if low > 0
               else "b better" if high < 0 else "cannot tell")
    return dict(pairs=k, mean=mean, low=low, high=high, p=p, verdict=verdict)

def compare(rows: Sequence[dict], a: str, b: str, key: str = "test_accuracy") -> list:
    """:func:`paired_difference` of methods ``a`` and ``b`` per size, paired by seed."""
    table = []
    for n in dict.fromkeys(row["n_per_class"] for row in rows):
        by_seed = {m: {r["seed"]: r[key] for r in rows
                       if r["method"] == m and r["n_per_class"] == n} for m in (a, b)}
        seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
        first, second = [by_seed[a][s] for s in seeds], [by_seed[b][s] for s in seeds]
        result = paired_difference(first, second)
        named = {"a better": f"{a} better", "b better": f"{b} better"}
        result["verdict"] = named.get(result["verdict"], result["verdict"])
        table.append({"n_per_class": n, a: float(np.mean(first)),
                      b: float(np.mean(second)), **result})
    return table

def rates_per_size(tuning: Sequence[dict], sizes, all_size: float) -> dict:
    """Per size, the :func:`best_rates` of the nearest tuning size (log scale)."""
    chosen = {n: best_rates([r for r in tuning if r["n_per_class"] == n])
              for n in dict.fromkeys(r["n_per_class"] for r in tuning)}
    log = {n: np.log(all_size if n is None else n) for n in [*chosen, *sizes]}
    return {n: chosen[min(chosen, key=lambda t: abs(log[t] - log[n]))] for n in sizes}

def holm(table: Sequence[dict], level: float = 0.05) -> list[dict]:
    """A :func:`compare` table with Holm-adjusted p-values and their verdicts."""
    ranked = sorted((r["p"], i) for i, r in enumerate(table) if r["p"] is not None)
    adjusted, running = {}, 0.0
    for rank, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - rank) * p))
        adjusted[i] = running
    return [{**r, "holm_p": adjusted.get(i), "holm_verdict": r["verdict"]
             if adjusted.get(i, 0.0) < level else "cannot tell"}
            for i, r in enumerate(table)]

def left_by_patience(curve: Sequence[float], patience: int) -> float:
    """Validation accuracy a run to the cap (``curve``) loses if stopped by patience."""
    best, waited = 0, 0
    for epoch, value in enumerate(curve):
        if value > curve[best]:
            best, waited = epoch, 0
        elif epoch and (waited := waited + 1) >= patience:
            return max(curve) - curve[best]
    return 0.0

def prediction_interval(values: Sequence[float], level: float = 0.95) -> tuple:
    """Where one more run falls with probability ``level``: mean ± t·s·√(1 + 1/k)."""
    k, spread = len(values), float(np.std(values, ddof=1))
    half = stats.t.ppf((1 + level) / 2, k - 1) * spread * np.sqrt(1 + 1 / k)
    return float(np.mean(values) - half), float(np.mean(values) + half)
