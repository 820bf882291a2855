"""Run the course notebooks headless with papermill (`make run`, `make notebooks`).

`make run`: the notebooks run into a fresh folder (executed copies, artifacts,
figures, summary.json) that replaces build/ only when all have finished, so an
interrupted run leaves the previous results whole.

`--in-place` (`make notebooks`): re-execute the committed notebooks with their
default parameters; each is replaced, atomically, only when its run succeeded.

`--study` (`make study`): the notebooks with recorded runs, into build/study/ with
`rerun = True`, recording in results/ (or $COURSE_RESULTS); runs recorded by the
same code are kept, so an interrupted study resumes. The README's figure: docs/.

The notebooks find their artifacts folder through $COURSE_ARTIFACTS (see
helpers.reporting): no path of this machine is written into a notebook.

    python scripts/run_course.py [--quick] [-p NAME VALUE ...]
    python scripts/run_course.py --in-place [--from NOTEBOOK]
    python scripts/run_course.py --study [--quick]
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import joblib
import nbformat
import papermill

from helpers.reporting import save_json, write_atomically

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = [
    "01_data_split",
    "02_base_training",
    "03_freeze_and_fine_tune",
    "04_transfer_vs_scratch",
    "05_what_transfers",
    "06_your_own_data",
]
# Tiny parameters, every run made live (rerun = True): `make study QUICK=1`, and
# `make run QUICK=1` with other parameters (the study holds no runs for them).
# They check that every cell runs, not what the full run shows.
TINY_PARAMETERS = {
    "epochs": 1,
    "max_train_samples": 2000,
    "reproduction_seeds": [0],
    "fine_tune_epochs": 1,
    "equivalence_per_class": 20,
    "equivalence_seeds": [0, 1],
    "sample_sizes": [5, None],
    "seeds": [0],  # one pair: verdicts say "no interval"; nbval covers more
    "rate_grid": [0.001],
    "tuning_size": 5,
    **dict.fromkeys(("headline_sizes", "largest_sizes", "base_sizes"), [None]),
    "tuning_sizes": [5],
    "tuning_seeds": [100],
    "max_epochs": 3,
    "patience": 1,
    "validation_per_class": 20,
    "head_sizes": [5],
    "fine_tune_rates": [0.0001],
    "conv_rate_grid": [0.001],
    "head_rate_grid": [0.001],
    "fine_tune_sizes": [5],
    "ten_digit_epochs": 1,
    "batchnorm_seeds": [0],
    "rerun": True,
}
# `make run QUICK=1`: the lesson in about a minute. 02 and 03 train tiny models (no
# reproduction: the study holds none for them); 04-06 load one seed of the study's
# records, shorten their live runs and read its base model: three LANES, side by side.
TINY_MODELS = {"epochs": 1, "max_train_samples": 1000}
SEED_0 = {"seeds": [0], "live_max_epochs": 1}  # of the records; live runs cut short
QUICK_PARAMETERS = {
    "02_base_training": {**TINY_MODELS, "reproduction_seeds": [0]},
    "03_freeze_and_fine_tune": {
        **TINY_MODELS,
        "fine_tune_epochs": 1,
        "equivalence_per_class": 20,
        "equivalence_seeds": [0],
    },
    # 5 per digit: its seed-0 feature extraction is the slowest of these runs, the
    # one the study trained on to the cap (section 4 asks for that run's record)
    "04_transfer_vs_scratch": {**SEED_0, "sample_sizes": [1, 5, 10], "head_sizes": [10],
                               "headline_sizes": [1, 10], "largest_sizes": [],
                               "base_sizes": [10]},
    "05_what_transfers": {**SEED_0, "sample_sizes": [10]},
    "06_your_own_data": {**SEED_0, "sample_sizes": [1, None], "batchnorm_seeds": [0]},
}
LANES = [NOTEBOOKS[1:3], [NOTEBOOKS[0], *NOTEBOOKS[3:5]], NOTEBOOKS[5:]]
# The notebooks whose runs are recorded in results/ (`make study`).
STUDY = [NOTEBOOKS[1], *NOTEBOOKS[3:]]
# The README's headline figure: the output of the cell that draws it.
HEADLINE = ("04_transfer_vs_scratch", "error_curve(", "docs/transfer_vs_scratch.png")


def parse_value(text: str):
    """A ``-p`` value: a Python literal (5, 0.1, [1, 2], None), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(name: str, source: Path = NOTEBOOK_DIR) -> set[str]:
    """Names defined in the notebook's cell tagged ``parameters``."""
    return set(papermill.inspect_notebook(str(source / f"{name}.ipynb")))


