"""Write the student edition of the course notebooks (`make student`).

The student edition is every NN_*.ipynb of the source folder (default: the
committed notebooks/) with the exercise solutions removed and all outputs
cleared, plus a one-paragraph README.md.  Cells tagged ``solution`` are removed
(nbconvert's TagRemovePreprocessor, with papermill's ``injected-parameters``);
nbgrader-style ``### BEGIN/END SOLUTION`` regions become ``...`` starters;
outputs, execution counts and run metadata are cleared.  Every notebook is
validated with nbformat before it is written.

The edition is built in a temporary folder next to <out> and replaces <out> as
a whole only when every notebook succeeded, so a failed run leaves an earlier
edition untouched.

    python scripts/make_student.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

from helpers.exercises import starter

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "notebooks"
DEFAULT_OUT = REPO / "build" / "student"

SOLUTION_TAG = "solution"
# Cells that never reach a student: the solutions, and the parameters papermill
# injects when the source is an executed run (build/notebooks/).
REMOVED_TAGS = {SOLUTION_TAG, "injected-parameters"}
# Leftovers of an execution: papermill's record, JupyterLab's and nbextensions'
# run times, widget state.
NOTEBOOK_METADATA_DROPPED = ("papermill", "widgets")
CELL_METADATA_DROPPED = ("papermill", "execution", "ExecuteTime")

README = """\
# Transfer learning with MNIST: student edition

These are the course notebooks 01 to 06 with the worked solutions of the
exercises removed and every output cleared: each result appears only when you
run the cell, and each `...` in an exercise is yours to fill. The full notebooks,
solutions and outputs included, are in `notebooks/` of the course repository;
`make student` writes this edition again from them.  Open these notebooks in
JupyterLab with the course's environment, e.g. from the repository root
`.venv/bin/jupyter lab --notebook-dir=build/student` (`make lab` opens the full
notebooks in the same way), and run them in order, 01 → 06: each notebook reads
what the previous one saved in `artifacts/`.
"""


class StudentError(Exception):
    """A problem that stops the edition, with a message meant for the user."""


def notebook_paths(source_dir: Path) -> list[Path]:
    """The course's notebooks in ``source_dir`` (NN_*.ipynb), in reading order."""
    paths = sorted(Path(source_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise StudentError(f"no notebooks named NN_*.ipynb in {source_dir}")
    return paths


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions, outputs or execution leftovers."""
    nb = copy.deepcopy(nb)
    resources: dict = {}
    nb, resources = TagRemovePreprocessor(remove_cell_tags=REMOVED_TAGS).preprocess(
        nb, resources
    )
    nb, resources = ClearOutputPreprocessor().preprocess(nb, resources)
    for key in NOTEBOOK_METADATA_DROPPED:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in CELL_METADATA_DROPPED:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":  # ClearOutputPreprocessor's job; made sure
            cell.outputs, cell.execution_count = [], None
            cell.source = starter(cell.source)  # solution regions: `...` to fill
    return nb


def hidden_untagged(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of cells whose source is folded in JupyterLab yet not tagged.

    The course folds exactly its solutions; a folded cell without the tag is most
    likely a solution that would reach the students.
    """
    return [
        index
        for index, cell in enumerate(nb.cells)
        if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden")
        and not is_solution(cell)
    ]


def convert(path: Path) -> nbformat.NotebookNode:
    """The student version of the notebook at ``path``, validated."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook
        raise StudentError(f"{path}: not a readable notebook: {error}") from error
    folded = hidden_untagged(nb)
    if folded:
        raise StudentError(
            f"{path}: cell(s) {', '.join(map(str, folded))} are folded "
            f"(source_hidden) but not tagged '{SOLUTION_TAG}'; tag the solutions"
        )
    student = student_notebook(nb)
    try:
        nbformat.validate(student)
    except nbformat.ValidationError as error:
        raise StudentError(f"{path}: not a valid notebook: {error.message}") from error
    return student


def replace_folder(built: Path, out: Path) -> None:
    """Put ``built`` where ``out`` is, removing the old ``out`` only afterwards."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
        out.rename(old / out.name)
    try:
        built.rename(out)
    except OSError:
        if old is not None:
            (old / out.name).rename(out)  # put the earlier folder back
        raise
    if old is not None:
        shutil.rmtree(old)


def student_edition(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write the student edition of ``source_dir`` to ``out_dir``, replacing it.

    Returns the paths of the student notebooks, in reading order.  Nothing in
    ``out_dir`` changes unless every notebook converted.
    """
    sources = notebook_paths(Path(source_dir))
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    try:
        building.chmod(0o755)  # mkdtemp makes it private
        for path in sources:
            nbformat.write(convert(path), building / path.name)
        (building / "README.md").write_text(README, encoding="utf-8")
        replace_folder(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return [out / path.name for path in sources]


def shorten(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return f"{path.resolve().relative_to(REPO)}/"
    except ValueError:
        return f"{path}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=COMMITTED,
        help="folder of the full notebooks (default: notebooks/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the student edition, replaced as a whole "
        "(default: build/student)",
    )
    args = parser.parse_args(argv)
    try:
        written = student_edition(args.source, args.out)
    except StudentError as error:
        print(f"make_student: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"    {path.name}", flush=True)
    print(
        f"Student edition of {shorten(args.source)}: {shorten(args.out)} "
        f"({len(written)} notebooks and README.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
