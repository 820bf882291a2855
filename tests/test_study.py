"""helpers.study: records of runs (written whole, refused when damaged or made by
other code, data or parameters), resuming, parallel and Dask execution."""

from __future__ import annotations

import ast
import json
import re
import socket
import time

import pytest

from helpers import study
from helpers.experiments import SCRATCH, TRANSFER, Budget, Setting, sweep
from helpers.study import Study, StudyError, read_record, settings

SPECS = [{"x": x, "seed": s} for x in (1, 2, 3) for s in (0, 1)]
CONTEXT = {"base_weights_digest": "abc", "digits": [0, 1]}


@pytest.fixture(autouse=True)
def results(tmp_path, monkeypatch):
    """Records go to a private folder; runs execute in this process."""
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    for name in ("STUDY_JOBS", "STUDY_SCHEDULER", "STUDY_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


class Counting:
    """A cheap run function that counts its calls, and can stop midway."""

    def __init__(self, stop_at: int | None = None):
        self.calls, self.stop_at = [], stop_at

    def __call__(self, spec):
        if self.stop_at is not None and len(self.calls) == self.stop_at:
            raise KeyboardInterrupt
        self.calls.append(spec)
        return {"value": spec["x"] * 10 + spec["seed"], "seconds": 1.0}


def make(run=None, specs=SPECS, context=CONTEXT, parameters=None):
    chosen = Study("nb", parameters or {"xs": [1, 2, 3]}, rerun=True)
    return chosen.runs(
        "part", specs, run or Counting(), context=context, parallel=False
    )


def load(specs=SPECS, context=CONTEXT, parameters=None):
    chosen = Study("nb", parameters or {"xs": [1, 2, 3]}, rerun=False)
    return chosen.runs("part", specs, Counting(), context=context)


def test_a_record_is_loaded_as_it_was_made_in_the_order_asked(results, capsys):
    made = make()
    assert [r["value"] for r in made] == [10, 11, 20, 21, 30, 31]
    capsys.readouterr()
    assert load(SPECS[::-1]) == made[::-1]
    printed = capsys.readouterr().out
    assert printed.startswith("part: 6 runs loaded from ")
    assert re.search(r"nb/part.json \(made \d{4}-\d\d-\d\d, \d+ s, 1 job\)$", printed)
    head = read_record(results / "nb" / "part.json")["provenance"]
    assert head["parameters"] == {"xs": [1, 2, 3]} and head["context"] == CONTEXT
    assert head["code_fingerprint"] == study.code_fingerprint()
    assert {"tensorflow", "keras", "numpy"} <= set(head["packages"])
    assert head["machine"]["cores"] >= 1 and head["settings"]["jobs"] == 1
    assert not (results / "nb" / ".partial" / "part.jsonl").exists()


def test_a_second_study_runs_nothing_already_recorded(results):
    make()
    record = (results / "nb" / "part.json").read_bytes()
    again = Counting()
    make(again)
    assert again.calls == []
    assert (results / "nb" / "part.json").read_bytes() == record  # date kept
    make(Counting(), parameters={"xs": [1, 2, 3], "other": 1})
    assert (results / "nb" / "part.json").read_bytes() != record  # new parameters
    more = Counting()
    make(more, SPECS + [{"x": 4, "seed": 0}])
    assert more.calls == [{"x": 4, "seed": 0}]


def test_a_sweep_asked_in_part_again_keeps_its_whole_record(results):
    """A sweep that grows (a rate grid widened pass by pass) asks for its first
    part again on the next study: the record is kept whole, so that the later
    parts are not run again either."""
    make()
    record = (results / "nb" / "part.json").read_bytes()
    again = Counting()
    assert [r["value"] for r in make(again, SPECS[:2])] == [10, 11]
    assert again.calls == []
    assert (results / "nb" / "part.json").read_bytes() == record


def test_planned_sweeps_run_as_one_record_and_come_back_per_sweep(results):
    plan, run = study.Plan(), Counting()
    for x in (1, 2):  # two sweeps, e.g. one per size with its own rates
        plan.runs("part", [s for s in SPECS if s["x"] == x], run, context=CONTEXT)
    first, second = Study("nb", {}, rerun=True).run_plan("part", plan)
    assert [r["value"] for r in first] == [10, 11]
    assert [r["value"] for r in second] == [20, 21]
    assert len(read_record(results / "nb" / "part.json")["runs"]) == 4
    assert Study("nb", {}, rerun=True).run_plan("part", study.Plan()) == []
    plan.runs("part", SPECS[:1], Counting(), context={"other": 1})
    with pytest.raises(ValueError, match="differ in setting"):
        Study("nb", {}, rerun=True).run_plan("part", plan)


def test_an_interrupted_study_leaves_no_record_and_resumes(results):
    first = Counting(stop_at=4)
    with pytest.raises(KeyboardInterrupt):
        make(first)
    assert not (results / "nb" / "part.json").exists()  # nothing half-written
    log = (results / "nb" / ".partial" / "part.jsonl").read_text().splitlines()
    assert len(log) == 4
    (results / "nb" / ".partial" / "part.jsonl").write_text("\n".join(log) + '\n{"ke')
    second = Counting()
    rows = make(second)
    assert second.calls == SPECS[4:]  # the cut line is ignored, not trusted
    assert [r["value"] for r in rows] == [10, 11, 20, 21, 30, 31]


def test_other_code_is_refused_naming_make_study(monkeypatch):
    make()
    monkeypatch.setattr(study, "code_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(
        StudyError,
        match=r"nb/part.json was made by other code .*code_fingerprint: recorded "
        r"'\w+', here '0123456789abcdef'\).*`make study` .* rerun = True",
    ):
        load()


def test_another_base_model_is_refused_naming_the_digest():
    make()
    with pytest.raises(
        StudyError,
        match="another base model.*base_weights_digest: recorded 'abc', here 'xyz'",
    ):
        load(context={**CONTEXT, "base_weights_digest": "xyz"})


def test_runs_not_recorded_are_refused_naming_the_parameters():
    make()
    with pytest.raises(StudyError, match=r"no run for 2 of the 8 .*xs=\[1, 2, 3\]"):
        load(
            SPECS + [{"x": 4, "seed": 0}, {"x": 4, "seed": 1}],
            parameters={"xs": [1, 2, 3, 4]},
        )


def test_a_missing_record_says_what_to_run(results):
    with pytest.raises(StudyError, match="part.json is missing: run `make study`"):
        load()


@pytest.mark.parametrize("damage", ["truncate", "edit"])
def test_a_damaged_record_is_refused(results, damage):
    make()
    path = results / "nb" / "part.json"
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    else:
        path.write_text(text.replace('"value": 21', '"value": 22'))
    with pytest.raises(StudyError, match="truncated or was edited.*git checkout"):
        load()


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_study_jobs_are_named(monkeypatch, value):
    monkeypatch.setenv("STUDY_JOBS", value)
    with pytest.raises(ValueError, match=f"STUDY_JOBS='{value}'"):
        settings()


def test_bad_scheduler_and_precision_are_named(monkeypatch):
    monkeypatch.setenv("STUDY_SCHEDULER", "nowhere")
    with pytest.raises(ValueError, match="STUDY_SCHEDULER='nowhere'; give host:port"):
        settings()
    monkeypatch.delenv("STUDY_SCHEDULER")
    monkeypatch.setenv("STUDY_PRECISION", "float16")
    with pytest.raises(ValueError, match="STUDY_PRECISION='float16'"):
        settings()


def test_jobs_share_the_cores(monkeypatch):
    monkeypatch.setenv("STUDY_JOBS", "2")
    chosen = settings()
    assert chosen["jobs"] == 2 and chosen["threads_per_run"] >= 1
    assert chosen["precision"] == "float32" and chosen["scheduler"] is None


def test_rerun_must_be_a_bool():
    with pytest.raises(ValueError, match="rerun='yes'"):
        Study("nb", {}, rerun="yes")


# --------------------------------------------------- worker processes and Dask


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_scheduler_nobody_answers_fails_within_30_s_naming_it(monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("STUDY_SCHEDULER", address)
    start = time.perf_counter()
    with pytest.raises(StudyError, match=f"STUDY_SCHEDULER='{address}': no Dask"):
        Study("nb", {}, True).runs("part", SPECS[:1], Counting(), context=CONTEXT)
    assert time.perf_counter() - start < 30


def tiny_sweep(base, small_task, name):
    setting = Setting(base, small_task, "adam", Budget(2, 1, 32), 10)
    return sweep(
        Study("nb", {}, rerun=True),
        name,
        [TRANSFER, SCRATCH],
        setting,
        sizes=[5],
        seeds=[0, 1],
        rates={"transfer": 1e-3, "scratch": 1e-3},
    )


@pytest.fixture(scope="module")
def base():
    from helpers.models import build_model
    from helpers.training import set_seed

    set_seed(0)
    return build_model(5)


@pytest.mark.slow
def test_two_workers_and_a_dask_cluster_make_the_same_runs(
    base, small_task, monkeypatch, results
):
    """The same tiny grid through joblib's workers and through a two-worker Dask
    cluster: the same runs, recorded with the scheduler in their provenance.
    Worker processes repeat exactly (two tries, same rows); on Dask a run can
    differ slightly from try to try (the README says why), so there the rows are
    compared by their mean test accuracy."""
    from distributed import LocalCluster

    monkeypatch.setenv("STUDY_JOBS", "2")
    local = tiny_sweep(base, small_task, "local")
    assert _no_seconds(tiny_sweep(base, small_task, "again")) == _no_seconds(local)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")  # as the local workers
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "1")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        monkeypatch.setenv("STUDY_SCHEDULER", cluster.scheduler_address)
        remote = tiny_sweep(base, small_task, "dask")
    key = [(r["method"], r["seed"], r["n_per_class"]) for r in local]
    assert key == [(r["method"], r["seed"], r["n_per_class"]) for r in remote]
    assert all(r["test_accuracy"] > 0.5 for r in local + remote)  # chance: 0.2
    mean = [sum(r["test_accuracy"] for r in rows) / 4 for rows in (local, remote)]
    assert abs(mean[0] - mean[1]) < 0.05
    head = json.loads((results / "nb" / "dask.json").read_text())["provenance"]
    assert head["settings"]["scheduler"] == cluster.scheduler_address


def _no_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize(
    ("source", "as_311"),
    [  # what Python 3.11's ast.unparse writes; 3.12 and later quote the first otherwise
        (
            """f"n={n} seed={spec['seed']} rate {spec['rate']:g}\"""",
            """f"n={n} seed={spec['seed']} rate {spec['rate']:g}\"""",
        ),
        ('f"{x!r:>{w}} {{braces}}\\n"', "f'{x!r:>{w}} {{braces}}\\n'"),
        ("f'{ {1: 2}[1]}'", "f'{ {1: 2}[1]}'"),
        ("""f"it's \\"{a}\\"\"""", """f'''it's "{a}"'''"""),
        ("""f"{'a' if x else 'b'}\"""", """f"{('a' if x else 'b')}\""""),
        ("""f"{f'{x}'}\"""", """f"{f'{x}'}\""""),
        ("""f"{x:'>10}\"""", """f"{x:'>10}\""""),  # 3.13 writes \\' in the spec
        ("""f"a\\\\'b{x}\"""", """f"a\\\\'b{x}\""""),  # a backslash, then a quote
    ],
)
def test_the_fingerprint_writes_f_strings_as_python_3_11_on_every_python(
    source, as_311
):
    """The same code has the same fingerprint on 3.11, 3.12 and 3.13, so the
    records made on one load on the others."""
    tree = study._SameFString().visit(ast.parse(source))
    assert ast.unparse(tree) == as_311


def test_the_same_model_kept_again_leaves_its_files_as_they_were(results, base):
    """`make study` re-trains 02's base model; the same weights and parameters
    must not rewrite the committed files (their timings would change)."""
    study = Study("02_base_training", {}, rerun=True)
    study.keep_model(base, {"parameters": {"epochs": 5}, "seconds": [1.0]}, "base")
    before = {p.name: p.read_bytes() for p in results.iterdir()}
    assert sorted(before) == ["base.json", "base.keras"]
    study.keep_model(base, {"parameters": {"epochs": 5}, "seconds": [2.0]}, "base")
    assert {p.name: p.read_bytes() for p in results.iterdir()} == before
    study.keep_model(base, {"parameters": {"epochs": 6}, "seconds": [2.0]}, "base")
    assert json.loads((results / "base.json").read_text())["parameters"] == {
        "epochs": 6
    }
