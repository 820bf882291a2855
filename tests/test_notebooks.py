"""The notebooks as a whole: committed shape, headless smoke runs, parameter errors.

The smoke runs are marked ``notebooks`` (slow); ``pytest -m "not notebooks"`` skips
them. nbval on the committed outputs runs separately (see the Makefile).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
sys.path.insert(0, str(REPO / "scripts"))
import run_course  # noqa: E402

COMMITTED = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_five_course_notebooks_exist_in_order():
    assert [p.stem for p in COMMITTED] == run_course.NOTEBOOKS


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert None not in counts, "every code cell was executed"
    assert counts == sorted(counts), "cells were executed in order"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, "no error outputs"
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1
    assert not any("injected-parameters" in t for t in tags)
    text = json.dumps(nb)
    for machine_path in (str(REPO), os.path.expanduser("~"), "/tmp/"):
        assert machine_path not in text, f"{machine_path} appears in {path.name}"
    assert "papermill" not in nb.metadata, "run metadata was stripped"


def _run(name: str, output: Path, **parameters) -> None:
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / f"{name}.ipynb"),
        str(output / f"{name}.ipynb"),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOK_DIR),
        progress_bar=False,
    )


def _error_of(output: Path, name: str) -> str:
    nb = nbformat.read(output / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                return f"{out.ename}: {out.evalue}"
    return ""


@pytest.mark.notebooks
def test_quick_run_of_all_five_notebooks(tmp_path):
    """`make run QUICK=1` in a temporary build folder; assertions on the JSON."""
    assert run_course.main(["--quick", "--build-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    artifacts = tmp_path / "artifacts"
    split = json.loads((artifacts / "split.json").read_text())

    # Exact counts: 2000 images per task, 10% held out, full test sets.
    assert split["source"]["sizes"] == {"train": 1800, "validation": 200, "test": 4861}
    assert split["target"]["sizes"] == {"train": 1800, "validation": 200, "test": 5139}
    assert summary["base"]["digits"] == [5, 6, 7, 8, 9]
    assert (
        summary["transfer"]["digits"] == summary["scratch"]["digits"] == [0, 1, 2, 3, 4]
    )
    for part in ("base", "transfer", "scratch"):
        assert summary[part]["epochs"] == 1
        assert len(summary[part]["seconds_per_epoch"]) == 1
        assert summary[part]["test_accuracy"] > 0.5  # chance is 0.2
    sweep = summary["sample_efficiency"]
    assert len(sweep) == 2 * 1 * 2  # sizes x seeds x methods
    assert {r["method"] for r in sweep} == {"transfer", "scratch"}
    assert all(r["test_accuracy"] > 0.2 for r in sweep)
    transfer = json.loads((artifacts / "transfer_metrics.json").read_text())
    assert transfer["run"]["parameters"] == {
        "total": 600_165,
        "trainable": 590_597,
        "non_trainable": 9_568,
    }
    depth = summary["what_transfers"]
    assert len(depth) == 2 * 8  # sizes x methods (one seed)
    assert {r["method"] for r in depth} == {
        "finetune_all",
        "frozen_conv1",
        "transfer",
        "frozen_dense",
        "scratch",
        "random_conv1",
        "random_conv2",
        "random_dense",
    }
    assert all(0.0 <= r["mean"] <= 1.0 for r in depth)
    # The transfer and scratch runs of notebook 04 were reused, not repeated.
    what = json.loads((artifacts / "what_transfers.json").read_text())
    reused = {
        (r["method"], r["n_per_class"]) for r in what["freeze_depth"] if "reused" in r
    }
    assert reused == {(m, n) for m in ("transfer", "scratch") for n in (5, None)}
    assert len(what["two_phase"]) == 2
    assert summary["versions"]["keras"].startswith("3.")
    figures = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert len(figures) >= 8
    assert all(
        (tmp_path / "notebooks" / f"{n}.ipynb").is_file() for n in run_course.NOTEBOOKS
    )


@pytest.mark.notebooks
def test_lists_of_different_lengths_replace_the_output_layer(tmp_path):
    params = {"source_digits": [1, 3, 5, 7], "target_digits": [0, 2, 4]}
    args = ["--quick", "--build-dir", str(tmp_path)]
    for name, value in params.items():
        args += ["-p", name, json.dumps(value)]
    assert run_course.main(args) == 0
    artifacts = tmp_path / "artifacts"
    transfer = json.loads((artifacts / "transfer_metrics.json").read_text())
    assert "replaced" in transfer["head"]
    # 4 source outputs replaced by 3: 9,568 frozen; dense + a 3-way output train.
    assert transfer["run"]["parameters"]["non_trainable"] == 9_568
    assert transfer["run"]["parameters"]["trainable"] == 589_952 + 128 * 3 + 3
    assert transfer["source_accuracy"]["fine_tuned"] is None


@pytest.mark.notebooks
def test_overlapping_digit_lists_stop_the_first_notebook(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError):
        _run(
            "01_data_split",
            tmp_path,
            source_digits=[1, 2, 3],
            target_digits=[3, 4],
            artifacts_dir=str(tmp_path / "a"),
        )
    error = _error_of(tmp_path, "01_data_split")
    assert "source_digits" in error and "target_digits" in error and "[3]" in error


@pytest.mark.notebooks
def test_missing_base_model_names_the_notebook_to_run(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError):
        _run("03_freeze_and_fine_tune", tmp_path, artifacts_dir=str(tmp_path / "a"))
    error = _error_of(tmp_path, "03_freeze_and_fine_tune")
    assert "MissingArtifactError" in error
    assert "02_base_training.ipynb" in error and "source_digits" in error
