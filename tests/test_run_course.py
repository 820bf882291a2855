"""scripts/run_course.py without running a notebook: parameters, and what an
interrupted `make run` or `make notebooks` leaves behind."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import papermill
import pytest

from scripts import run_course

REPO = Path(run_course.__file__).resolve().parents[1]


def test_a_misspelled_parameter_is_refused_with_the_valid_names(capsys):
    with pytest.raises(SystemExit, match="2"):
        run_course.main(["-p", "epoch", "1"])
    error = capsys.readouterr().err
    assert "unknown parameter epoch" in error
    assert "epochs" in error and "source_digits" in error


@pytest.mark.parametrize("extra", [["--quick"], ["-p", "epochs", "1"]])
def test_in_place_refuses_quick_and_parameters(extra, capsys):
    with pytest.raises(SystemExit, match="2"):
        run_course.main(["--in-place", *extra])
    assert "cannot be combined with --quick or -p" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("0.1", 0.1), ("[0, 1]", [0, 1]), ("None", None), ("adam", "adam")],
)
def test_parameter_values_are_python_literals_or_text(text, value):
    assert run_course.parse_value(text) == value


@pytest.fixture
def fake_notebooks(monkeypatch):
    """`execute` writes a tiny notebook and the artifacts the summary reads, and
    fails on the notebook named in ``fail_at`` (a list, so tests can set it)."""
    fail_at: list[str] = []

    def execute(name, target, parameters, artifacts, source=None):
        if name in fail_at:
            raise KeyboardInterrupt(f"interrupted during {name}")
        target.write_text(
            json.dumps(
                {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            )
        )
        (artifacts / "base_model.json").write_text(json.dumps({"test_accuracy": 0.99}))
        (artifacts / "transfer.json").write_text(
            json.dumps(
                {
                    "feature_extraction": {"test_accuracy": 0.99},
                    "fine_tuning": {"test_accuracy": 0.99},
                }
            )
        )
        (artifacts / "transfer_vs_scratch.json").write_text(
            json.dumps(
                {
                    "comparison": [
                        {
                            "n_per_class": 5,
                            "transfer": 0.9,
                            "scratch": 0.8,
                            "mean": 0.1,
                            "low": 0.05,
                            "high": 0.15,
                            "verdict": "transfer better",
                        }
                    ],
                    "runs": [],
                }
            )
        )
        return 0.0

    monkeypatch.setattr(run_course, "execute", execute)
    monkeypatch.setattr(run_course, "pngs", lambda notebook, marker="": [])
    return fail_at


def test_a_run_replaces_build_only_when_it_finished(tmp_path, fake_notebooks, capsys):
    build = tmp_path / "build"
    build.mkdir()
    (build / "summary.json").write_text("previous run")
    fake_notebooks.append(run_course.NOTEBOOKS[2])
    assert run_course.main(["--build-dir", str(build)]) == 130
    assert "build/ still holds the previous run" in capsys.readouterr().err
    assert (build / "summary.json").read_text() == "previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["build"], "no staging folder left"

    fake_notebooks.clear()
    assert run_course.main(["--build-dir", str(build)]) == 0
    summary = json.loads((build / "summary.json").read_text())
    verdict = summary["feature_extraction_vs_scratch"]["5"]["verdict"]
    assert verdict == "feature extraction better"
    notebooks = sorted(p.stem for p in (build / "notebooks").iterdir())
    assert notebooks == run_course.NOTEBOOKS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_an_interrupted_in_place_run_leaves_each_notebook_old_or_new(
    tmp_path, monkeypatch, fake_notebooks
):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in run_course.NOTEBOOKS:
        (folder / f"{name}.ipynb").write_text("old")
    monkeypatch.setattr(run_course, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(run_course, "REPO", tmp_path)
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "artifacts"))
    fake_notebooks.append(run_course.NOTEBOOKS[1])
    assert run_course.main(["--in-place"]) == 130
    texts = [(folder / f"{n}.ipynb").read_text() for n in run_course.NOTEBOOKS]
    assert texts[0] != "old" and json.loads(texts[0])["nbformat"] == 4
    assert texts[1:] == ["old"] * (len(texts) - 1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.ipynb" for n in run_course.NOTEBOOKS
    ), "no temporary file left beside the notebooks"


def test_a_quick_lesson_asks_04_to_06_only_for_recorded_runs():
    """`make run QUICK=1` loads 04-06's runs from results/: each of its values is
    a part of the notebook's default (a subset of its sizes and seeds), except
    the cap on the live runs."""
    for name in run_course.NOTEBOOKS[3:]:
        defaults = papermill.inspect_notebook(str(REPO / "notebooks" / f"{name}.ipynb"))
        for key, value in run_course.QUICK_PARAMETERS[name].items():
            if key != "live_max_epochs":
                default = ast.literal_eval(defaults[key]["default"])
                assert set(value) <= set(default), (name, key, value, default)


@pytest.mark.parametrize(
    ("argv", "lanes"),
    [(["--quick"], 3), (["--quick", "-p", "seeds", "[0]"], 1)],
)
def test_quick_runs_lanes_of_recorded_runs_or_tiny_live_runs_in_order(
    argv, lanes, tmp_path, fake_notebooks, monkeypatch
):
    """Alone, --quick gives each notebook its own parameters and runs three lanes
    side by side (02 → 03, 01 → 04 → 05, 06); with other parameters the study has
    no runs for, every notebook gets the tiny live parameters, one after the other."""
    given, together = {}, threading.Barrier(lanes, timeout=30)

    def record(name, target, parameters, artifacts, source=None):
        given[name] = parameters
        if name in {lane[0] for lane in run_course.LANES}:
            together.wait()  # the lanes' first notebooks run at the same time
        return execute(name, target, parameters, artifacts, source)

    execute = run_course.execute
    monkeypatch.setattr(run_course, "execute", record)
    assert run_course.main([*argv, "--build-dir", str(tmp_path / "build")]) == 0
    assert sorted(given) == run_course.NOTEBOOKS
    if lanes == 3:
        assert given == {n: run_course.QUICK_PARAMETERS.get(n, {}) for n in given}
    else:
        assert all(
            p == {**run_course.TINY_PARAMETERS, "seeds": [0]} for p in given.values()
        )


def test_other_parameters_without_records_skip_the_study_notebooks(
        monkeypatch, tmp_path, capsys):
    """`make run PARAMS=...` on parameters the study never recorded runs 01-03 and
    says why 04-06 did not run, and what would run them."""
    def execute(name, target, parameters, artifacts, source=None):
        if name == "04_transfer_vs_scratch":
            raise papermill.PapermillExecutionError(
                0, 1, "", "StudyError", "no run for these parameters", [])
        assert name < "04", f"{name} ran after 04 was skipped"
        target.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                      "nbformat_minor": 5}))
        return 1.0

    monkeypatch.setattr(run_course, "execute", execute)
    build = tmp_path / "build"
    argv = ["--build-dir", str(build), "-p", "target_digits", "[0, 2, 4, 6, 8]"]
    assert run_course.main(argv) == 0
    out = capsys.readouterr().out
    assert "04_transfer_vs_scratch and the notebooks after it were skipped" in out
    assert "-p rerun True" in out
    summary = json.loads((build / "summary.json").read_text())
    assert list(summary["notebook_seconds"]) == run_course.NOTEBOOKS[:3]
    assert summary["feature_extraction_vs_scratch"] == {}
    def failing(name, *args, **kwargs):
        raise papermill.PapermillExecutionError(0, 1, "", "AssertionError", "claim", [])

    monkeypatch.setattr(run_course, "execute", failing)
    with pytest.raises(papermill.PapermillExecutionError):  # any other failure stops
        run_course.main(argv)
