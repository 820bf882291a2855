"""benchmarks/bench.py: a quick run writes the table's numbers and the ratios."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench  # noqa: E402


def test_quick_bench_writes_every_method_and_both_ratios(tmp_path, capsys):
    output = tmp_path / "bench.json"
    assert bench.main(["--quick", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    methods = [row["method"] for row in result["methods"]]
    assert methods == ["plain fit", "helpers loop", "frozen fit", "cached"]
    for row in result["methods"]:
        assert row["median s"] > 0 and row["images/s"] > 0
        assert row["peak MiB"] > 0
        assert 0.2 < row["test accuracy"] <= 1.0  # five digits: chance is 0.2
    by = {row["method"]: row for row in result["methods"]}
    assert result["ratio_cached_vs_frozen_fit"] == (
        by["cached"]["median s"] / by["frozen fit"]["median s"]
    )
    assert result["ratio_full_fit_vs_plain_keras"] == (
        by["helpers loop"]["images/s"] / by["plain fit"]["images/s"]
    )
    assert result["epochs"] == 1 and result["repeats"] == 1
    assert not list(tmp_path.glob("*.partial"))  # written whole, or not at all
    printed = capsys.readouterr().out
    assert "cached / frozen fit" in printed and "(target <= 0.5)" in printed


def test_bench_rejects_a_bad_repeat_count(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0", "--output", str(tmp_path / "b.json")])
    assert "--repeats=0" in capsys.readouterr().err
