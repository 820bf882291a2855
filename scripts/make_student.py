"""Write the student edition of the course notebooks (`make student`).

Every NN_*.ipynb of the source folder (default: notebooks/) with the cells tagged
``solution`` removed (nbconvert's TagRemovePreprocessor; papermill's injected
parameters too), each nbgrader-style ``### BEGIN/END SOLUTION`` region turned into
its ``...`` starter, and outputs and run metadata cleared; plus a README.md. Each
notebook is validated; the edition is built beside <out> and replaces it whole only
when every notebook succeeded.

    python scripts/make_student.py [--source DIR] [--out DIR]
"""

import argparse
import ast
import copy
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "notebooks"
DEFAULT_OUT = REPO / "build" / "student"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"  # nbgrader's markers
SOLUTION_TAG = "solution"
# Never shown to a student: solutions, and the parameters papermill injects into
# an executed run (build/notebooks/); nor papermill's, JupyterLab's and widgets'
# records of a run.
REMOVED_TAGS = {SOLUTION_TAG, "injected-parameters"}
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

def _names(statement) -> list[str]:
    """What an assignment sets (``_`` left out); nothing for another statement."""
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    parts = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
    return [ast.unparse(part) for part in parts if ast.unparse(part) != "_"]

def starter(source: str) -> str:
    """``source`` with each solution region replaced by its starter: one line per
    statement, ``name = ...`` for an assignment, else ``...``."""
    out, region = [], None
    for line in source.splitlines():
        if line.strip() == BEGIN and region is None:
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif line.strip() == END and region is not None:
            body = ast.parse(textwrap.dedent("\n".join(region)))
            out += [indent + " = ".join([*_names(s), "..."]) for s in body.body]
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None or any(END == line.strip() for line in out):
        raise ValueError(f"unbalanced {BEGIN!r} / {END!r} in:\n{source}")
    return "\n".join(out)

def notebook_paths(source_dir: Path) -> list[Path]:
    """The course's notebooks in ``source_dir`` (NN_*.ipynb), in reading order."""
    paths = sorted(Path(source_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise StudentError(f"no notebooks named NN_*.ipynb in {source_dir}")
    return paths

def is_solution(cell: nbformat.NotebookNode) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])

def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions, outputs or execution leftovers."""
    nb, resources = TagRemovePreprocessor(remove_cell_tags=REMOVED_TAGS).preprocess(
        copy.deepcopy(nb), {})
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
    """Cells folded in JupyterLab yet not tagged: the course folds exactly its
    solutions, so such a cell is most likely a solution about to reach students."""
    return [i for i, cell in enumerate(nb.cells) if not is_solution(cell)
            and cell.get("metadata", {}).get("jupyter", {}).get("source_hidden")]

def convert(path: Path) -> nbformat.NotebookNode:
    """The student version of the notebook at ``path``, validated."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook
        raise StudentError(f"{path}: not a readable notebook: {error}") from error
    if folded := hidden_untagged(nb):
        raise StudentError(f"{path}: cell(s) {', '.join(map(str, folded))} are folded "
                           f"(source_hidden) but not tagged '{SOLUTION_TAG}'; tag the "
                           "solutions")
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
    """The student notebooks, in reading order, written to ``out_dir`` (replaced;
    nothing there changes unless every notebook converted)."""
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
    parser.add_argument("--source", type=Path, default=COMMITTED,
                        help="folder of the full notebooks (default: notebooks/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the "
                        "student edition, replaced as a whole (default: build/student)")
    args = parser.parse_args(argv)
    try:
        written = student_edition(args.source, args.out)
    except StudentError as error:
        print(f"make_student: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"    {path.name}", flush=True)
    print(f"Student edition of {shorten(args.source)}: {shorten(args.out)} "
          f"({len(written)} notebooks and README.md)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
