"""The notebooks as a whole: their committed shape, and one headless smoke run.

The committed-shape checks are quick unit tests. The smoke run (marked
``notebooks``) executes the student edition of every notebook (everything but
the solutions) once with tiny parameters, through the same script as `make
run`; nbval executes each full notebook once more, solutions included, on its
committed outputs (see the Makefile). The parameter-check tests stop each
notebook in its first cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from scripts import run_course
from scripts.make_student import BEGIN, student_edition

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_course_notebooks_exist_in_reading_order():
    assert [p.stem for p in COMMITTED] == run_course.NOTEBOOKS


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_notebook_is_executed_clean_and_tagged(path):
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
    markers = [c for c in code if "NBVAL_" in c.source]
    assert not markers, "nbval markers are cell tags, not comments"
    text = json.dumps(nb)
    for machine_path in (str(REPO), os.path.expanduser("~"), "/tmp/"):
        assert machine_path not in text, f"{machine_path} appears in {path.name}"
    assert "papermill" not in nb.metadata, "run metadata was stripped"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_every_solution_is_collapsed_and_every_exercise_has_one(path):
    nb = nbformat.read(path, as_version=4)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    regions = [c for c in nb.cells if c.cell_type == "code" and BEGIN in c.source]
    assert solutions or regions, "each notebook ends with exercises and solutions"
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions)


def test_versions_are_printed_once_in_the_first_notebook():
    printing = [
        p.name
        for p in COMMITTED
        for c in nbformat.read(p, as_version=4).cells
        if c.cell_type == "code" and "__version__" in c.source
    ]
    assert printing == [COMMITTED[0].name]


@pytest.mark.notebooks
def test_quick_run_of_the_student_edition_writes_a_consistent_build(
    tmp_path, monkeypatch
):
    """`make run QUICK=1` on the student edition: every cell but the solutions
    runs, each unfilled exercise's check answers "Not yet:" (never a traceback),
    and the build folder holds the executed notebooks, figures and summary, with
    no path of this machine in them."""
    monkeypatch.delenv("MPLBACKEND")  # the kernels draw inline, as in JupyterLab
    build, student = tmp_path / "build", tmp_path / "student"
    student_edition(REPO / "notebooks", student)
    argv = ["--quick", "--build-dir", str(build), "--source", str(student)]
    assert run_course.main(argv) == 0
    executed = sorted(p.stem for p in (build / "notebooks").glob("*.ipynb"))
    assert executed == run_course.NOTEBOOKS
    assert list((build / "figures").glob("*.png"))
    summary = json.loads((build / "summary.json").read_text())
    sizes = run_course.QUICK_PARAMETERS["04_transfer_vs_scratch"]["sample_sizes"]
    assert set(summary["feature_extraction_vs_scratch"]) == set(map(str, sizes))
    for path in (build / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if "check" in cell.metadata.get("tags", []):
                printed = "".join(o.get("text", "") for o in cell.outputs)
                assert printed.startswith("Not yet: "), (path.name, printed)
    text = "".join(p.read_text() for p in build.rglob("*.ipynb"))
    text += (build / "summary.json").read_text()
    assert str(tmp_path) not in text and str(REPO) not in text
    assert not list(tmp_path.glob(".build-next-*")), "the staging folder is gone"


def _first_error(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                return f"{out.ename}: {out.evalue}"
    return ""


BAD_PARAMETERS = [
    ("01_data_split", {"validation_fraction": 0}, "validation_fraction=0;"),
    ("01_data_split", {"source_digits": [True, 6]}, "source_digits=[True, 6]"),
    ("02_base_training", {"keras3_default_rate": 0}, "keras3_default_rate=0;"),
    ("02_base_training", {"epochs": 0}, "epochs=0;"),
    (
        "03_freeze_and_fine_tune",
        {"equivalence_per_class": 0},
        "equivalence_per_class=0",
    ),
    ("04_transfer_vs_scratch", {"patience": 0}, "patience=0;"),
    (
        "04_transfer_vs_scratch",
        {"max_train_samples": 2000, "sample_sizes": [1, 500]},
        "sample_sizes=[1, 500] holds 500",
    ),
    ("04_transfer_vs_scratch", {"tuning_seeds": [0]}, "tuning_seeds=[0] share [0]"),
    (
        "04_transfer_vs_scratch",
        {"sample_sizes": [10, 100], "head_sizes": [1, 10]},
        "head_sizes=[1, 10] holds sizes not in sample_sizes",
    ),
    (
        "04_transfer_vs_scratch",
        {"largest_sizes": [1000]},
        "largest_sizes=[1000] holds sizes not in sample_sizes",
    ),
    (
        "04_transfer_vs_scratch",
        {"second_split": [[1, 3], [3, 4]]},
        "second_split=[[1, 3], [3, 4]]; give [source digits, target digits]",
    ),
    ("05_what_transfers", {"head_rate_grid": [0]}, "head_rate_grid=[0]"),
    (
        "05_what_transfers",
        {"fine_tune_rates": [0.001, 0]},
        "fine_tune_rates=[0.001, 0]",
    ),
    ("05_what_transfers", {"depths": ["conv9"]}, "depths=['conv9']"),
    ("06_your_own_data", {"test_fraction": 1.5}, "test_fraction=1.5;"),
    (
        "06_your_own_data",
        {"batchnorm_seeds": [0, -1]},
        "batchnorm_seeds=[0, -1] holds -1",
    ),
]


@pytest.mark.notebooks
@pytest.mark.parametrize(
    ("name", "parameters", "message"), BAD_PARAMETERS, ids=lambda v: str(v)[:40]
)
def test_a_bad_parameter_stops_the_notebook_in_its_first_cells(
    tmp_path, monkeypatch, name, parameters, message
):
    """The parameter checks run before any data or model is touched, and the
    error names the parameter the user set and its value."""
    import papermill

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "artifacts"))
    output = tmp_path / f"{name}.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="ValueError"):
        papermill.execute_notebook(
            str(REPO / "notebooks" / f"{name}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(REPO / "notebooks"),
            progress_bar=False,
        )
    assert message in _first_error(output)
    assert not (tmp_path / "artifacts").exists() or not any(
        (tmp_path / "artifacts").iterdir()
    ), "nothing was written before the check"


def _run_until_error(tmp_path, name: str, artifacts: Path, **parameters) -> str:
    """Run a notebook with default parameters on ``artifacts``; its first error."""
    import papermill

    output = tmp_path / f"{name}.ipynb"
    with pytest.raises(papermill.PapermillExecutionError):
        papermill.execute_notebook(
            str(REPO / "notebooks" / f"{name}.ipynb"),
            str(output),
            parameters={"artifacts_dir": str(artifacts), **parameters},
            kernel_name="python3",
            cwd=str(REPO / "notebooks"),
            progress_bar=False,
        )
    return _first_error(output)


@pytest.mark.notebooks
def test_a_base_model_from_another_run_is_refused_naming_notebook_02(tmp_path):
    """A base-model record made with other epochs (as a quick run's would be)
    stops notebook 03 at the load, naming the differing value and what to run."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    record = {"parameters": {"epochs": 1, "source_digits": [5, 6, 7, 8, 9]}}
    (artifacts / "base_model.json").write_text(json.dumps(record))
    error = _run_until_error(tmp_path, "03_freeze_and_fine_tune", artifacts)
    assert error.startswith("ArtifactError: base_model.json was made with epochs=1")
    assert "Run notebooks/02_base_training.ipynb first with" in error


@pytest.mark.notebooks
def test_a_missing_base_model_is_refused_naming_notebook_02(tmp_path):
    error = _run_until_error(
        tmp_path, "05_what_transfers", tmp_path / "empty", rerun=True
    )
    assert error.startswith("ArtifactError: base_model.json is missing")
    assert "Run notebooks/02_base_training.ipynb first with" in error


@pytest.mark.notebooks
def test_a_missing_record_stops_the_lesson_saying_what_to_run(tmp_path, monkeypatch):
    """Notebook 04 with rerun = False on a results folder that holds the study's
    base model but no record: it stops at the first load, naming `make study`."""
    import shutil

    from helpers.study import RESULTS_DIR

    results = tmp_path / "results"
    results.mkdir()
    for suffix in (".json", ".keras"):
        shutil.copy(RESULTS_DIR / f"base_model{suffix}", results)
    monkeypatch.setenv("COURSE_RESULTS", str(results))
    error = _run_until_error(tmp_path, "04_transfer_vs_scratch", tmp_path / "art")
    assert error.startswith("StudyError: ")
    assert "tuning.json is missing: run `make study`" in error
    assert "rerun = True" in error


@pytest.mark.notebooks
def test_a_quick_study_interrupted_once_resumes_without_redoing_runs(tmp_path):
    """`make study QUICK=1` into a throw-away folder, stopped with Ctrl-C once
    notebook 04 has recorded its first sweep (pressed again if a notebook's event
    loop swallowed it), then run again: it finishes, and re-runs none of the runs
    recorded before the interruption. It runs on two target digits, one seed and
    one training size (not "all"): a two-class output layer replaces the base
    model's, and each comparison says it has no interval."""
    import signal
    import subprocess
    import sys
    import time

    results = tmp_path / "results"
    env = {**os.environ, "COURSE_RESULTS": str(results), "STUDY_JOBS": "1"}
    command = [
        sys.executable,
        "scripts/run_course.py",
        "--study",
        "--quick",
        "--build-dir",
        str(tmp_path / "build"),
    ]
    sizes = ("sample_sizes", "headline_sizes", "largest_sizes", "base_sizes")
    for name, value in [("target_digits", "[0, 1]"), *((s, "[5]") for s in sizes)]:
        command += ["-p", name, value]
    first = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,  # started as `&` or nohup start it: with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    marker = results / "04_transfer_vs_scratch" / "tuning.json"
    deadline = time.monotonic() + 600
    while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    for _ in range(4):  # Ctrl-C, pressed again if the notebook's event loop
        first.send_signal(signal.SIGINT)  # swallowed it (a race in jupyter_client)
        try:
            printed = first.communicate(timeout=30)[0]
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        first.kill()
        pytest.fail("four Ctrl-C in two minutes did not stop `make study`")
    assert first.returncode == 130, printed[-2000:]
    assert "`make study` resumes: recorded runs are kept" in printed
    assert not (tmp_path / "build").exists(), "no half-made build folder"
    recorded, made = json.loads(marker.read_text())["runs"], marker.read_bytes()
    second = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    printed = second.stdout + second.stderr  # papermill logs cell output to stderr
    assert "reproduction: 1 of 1 runs already recorded" in printed
    assert (
        f"tuning: {len(recorded)} of {len(recorded)} runs already recorded" in printed
    )
    assert marker.read_bytes() == made  # a complete record is not rewritten
    for name in run_course.STUDY:
        assert list((results / name).glob("*.json")), f"{name} recorded nothing"
    summary = json.loads((tmp_path / "build" / "summary.json").read_text())
    assert summary["parameters"]["04_transfer_vs_scratch"]["target_digits"] == [0, 1]
    assert set(summary["feature_extraction_vs_scratch"]) == {"5"}
    for run in summary["runs"]:
        assert run["epochs"] <= 3 and 1 <= run["best_epoch"] <= run["epochs"]
        assert run["test_accuracy"] > 1 / 2  # above chance for two digits
    lesson = tmp_path / "build" / "notebooks" / "04_transfer_vs_scratch.ipynb"
    assert "cannot tell (one pair)" in lesson.read_text()