def strip_run_metadata(path: Path) -> None:
    """Drop papermill's timings so that a re-run changes only real outputs."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def execute(
    name: str,
    target: Path,
    parameters: dict,
    artifacts: Path,
    source: Path = NOTEBOOK_DIR,
) -> float:
    """Run one notebook of ``source`` with papermill, in the notebooks folder;
    return the seconds it took."""
    accepted = notebook_parameters(name, source)
    given = {k: v for k, v in parameters.items() if k in accepted}
    print(f"\n=== {name}  {given or '(default parameters)'}", flush=True)
    os.environ["COURSE_ARTIFACTS"] = str(artifacts)  # read by the kernel it starts
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source / f"{name}.ipynb"),
        str(target),
        parameters=given,
        kernel_name="python3",
        cwd=str(NOTEBOOK_DIR),
        progress_bar=False,
        log_output=True,
    )
    strip_run_metadata(target)
    return time.perf_counter() - start


def pngs(notebook: Path, marker: str = "") -> list[bytes]:
    """The PNG outputs of a notebook (of the cells whose source holds ``marker``)."""
    nb = nbformat.read(notebook, as_version=4)
    return [
        base64.b64decode(output["data"]["image/png"])
        for cell in nb.cells
        if cell.cell_type == "code" and marker in cell.source
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


RUN_KEYS = "method n_per_class seed epochs best_epoch hit_cap test_accuracy".split()


def named(value):
    """The course's name for a method in what a reader sees (records say "transfer")."""
    if isinstance(value, dict | list):
        return ({k: named(v) for k, v in value.items()} if isinstance(value, dict)
                else [named(v) for v in value])
    is_text = isinstance(value, str)
    return value.replace("transfer", "feature extraction") if is_text else value


def summarize(artifacts: Path, parameters: dict, seconds: dict) -> dict:
    """The run's headline numbers, read from the artifacts the notebooks wrote."""

    def read(name: str) -> dict:  # {} for a notebook the run left out (the study)
        path = artifacts / name
        return json.loads(path.read_text()) if path.is_file() else {}

    base, transfer = read("base_model.json"), read("transfer.json")
    compared = read("transfer_vs_scratch.json")
    sizes = {}
    for row in compared.get("comparison", []):
        size = "all" if row["n_per_class"] is None else str(row["n_per_class"])
        sizes[size] = {
            "feature_extraction_error": 1 - row["transfer"],
            "scratch_error": 1 - row["scratch"],
            "difference": row["mean"],
            "interval_95": [row["low"], row["high"]],
            **{k: row.get(k) for k in ("verdict", "holm_verdict", "p", "holm_p")},
        }
    return {
        "parameters": parameters,
        "notebook_seconds": seconds,
        "your_own_data": read("your_own_data.json").get("comparisons"),
        "base_test_accuracy": base.get("test_accuracy"),
        **{f"{k}_test_accuracy": transfer.get(k, {}).get("test_accuracy")
           for k in ("feature_extraction", "fine_tuning")},
        "feature_extraction_vs_scratch": named(sizes),
        "second_split": named(compared.get("second_split")),  # 04's, another split
        "runs": [{k: named(r[k]) for k in RUN_KEYS} for r in compared.get("runs", [])],
    }


