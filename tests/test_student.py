"""scripts/make_student.py (`make student`): the student edition.

The edition of the committed notebooks is written once per module into
tmp_path; the rest uses tiny synthetic notebooks.  Nothing is executed.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from scripts import make_student
from scripts.make_student import BEGIN, starter

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "notebooks"
NAMES = sorted(path.name for path in COMMITTED.glob("[0-9][0-9]_*.ipynb"))
# "## Exercises" and each numbered exercise ("**1 · The other direction.**").
EXERCISE_HEADING = re.compile(r"^(?:#+ Exercises\b|\*\*\d+ · )", re.MULTILINE)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def exercise_headings(nb) -> list[str]:
    return [
        match[0]
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for match in EXERCISE_HEADING.finditer(cell.source)
    ]


def assert_student(nb, name: str) -> None:
    """No solution, no output, no execution leftovers, and a valid notebook."""
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        assert "solution" not in tags(cell), where
        assert "injected-parameters" not in tags(cell), where
        assert not cell.metadata.get("jupyter", {}).get("source_hidden"), where
        assert not {"papermill", "execution"} & set(cell.metadata), where
        if cell.cell_type == "code":
            assert cell.outputs == [], where
            assert cell.execution_count is None, where
    assert "papermill" not in nb.metadata, name


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The student edition of the committed notebooks: (folder, notebooks)."""
    out = tmp_path_factory.mktemp("edition") / "student"
    return out, make_student.student_edition(COMMITTED, out)


def test_one_student_notebook_per_course_notebook(edition):
    out, written = edition
    assert len(NAMES) == 6, NAMES
    assert [path.name for path in written] == NAMES
    assert sorted(p.name for p in out.iterdir()) == sorted([*NAMES, "README.md"])


def test_student_notebooks_are_valid_without_solutions_or_outputs(edition):
    _, written = edition
    for path in written:
        assert_student(nbformat.read(path, as_version=4), path.name)


def test_only_the_solutions_are_removed(edition):
    _, written = edition
    for path in written:
        full = nbformat.read(COMMITTED / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        code = [cell for cell in full.cells if cell.cell_type == "code"]
        solutions = [c for c in code if "solution" in tags(c) or BEGIN in c.source]
        assert solutions, f"{path.name} has no solution"
        kept = [cell for cell in full.cells if "solution" not in tags(cell)]
        assert [c.id for c in student.cells] == [c.id for c in kept], path.name
        assert [c.source for c in student.cells] == [
            starter(c.source) if c.cell_type == "code" else c.source for c in kept]
        code = [c for c in student.cells if c.cell_type == "code"]
        assert all(BEGIN not in c.source for c in code), path.name
        parameters = [c for c in student.cells if "parameters" in tags(c)]
        assert len(parameters) == 1, path.name
        headings = exercise_headings(full)
        assert len(headings) > 1, f"{path.name}: no numbered exercise found"
        assert exercise_headings(student) == headings, path.name


def test_readme_is_one_paragraph_pointing_at_the_full_notebooks(edition):
    out, _ = edition
    text = (out / "README.md").read_text(encoding="utf-8")
    blocks = [block for block in text.strip().split("\n\n") if block.strip()]
    assert len(blocks) == 2 and blocks[0].startswith("# "), blocks
    for needed in ("notebooks/", "make lab", "JupyterLab", "01 → 06"):
        assert needed in blocks[1], needed


def write_notebook(path: Path, number: int) -> None:
    """A notebook as papermill leaves it, with a parameters cell and a solution."""
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {number:02d} · Synthetic\n\nA summary."),
            new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "seed = 3",
                metadata={"tags": ["injected-parameters"], "papermill": {}},
            ),
            new_code_cell(
                "print(seed)",
                execution_count=3,
                outputs=[new_output("stream", name="stdout", text="3\n")],
                metadata={"execution": {"iopub.execute_input": "2025-01-01"}},
            ),
            new_markdown_cell("## Exercises\n\n**1 · A question.** Why?"),
            new_code_cell(
                "print('because')",
                execution_count=4,
                outputs=[new_output("stream", name="stdout", text="because\n")],
                metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
            ),
        ],
        metadata={"papermill": {"parameters": {"seed": 3}}},
    )
    nbformat.validate(nb)
    nbformat.write(nb, path)


@pytest.fixture
def source(tmp_path) -> Path:
    """Three synthetic notebooks, as an executed run leaves them."""
    folder = tmp_path / "source"
    folder.mkdir()
    for number in (1, 2, 3):
        write_notebook(folder / f"{number:02d}_synthetic.ipynb", number)
    return folder


@pytest.fixture
def earlier(tmp_path) -> Path:
    """An output folder holding an earlier edition."""
    out = tmp_path / "student"
    out.mkdir()
    (out / "earlier.ipynb").write_text("an earlier edition")
    return out


def test_an_executed_run_becomes_a_clean_edition(source, earlier):
    written = make_student.student_edition(source, earlier)

    assert [p.name for p in written] == [f"{n:02d}_synthetic.ipynb" for n in (1, 2, 3)]
    # Replaced as a whole: the earlier edition's file is gone.
    assert sorted(p.name for p in earlier.iterdir()) == sorted(
        [p.name for p in written] + ["README.md"]
    )
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert_student(nb, path.name)
        assert [c.source for c in nb.cells if c.cell_type == "code"] == [
            "seed = 0",
            "print(seed)",
        ]
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["source", "student"]


def test_a_failing_run_leaves_the_earlier_edition_untouched(source, earlier):
    (source / "03_synthetic.ipynb").write_text("{ not JSON")

    with pytest.raises(make_student.StudentError, match=r"03_synthetic\.ipynb: not"):
        make_student.student_edition(source, earlier)

    assert [p.name for p in earlier.iterdir()] == ["earlier.ipynb"]
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["source", "student"]


def test_a_folded_cell_without_the_tag_is_refused(source, earlier):
    path = source / "02_synthetic.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].metadata["tags"] = []  # a solution someone forgot to tag
    nbformat.write(nb, path)

    with pytest.raises(make_student.StudentError, match=r"cell\(s\) 5 are folded"):
        make_student.student_edition(source, earlier)

    assert [p.name for p in earlier.iterdir()] == ["earlier.ipynb"]


def test_command_line(source, tmp_path, capsys):
    out = tmp_path / "edition"
    assert make_student.main(["--source", str(source), "--out", str(out)]) == 0
    assert "3 notebooks and README.md" in capsys.readouterr().out
    assert (out / "README.md").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_student.main(["--source", str(empty), "--out", str(out)]) == 1
    assert "no notebooks named NN_*.ipynb" in capsys.readouterr().err
    assert (out / "README.md").is_file()
