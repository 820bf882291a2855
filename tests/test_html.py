"""scripts/export_html.py (`make html`): two editions, folding, offline pages.

The exporter runs in this process (its ``main``) into tmp_path, always with
--source, so these tests never read or write build/.  The committed notebooks
are exported once per module; everything else uses tiny synthetic notebooks.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from scripts import export_html
from scripts.make_student import BEGIN, END

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "export_html.py"
NAMES = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EDITIONS = ("full", "student")
# A valid 1x1 PNG, as a notebook stores it (base64 text).
PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
    "awAAAABJRU5ErkJggg=="
)
# The 'lab' template writes alt= and class= before src=, so no fixed prefix.
INLINE_PNG = re.compile(r'<img\b[^>]*?\ssrc="data:image/png;base64,([^"]+)"')
# Written independently of the exporter's own check: a tag that loads something
# that is not a data: URI, or CSS/JS that fetches from the web.
LOADS_FROM_OUTSIDE = re.compile(
    r"""<(?:script|link|img|iframe|embed|source|video|audio)\b[^>]*?"""
    r"""\s(?:src|href)\s*=\s*["']?(?!data:|#)[^"'\s>]"""
    r"""|url\(\s*["']?(?:https?:)?//|import\(\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def export(*args: str | Path) -> Result:
    """Run the exporter's command line in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = export_html.main([str(arg) for arg in args])
    return Result(code, out.getvalue(), err.getvalue())


@dataclass
class Page:
    """A page's text and cells, split by whether they sit in a <details>."""

    details: int = 0
    folded_ids: list[str] = field(default_factory=list)
    open_ids: list[str] = field(default_factory=list)
    folded_text: str = ""
    open_text: str = ""


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page, self.depth, self.skip = Page(), 0, 0

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.page.details += 1
            self.depth += 1
        elif tag in ("style", "script"):
            self.skip += 1
        cell_id = dict(attrs).get("id") or ""
        if cell_id.startswith("cell-id="):
            ids = self.page.folded_ids if self.depth else self.page.open_ids
            ids.append(cell_id.removeprefix("cell-id="))

    def handle_endtag(self, tag):
        if tag == "details":
            self.depth -= 1
        elif tag in ("style", "script"):
            self.skip -= 1

    def handle_data(self, data):
        if self.skip:
            return
        if self.depth:
            self.page.folded_text += data
        else:
            self.page.open_text += data


def parse(path: Path) -> Page:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.depth == 0, f"{path.name}: unbalanced <details>"
    return parser.page


def readme_title() -> str:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    return next(line[2:].strip() for line in lines if line.startswith("# "))


def entry_links(index: Path) -> list[str]:
    """The links of an index page's list entries, in order."""
    return re.findall(r'<li><a href="([^"]+)"', index.read_text(encoding="utf-8"))


def png_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def solutions(notebook: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]


def regions(notebook: Path) -> list[nbformat.NotebookNode]:
    """The starter cells whose solution sits between the markers."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [c for c in cells if c.cell_type == "code" and BEGIN in c.source]


def distinctive_line(notebook: Path, solution: nbformat.NotebookNode) -> str:
    """The longest line of ``solution`` found in no other cell of the notebook."""
    nb = nbformat.read(notebook, as_version=4)
    others = "\n".join(
        cell.source.replace("`", "") for cell in nb.cells if cell.id != solution.id
    )
    source = solution.source
    if BEGIN in source:  # the solution's lines only, not the starter around them
        source = "\n".join(part.split(END)[0] for part in source.split(BEGIN)[1:])
    lines = sorted((line.strip() for line in source.splitlines()), key=len)
    for line in reversed(lines):
        if len(line) >= 12 and line not in others:
            return line
    pytest.fail(f"{notebook.name}: solution {solution.id} has no line of its own")


def write_executed_notebook(path: Path, number: int, next_name: str | None) -> None:
    """A tiny notebook as papermill leaves it: title, summary, figure, exercise."""
    intro = (
        f"# {path.stem[:2]} · Fixture number {number}\n\n"
        f"A *tiny* summary of `fixture` **{number}**,\nspread over two lines.\n\n"
        "A second paragraph that the index must not show.\n"
    )
    if next_name:
        intro += f"\nNext: [the next one]({next_name}.ipynb)\n"
    figure = new_output(
        "display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"}
    )
    answer = new_output("stream", name="stdout", text=f"the answer is {number}\n")
    solution = new_code_cell(
        f"print('the answer is', {number})  # worked solution",
        execution_count=2,
        outputs=[answer],
        metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
    )
    nb = new_notebook(
        cells=[
            new_markdown_cell(intro),
            new_code_cell("show_figure()", execution_count=1, outputs=[figure]),
            new_markdown_cell("**1 · A question.** What is the answer?"),
            solution,
        ]
    )
    nbformat.validate(nb)
    nbformat.write(nb, path)


def write_fixture_notebooks(folder: Path) -> None:
    folder.mkdir()
    for number, name in enumerate(NAMES, start=1):
        following = NAMES[number] if number < len(NAMES) else None
        write_executed_notebook(folder / f"{name}.ipynb", number, following)


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory) -> Path:
    """The exporter run on tiny executed notebooks; returns its output."""
    tmp = tmp_path_factory.mktemp("fixture")
    write_fixture_notebooks(tmp / "executed")
    out = tmp / "html"
    result = export("--source", tmp / "executed", "--out", out)
    assert result.returncode == 0, result.stderr
    # It says where each edition came from.
    assert f"Full edition from {tmp / 'executed'}/" in result.stdout
    assert f"Student edition from {tmp / 'executed'}/" in result.stdout
    return out


@pytest.fixture(scope="module")
def committed_export(tmp_path_factory) -> Path:
    """The exporter run on the committed notebooks; returns its output."""
    out = tmp_path_factory.mktemp("committed") / "html"
    result = export("--source", ROOT / "notebooks", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_the_course_has_six_notebooks():
    assert len(NAMES) == 6, NAMES


def test_index_links_both_editions(fixture_export):
    assert sorted(p.name for p in fixture_export.iterdir()) == [
        "full",
        "index.html",
        "student",
    ]
    index = fixture_export / "index.html"
    assert entry_links(index) == ["full/index.html", "student/index.html"]
    assert f"<title>{readme_title()}</title>" in index.read_text(encoding="utf-8")


@pytest.mark.parametrize("edition", EDITIONS)
def test_edition_index_lists_every_page_in_order(fixture_export, edition):
    folder = fixture_export / edition
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.html" for name in NAMES] + ["index.html"]
    )
    index = folder / "index.html"
    assert entry_links(index) == [f"{name}.html" for name in NAMES]
    text = index.read_text(encoding="utf-8")
    assert f"<h1>{readme_title()}</h1>" in text
    assert '<a href="../index.html">' in text
    for number in range(1, len(NAMES) + 1):
        assert f"Fixture number {number}</a>" in text
        assert f"A tiny summary of fixture {number}, spread over two lines." in text
    assert "second paragraph" not in text


def test_nothing_loads_from_outside(fixture_export):
    pages = sorted(fixture_export.rglob("*.html"))
    assert len(pages) == 1 + 2 * (len(NAMES) + 1)
    for page in pages:
        found = LOADS_FROM_OUTSIDE.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page} loads {found[0]!r}"


def test_full_pages_fold_the_solution_input_and_output(fixture_export):
    for number, name in enumerate(NAMES, start=1):
        path = fixture_export / "full" / f"{name}.html"
        page = parse(path)
        assert page.details == 1, name
        assert len(page.folded_ids) == 1, name
        assert "print('the answer is'" in page.folded_text  # the input
        assert f"the answer is {number}" in page.folded_text  # and its output
        assert "the answer is" not in page.open_text
        assert "What is the answer?" in page.open_text  # the question stays open
        text = path.read_text(encoding="utf-8")
        assert INLINE_PNG.findall(text) == [PIXEL], name  # the figure, embedded


def test_student_pages_hold_no_solution_and_no_output(fixture_export):
    for name in NAMES:
        path = fixture_export / "student" / f"{name}.html"
        page = parse(path)
        assert page.details == 0, name
        assert "the answer is" not in page.open_text, name
        assert "What is the answer?" in page.open_text, name
        assert INLINE_PNG.findall(path.read_text(encoding="utf-8")) == [], name


@pytest.mark.parametrize("edition", EDITIONS)
def test_links_between_notebooks_point_at_pages(fixture_export, edition):
    first = (fixture_export / edition / f"{NAMES[0]}.html").read_text(encoding="utf-8")
    assert f'href="{NAMES[1]}.html"' in first
    assert ".ipynb" not in first


@pytest.mark.slow  # exports all six committed notebooks (about 9 s)
def test_committed_index_links_every_page(committed_export):
    assert entry_links(committed_export / "index.html") == [
        "full/index.html",
        "student/index.html",
    ]
    for edition in EDITIONS:
        assert entry_links(committed_export / edition / "index.html") == [
            f"{name}.html" for name in NAMES
        ]


@pytest.mark.slow  # exports all six committed notebooks (about 9 s)
def test_committed_full_pages_fold_every_solution(committed_export):
    for name in NAMES:
        notebook = ROOT / "notebooks" / f"{name}.ipynb"
        path = committed_export / "full" / f"{name}.html"
        page = parse(path)
        folded = solutions(notebook)
        assert folded or regions(notebook), f"{name} has no solution"
        assert page.details == len(folded), name
        assert page.folded_ids == [cell.id for cell in folded], name
        for cell in folded:
            assert distinctive_line(notebook, cell) in page.folded_text, cell.id
        text = path.read_text(encoding="utf-8")
        assert len(INLINE_PNG.findall(text)) >= png_outputs(notebook), name
        assert LOADS_FROM_OUTSIDE.search(text) is None, name


@pytest.mark.slow  # exports all six committed notebooks (about 9 s)
def test_committed_student_pages_hold_no_solution_code(committed_export):
    for name in NAMES:
        notebook = ROOT / "notebooks" / f"{name}.ipynb"
        path = committed_export / "student" / f"{name}.html"
        page = parse(path)
        assert page.details == 0, name
        for cell in solutions(notebook):
            assert cell.id not in page.open_ids, cell.id
        for cell in solutions(notebook) + regions(notebook):
            assert distinctive_line(notebook, cell) not in page.open_text, cell.id
        text = path.read_text(encoding="utf-8")
        assert INLINE_PNG.findall(text) == [], name  # outputs cleared
        assert LOADS_FROM_OUTSIDE.search(text) is None, name


@pytest.fixture
def earlier_export(tmp_path) -> Path:
    """An output folder holding the result of an earlier export."""
    out = tmp_path / "html"
    out.mkdir()
    (out / "earlier.html").write_text("an earlier export")
    return out


def test_missing_notebook_fails_and_leaves_the_output_alone(tmp_path, earlier_export):
    source = tmp_path / "four"
    write_fixture_notebooks(source)
    (source / f"{NAMES[-1]}.ipynb").unlink()

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode == 1
    assert f"{NAMES[-1]}.ipynb" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["four", "html"]


def test_a_page_that_would_load_from_outside_fails(tmp_path, earlier_export):
    source = tmp_path / "remote"
    write_fixture_notebooks(source)
    nb = nbformat.read(source / f"{NAMES[0]}.ipynb", as_version=4)
    nb.cells.append(new_markdown_cell('<img src="https://example.org/logo.png">'))
    nbformat.write(nb, source / f"{NAMES[0]}.ipynb")

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode == 1
    assert f"full/{NAMES[0]}.html would fetch 1 resource" in result.stderr
    assert "example.org" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["html", "remote"]


def test_failure_midway_leaves_no_half_written_output(tmp_path, earlier_export):
    source = tmp_path / "broken"
    write_fixture_notebooks(source)
    # The last notebook loses its title, so the export fails after four pages.
    untitled = nbformat.read(source / f"{NAMES[-1]}.ipynb", as_version=4)
    untitled.cells = untitled.cells[1:]
    nbformat.write(untitled, source / f"{NAMES[-1]}.ipynb")

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode == 1
    assert NAMES[-1] in result.stderr and "title" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "html"]

    write_executed_notebook(source / f"{NAMES[-1]}.ipynb", 1, None)
    assert export("--source", source, "--out", earlier_export).returncode == 0
    assert sorted(p.name for p in earlier_export.iterdir()) == [
        "full",
        "index.html",
        "student",
    ]  # replaced as a whole: the earlier page is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "html"]


def test_a_solution_the_template_misses_fails_the_export(
    tmp_path, earlier_export, monkeypatch
):
    source = tmp_path / "unfolded"
    write_fixture_notebooks(source)
    # As if the template's test for the tag and the tagging had drifted apart.
    monkeypatch.setattr(export_html, "SOLUTION_OPEN", '<details class="answer">')

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode == 1
    assert f"full/{NAMES[0]}.html folds 0 cell(s)" in result.stderr
    assert "1 tagged solution(s)" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]


def test_the_command_line_finds_its_student_module(monkeypatch):
    # `make html` runs the file itself: scripts/ is on sys.path, the root is not.
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    monkeypatch.delitem(sys.modules, "make_student", raising=False)
    module = runpy.run_path(str(SCRIPT), run_name="export_html_as_a_command")
    assert module["student_edition"].__module__ == "make_student"


def test_source_is_the_run_only_when_every_notebook_finished(tmp_path):
    executed, committed = tmp_path / "run", tmp_path / "committed"
    assert export_html.pick_source(NAMES, executed, committed)[0] == committed

    executed.mkdir()
    for name in NAMES[:-1]:
        write_executed_notebook(executed / f"{name}.ipynb", 1, None)
    assert export_html.pick_source(NAMES, executed, committed)[0] == committed

    # The last notebook is there but stopped before its code cells ran.
    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    nb = nbformat.read(executed / f"{NAMES[-1]}.ipynb", as_version=4)
    nb.cells[1].execution_count = None
    nbformat.write(nb, executed / f"{NAMES[-1]}.ipynb")
    source, why = export_html.pick_source(NAMES, executed, committed)
    assert source == committed
    assert NAMES[-1] in why

    # Every cell ran, but papermill recorded that one of them raised.
    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    nb = nbformat.read(executed / f"{NAMES[-1]}.ipynb", as_version=4)
    nb.metadata["papermill"] = {"exception": True}
    nbformat.write(nb, executed / f"{NAMES[-1]}.ipynb")
    assert export_html.pick_source(NAMES, executed, committed)[0] == committed

    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    assert export_html.pick_source(NAMES, executed, committed)[0] == executed