def run(
    parameters: dict[str, dict],
    build: Path,
    source: Path = NOTEBOOK_DIR,
    lanes: list[list[str]] = (NOTEBOOKS,),
) -> dict:
    """`make run`: every notebook, with its own ``parameters``, into a fresh folder,
    which then replaces build/. The notebooks of a lane run in order; the lanes,
    side by side (a thread each, waiting on its kernel)."""
    build.parent.mkdir(parents=True, exist_ok=True)
    for stale in build.parent.glob(f".{build.name}-next-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run
    staging = Path(tempfile.mkdtemp(prefix=f".{build.name}-next-", dir=build.parent))
    try:
        staging.chmod(0o755)
        folders = {n: staging / n for n in ("notebooks", "artifacts", "figures")}
        for folder in folders.values():
            folder.mkdir()
        seconds = {}

        def run_lane(names: list[str]) -> None:
            for name in names:
                executed = folders["notebooks"] / f"{name}.ipynb"
                given = parameters.get(name, {})
                try:
                    seconds[name] = round(
                        execute(name, executed, given, folders["artifacts"], source))
                except papermill.PapermillExecutionError as error:
                    if given.get("rerun") or name not in STUDY or error.ename not in (
                            "StudyError", "ArtifactError"):
                        raise
                    print(f"\n{name} and the notebooks after it were skipped: the "
                          "study holds no runs for these parameters. Add `-p rerun "
                          "True` to make them (hours), or QUICK=1 for tiny ones.",
                          flush=True)
                    return
                for i, png in enumerate(pngs(executed), start=1):
                    (folders["figures"] / f"{name}_fig{i:02d}.png").write_bytes(png)
                print(f"    {name} done in {seconds[name]} s", flush=True)

        joblib.Parallel(n_jobs=len(lanes), backend="threading")(
            joblib.delayed(run_lane)(lane) for lane in lanes
        )
        seconds = {name: seconds[name] for name in NOTEBOOKS if name in seconds}
        summary = summarize(folders["artifacts"], parameters, seconds)
        save_json(summary, staging / "summary.json")
        old = build.with_name(f".{build.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if build.exists():
            build.rename(old)
        staging.rename(build)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print_summary(summary, build)
    return summary


def print_summary(summary: dict, build: Path) -> None:
    if summary["feature_extraction_vs_scratch"]:
        print("\nTest error, feature extraction vs scratch (mean over seeds), Holm")
    for size, row in summary["feature_extraction_vs_scratch"].items():
        low, high = row["interval_95"]
        interval = "" if low is None else f" [{100 * low:+.2f}, {100 * high:+.2f}]"
        extraction = 100 * row["feature_extraction_error"]
        print(
            f"  {size:>4} per digit: feature extraction {extraction:5.2f}%  "
            f"scratch {100 * row['scratch_error']:5.2f}%  "
            f"{row['holm_verdict']}{interval}"
        )
    if summary.get("your_own_data"):
        print("\nNotebook 06, the UCI digits: paired differences in test accuracy")
        for row in summary["your_own_data"]:
            print(
                f"  {row['comparison']:>28}, n={row['n']}: "
                f"{100 * row['mean']:+.2f} points, {row['holm_verdict']} (Holm)"
            )
    total = sum(summary["notebook_seconds"].values())
    print(
        f"\nAll {len(summary['notebook_seconds'])} notebooks ran in {total} s: "
        f"{summary['notebook_seconds']}"
    )
    shown = build.relative_to(REPO) if build.is_relative_to(REPO) else build
    print(f"Results in {shown}/")


def run_in_place(names: list[str]) -> None:
    """`make notebooks`: re-execute committed notebooks with default parameters.

    Each notebook is replaced only when its run succeeded, by an atomic rename;
    the artifacts go to the default folder (artifacts/, or $COURSE_ARTIFACTS).
    """
    from helpers.reporting import artifacts_path

    artifacts = artifacts_path(None)
    for name in names:
        source = NOTEBOOK_DIR / f"{name}.ipynb"
        with tempfile.TemporaryDirectory() as tmp:
            executed = Path(tmp) / source.name
            seconds = execute(name, executed, {}, artifacts)
            write_atomically(
                source, lambda path, done=executed: shutil.copyfile(done, path)
            )
        print(f"    {source.relative_to(REPO)} re-executed in {seconds:.0f} s")
        if name == HEADLINE[0]:
            figure = pngs(source, HEADLINE[1])[0]
            write_atomically(
                REPO / HEADLINE[2], lambda path, png=figure: path.write_bytes(png)
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny parameters")
    parser.add_argument("--in-place", action="store_true",
                        help="re-execute the committed notebooks (make notebooks)")
    parser.add_argument("--study", action="store_true", help="make the study")
    parser.add_argument("--build-dir", default=None)
    parser.add_argument("--source", default=str(NOTEBOOK_DIR),
                        help="folder of the notebooks to run (e.g. build/student)")
    parser.add_argument("--from", dest="first", choices=NOTEBOOKS, default=NOTEBOOKS[0],
                        help="with --in-place: start at this notebook")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a notebook parameter")
    args = parser.parse_args(argv)
    # papermill logs every cell's output (the sweeps' progress lines among them)
    # at INFO: show it, so that a long run is never silent.
    logging.basicConfig(format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.INFO)

    if args.in_place:
        if args.quick or args.parameter:
            parser.error(
                "--in-place runs the default parameters only; "
                "it cannot be combined with --quick or -p"
            )
        try:
            run_in_place(NOTEBOOKS[NOTEBOOKS.index(args.first) :])
        except KeyboardInterrupt:
            print(
                "\nInterrupted: every notebook is either re-executed or as it was.",
                file=sys.stderr,
            )
            return 130
        return 0
    known = set().union(*(notebook_parameters(name) for name in NOTEBOOKS))
    known.discard("artifacts_dir")
    unknown = sorted({name for name, _ in args.parameter} - known)
    if unknown:
        parser.error(
            f"unknown parameter {', '.join(unknown)}; the notebooks take: "
            f"{', '.join(sorted(known))}"
        )
    given = {name: parse_value(value) for name, value in args.parameter}
    lanes = [STUDY if args.study else NOTEBOOKS]
    if args.quick and not given and not args.study:  # the study's records, loaded
        parameters, lanes = QUICK_PARAMETERS, LANES
    else:
        shared = {**(TINY_PARAMETERS if args.quick else {}), **given}
        parameters = {name: dict(shared) for name in NOTEBOOKS}
    default_build = REPO / "build" / ("study" if args.study else "")
    build = Path(args.build_dir or default_build).resolve()
    if args.study:
        from helpers.study import RESULTS_DIR, minutes, settings

        chosen = settings()  # a bad STUDY_* value stops here, named
        # A quick study never writes into the committed results/
        where = REPO / "build" / "study-quick-results" if args.quick else RESULTS_DIR
        results = Path(os.environ.setdefault("COURSE_RESULTS", str(where)))
        os.environ["COURSE_STUDY"] = "1"  # claims are reported, not raised
        for name in STUDY:
            parameters[name]["rerun"] = True
        print(
            f"The study: {', '.join(STUDY)} with rerun = True, records in "
            f"{results}; {chosen['jobs']} job(s)"
            + (f" on {chosen['scheduler']}" if chosen["scheduler"] else "")
        )
    start = time.perf_counter()
    try:
        run(parameters, build, Path(args.source).resolve(), lanes)
        if args.study and not args.quick:
            figure = pngs(build / "notebooks" / f"{HEADLINE[0]}.ipynb", HEADLINE[1])
            write_atomically(REPO / HEADLINE[2], lambda p: p.write_bytes(figure[0]))
        if args.study:
            print(f"The study took {minutes(time.perf_counter() - start)}")
    except KeyboardInterrupt:
        again = " `make study` resumes: recorded runs are kept." if args.study else ""
        print(
            f"\nInterrupted: {build.name}/ still holds the previous run, untouched."
            + again,
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    # Started in the background (`make study &`, or under nohup), a process inherits an
    # ignored SIGINT and `kill -INT` would do nothing: Ctrl-C always stops a run here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
