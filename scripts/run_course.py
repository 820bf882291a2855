"""Run the course notebooks 01-05 headless with papermill (`make run`).

Default: executed copies go to build/notebooks/, artifacts to build/artifacts/,
figures to build/figures/, and a summary to build/summary.json; the committed
notebooks are never modified.  `--in-place` (`make notebooks`) instead
re-executes the committed notebooks with their default parameters and replaces
them only when the run succeeded.

    python scripts/run_course.py [--quick] [-p NAME VALUE ...]
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = [
    "01_data_split",
    "02_base_training",
    "03_freeze_and_fine_tune",
    "04_transfer_vs_scratch",
    "05_what_transfers",
]
# Tiny parameters for `make run QUICK=1` and the smoke tests: about a minute.
QUICK_PARAMETERS = {
    "epochs": 1,
    "max_train_samples": 2000,
    "sample_sizes": [5, None],
    "seeds": [0],
    "min_steps": 20,
    "reuse_head_sizes": [5],
    "equivalence_per_class": 20,
    "equivalence_seeds": [0, 1],
}


SWEEP_KEYS = ("n_per_class", "method", "seed", "test_accuracy")


def parse_value(text: str):
    """A papermill ``-p`` value: a Python literal if it is one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(path: Path) -> set[str]:
    """Names defined in the notebook's cell tagged ``parameters``."""
    return set(papermill.inspect_notebook(str(path)))


def strip_run_metadata(path: Path) -> None:
    """Drop papermill's timings and paths so a re-run changes only real outputs."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def export_figures(notebook: Path, folder: Path) -> list[Path]:
    """Write every PNG output of an executed notebook to ``folder``."""
    nb = nbformat.read(notebook, as_version=4)
    written = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                path = folder / f"{notebook.stem}_fig{len(written) + 1:02d}.png"
                path.write_bytes(base64.b64decode(png))
                written.append(path)
    return written


def execute(source: Path, target: Path, parameters: dict) -> float:
    """Run one notebook with papermill, from the notebooks folder; returns seconds."""
    accepted = notebook_parameters(source)
    given = {k: v for k, v in parameters.items() if k in accepted}
    print(f"\n=== {source.name}  {given or '(default parameters)'}", flush=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source),
        str(target),
        parameters=given,
        kernel_name="python3",
        cwd=str(NOTEBOOK_DIR),
        progress_bar=True,
        log_output=False,
    )
    return time.perf_counter() - start


def summarize(artifacts: Path, parameters: dict, seconds: dict) -> dict:
    """The run's headline numbers, from the artifacts the notebooks wrote."""
    base = json.loads((artifacts / "base_metrics.json").read_text())
    transfer = json.loads((artifacts / "transfer_metrics.json").read_text())
    scratch = json.loads((artifacts / "scratch_metrics.json").read_text())
    depth = json.loads((artifacts / "what_transfers.json").read_text())

    def headline(record: dict) -> dict:
        return {
            "digits": record["digits"],
            "test_accuracy": record["test_accuracy"],
            "seconds_per_epoch": record["seconds_per_epoch"],
            "epochs": record["epochs"],
        }

    return {
        "parameters": parameters,
        "base": headline(base["run"]),
        "transfer": headline(transfer["run"]),
        "scratch": headline(scratch["run"]),
        "sample_efficiency": [
            {key: row[key] for key in SWEEP_KEYS}
            for row in scratch["sample_efficiency"]
        ],
        "what_transfers": [
            {key: row[key] for key in ("method", "n_per_class", "runs", "mean", "sd")}
            for row in depth["freeze_depth_summary"]
        ],
        "notebook_seconds": seconds,
        "versions": base["versions"],
    }


