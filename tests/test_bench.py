"""benchmarks/bench.py: quick runs of both modes, and its argument checks.

Slow (tens of seconds of training): `pytest -m slow` runs them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench  # noqa: E402

from helpers.training import set_seed, two_figures  # noqa: E402

pytestmark = pytest.mark.slow

METHODS = ["plain fit", "course fit", "bf16 fit", "frozen fit", "cached"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `--quick` run: its exit code, JSON, folder and printed text."""
    folder = tmp_path_factory.mktemp("bench")
    output = folder / "bench.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = bench.main(["--quick", "--output", str(output)])
    return code, json.loads(output.read_text()), folder, printed.getvalue()


def test_quick_run_writes_every_method_in_order(quick_run):
    code, result, _, _ = quick_run
    assert code == 0
    assert [row["method"] for row in result["methods"]] == METHODS
    assert sorted(result["runs"]) == sorted(METHODS)  # save_json sorts keys
    assert result["epochs"] == 1 and result["repeats"] == 1
    assert result["batch_size"] == 128 and result["optimizer"] == "adadelta"
    assert result["learning_rate"] == 1.0
    assert {"python", "tensorflow", "keras", "numpy"} <= set(result["versions"])
    assert result["machine"]["cores"] >= 1


def test_quick_run_measures_positive_times_and_learns(quick_run):
    _, result, _, _ = quick_run
    for row in result["methods"]:
        assert row["median s"] > 0 and row["s/epoch"] > 0 and row["images/s"] > 0
        assert row["peak MiB"] > 0
        assert 0.2 < row["test accuracy"] <= 1.0, row  # five digits: chance is 0.2
    for runs in result["runs"].values():
        assert len(runs) == 1 and runs[0]["seconds"] > 0
    (cached,) = result["runs"]["cached"]
    assert 0 < cached["predict_seconds"] < cached["seconds"]  # included in the time
    assert result["median_predict_seconds"] > 0


def test_quick_run_rounds_the_table_timings_to_two_figures(quick_run):
    _, result, _, _ = quick_run
    for row in result["methods"]:
        for key in ("median s", "s/epoch", "images/s"):
            assert row[key] == two_figures(row[key]), (row["method"], key)


def test_quick_run_keeps_both_ratios(quick_run):
    _, result, _, _ = quick_run
    for key in ("ratio_cached_vs_frozen_fit", "ratio_course_fit_vs_plain_fit"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert math.isfinite(result["accuracy_points_cached_minus_frozen_fit"])


def test_quick_run_leaves_no_temporary_file(quick_run):
    _, _, folder, _ = quick_run
    assert sorted(p.name for p in folder.iterdir()) == ["bench.json"]


def test_quick_run_prints_both_targets(quick_run):
    _, _, _, printed = quick_run
    assert "cached / frozen fit" in printed and "target <= 0.5" in printed
    assert "course fit / plain fit" in printed and "target >= 1.0" in printed


def test_quick_settings_run_writes_every_setting(tmp_path):
    output = tmp_path / "bench_settings.json"
    set_seed(0)  # op determinism on, as after a bench run in the same process
    assert bench.main(["--settings", "--quick", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    measured = [
        (row["model"], row["steps_per_execution"], row["jit_compile"])
        for row in result["settings"]
    ]
    # jit_compile as Keras compiled it: --settings turned op determinism off.
    assert measured == [
        ("whole CNN", 1, False),
        ("whole CNN", 8, False),
        ("whole CNN", 32, False),
        ("whole CNN", 128, False),
        ("head", 1, False),
        ("head", 32, False),
        ("head", 1, True),
        ("head", 32, True),
    ]
    for row in result["settings"]:
        assert row["images/s"] > 0 and row["s/epoch"] > 0
    assert result["course_steps_per_execution"] in (1, 8, 32, 128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench_settings.json"]


@pytest.mark.parametrize("flag", ["--repeats", "--epochs"])
def test_bench_rejects_a_count_below_one(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main([flag, "0", "--output", str(tmp_path / "b.json")])
    assert exit_info.value.code == 2  # argparse's usage error
    assert f"{flag}=0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