def print_summary(summary: dict) -> None:
    from statistics import median

    print("\nResult (test accuracy on each task's own test digits)")
    print(f"  {'model':<9}{'digits':<18}{'accuracy':>9}{'s/epoch (median)':>19}")
    for name in ("base", "transfer", "scratch"):
        row = summary[name]
        print(
            f"  {name:<9}{str(row['digits']):<18}{row['test_accuracy']:>9.4f}"
            f"{median(row['seconds_per_epoch']):>19.1f}"
        )
    rows = summary["sample_efficiency"]
    sizes = [r["n_per_class"] for r in rows]
    finite = [n for n in sizes if n is not None]
    ends = [min(finite)] if finite else []
    ends.append(None if None in sizes else max(finite))
    print("\nTransfer vs scratch, mean test accuracy over seeds")
    for n in dict.fromkeys(ends):
        means = {}
        for method in ("transfer", "scratch"):
            accs = [
                r["test_accuracy"]
                for r in rows
                if r["n_per_class"] == n and r["method"] == method
            ]
            means[method] = sum(accs) / len(accs)
        label = "all" if n is None else n
        print(
            f"  {label!s:>5} per class: transfer {means['transfer']:.4f}"
            f"  scratch {means['scratch']:.4f}"
        )
    depth = summary["what_transfers"]
    sizes = list(dict.fromkeys(r["n_per_class"] for r in depth))
    means = {(r["method"], r["n_per_class"]): r["mean"] for r in depth}
    print("\nWhat transfers (notebook 05), mean test accuracy over seeds")
    print("  " + " " * 13 + "".join(f"{'all' if n is None else n:>9}" for n in sizes))
    for method in dict.fromkeys(r["method"] for r in depth):
        print(f"  {method:<13}" + "".join(f"{means[(method, n)]:>9.4f}" for n in sizes))


# The README's headline figure: the output of the cell that draws this figure.
HEADLINE = (
    "04_transfer_vs_scratch",
    "plot_sample_efficiency(",
    "sample_efficiency.png",
)


def save_cell_figure(notebook: Path, marker: str, path: Path) -> None:
    """Write the PNG output of the first cell whose source contains ``marker``."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and marker in cell.source:
            for output in cell.outputs:
                if "image/png" in output.get("data", {}):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(base64.b64decode(output.data["image/png"]))
                    return
    raise ValueError(f"{notebook.name}: no figure drawn by a cell with {marker!r}")


def run_in_place(names: list[str]) -> None:
    """`make notebooks`: re-execute the committed notebooks with default parameters.

    Each notebook is replaced only when its run succeeded; the README's headline
    figure (docs/) is refreshed from the new run of notebook 04.
    """
    for name in names:
        source = NOTEBOOK_DIR / f"{name}.ipynb"
        with tempfile.TemporaryDirectory() as tmp:
            executed = Path(tmp) / source.name
            seconds = execute(source, executed, {})
            strip_run_metadata(executed)
            shutil.copyfile(executed, source)
        print(f"    {source.relative_to(REPO)} re-executed in {seconds:.0f} s")
        if name == HEADLINE[0]:
            save_cell_figure(source, HEADLINE[1], REPO / "docs" / HEADLINE[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny parameters")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="re-execute the committed notebooks (make notebooks)",
    )
    parser.add_argument("--build-dir", default=str(REPO / "build"))
    parser.add_argument(
        "--from",
        dest="first",
        choices=NOTEBOOKS,
        default=NOTEBOOKS[0],
        help="with --in-place: start at this notebook (the earlier "
        "ones' artifacts must exist)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="papermill parameter",
    )
    args = parser.parse_args(argv)

    if args.in_place:
        run_in_place(NOTEBOOKS[NOTEBOOKS.index(args.first) :])
        return 0

    build = Path(args.build_dir).resolve()
    artifacts = build / "artifacts"
    folders = {name: build / name for name in ("notebooks", "figures")}
    for folder in (artifacts, *folders.values()):
        if folder.exists():
            shutil.rmtree(folder)  # no stale results from an earlier run
        folder.mkdir(parents=True)

    parameters = dict(QUICK_PARAMETERS) if args.quick else {}
    parameters.update({name: parse_value(value) for name, value in args.parameter})
    parameters["artifacts_dir"] = str(artifacts)

    seconds = {}
    for name in NOTEBOOKS:
        executed = folders["notebooks"] / f"{name}.ipynb"
        seconds[name] = round(
            execute(NOTEBOOK_DIR / f"{name}.ipynb", executed, parameters), 1
        )
        figures = export_figures(executed, folders["figures"])
        print(f"    done in {seconds[name]:.0f} s; {len(figures)} figures", flush=True)

    shown = {k: v for k, v in parameters.items() if k != "artifacts_dir"}
    summary = summarize(artifacts, shown, seconds)
    (build / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)
    print(
        f"\nAll {len(NOTEBOOKS)} notebooks ran in {sum(seconds.values()):.0f} s."
        f"\nExecuted notebooks: {folders['notebooks']}"
        f"\nFigures: {folders['figures']}\nSummary: {build / 'summary.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
