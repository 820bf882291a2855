"""scripts/export_html.py (`make html`): pages, index and offline rendering.

The exporter runs as a command into tmp_path, always with --source, so these
tests never read or write build/.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "export_html.py"
NAMES = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
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


def export(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def readme_title() -> str:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    return next(line[2:].strip() for line in lines if line.startswith("# "))


def index_links(index: Path) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', index.read_text(encoding="utf-8"))


def png_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def write_executed_notebook(path: Path, number: int, next_name: str | None) -> None:
    """A tiny notebook as papermill leaves it: title, summary, one PNG figure."""
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
    cell = new_code_cell("show_figure()", execution_count=1, outputs=[figure])
    nb = new_notebook(cells=[new_markdown_cell(intro), cell])
    nbformat.validate(nb)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory) -> Path:
    """The exporter run on four tiny executed notebooks; returns its output."""
    tmp = tmp_path_factory.mktemp("fixture")
    source = tmp / "executed"
    source.mkdir()
    for number, name in enumerate(NAMES, start=1):
        following = NAMES[number] if number < len(NAMES) else None
        write_executed_notebook(source / f"{name}.ipynb", number, following)
    out = tmp / "html"
    result = export("--source", source, "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"Source: {source}" in result.stdout  # it says which source it used
    return out


@pytest.fixture(scope="module")
def committed_export(tmp_path_factory) -> Path:
    """The exporter run on the committed notebooks; returns its output."""
    out = tmp_path_factory.mktemp("committed") / "html"
    result = export("--source", ROOT / "notebooks", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_the_course_has_five_notebooks():
    assert len(NAMES) == 5, NAMES


def test_index_lists_every_page_in_order_with_its_summary(fixture_export):
    index = fixture_export / "index.html"
    assert index_links(index) == [f"{name}.html" for name in NAMES]
    text = index.read_text(encoding="utf-8")
    assert f"<title>{readme_title()}</title>" in text
    assert f"<h1>{readme_title()}</h1>" in text
    for number in range(1, len(NAMES) + 1):
        assert f"Fixture number {number}</a>" in text
        assert f"A tiny summary of fixture {number}, spread over two lines." in text
    assert "second paragraph" not in text
    assert LOADS_FROM_OUTSIDE.search(text) is None


def test_pages_embed_figures_and_load_nothing_from_outside(fixture_export):
    for name in NAMES:
        page = (fixture_export / f"{name}.html").read_text(encoding="utf-8")
        assert INLINE_PNG.findall(page) == [PIXEL], name
        found = LOADS_FROM_OUTSIDE.search(page)
        assert found is None, f"{name}.html loads {found[0]!r}"
    assert sorted(p.name for p in fixture_export.iterdir()) == sorted(
        [f"{name}.html" for name in NAMES] + ["index.html"]
    )


def test_links_between_notebooks_point_at_pages(fixture_export):
    first = (fixture_export / f"{NAMES[0]}.html").read_text(encoding="utf-8")
    assert f'href="{NAMES[1]}.html"' in first
    assert ".ipynb" not in first


def test_committed_notebooks_export(committed_export):
    assert index_links(committed_export / "index.html") == [
        f"{name}.html" for name in NAMES
    ]
    for name in NAMES:
        page = (committed_export / f"{name}.html").read_text(encoding="utf-8")
        figures = png_outputs(ROOT / "notebooks" / f"{name}.ipynb")
        assert len(INLINE_PNG.findall(page)) >= figures, name
        assert LOADS_FROM_OUTSIDE.search(page) is None, name


@pytest.fixture
def earlier_export(tmp_path) -> Path:
    """An output folder holding the result of an earlier export."""
    out = tmp_path / "html"
    out.mkdir()
    (out / "earlier.html").write_text("an earlier export")
    return out


def test_missing_notebook_fails_and_leaves_the_output_alone(tmp_path, earlier_export):
    source = tmp_path / "three"
    source.mkdir()
    for name in NAMES[:-1]:
        write_executed_notebook(source / f"{name}.ipynb", 1, None)

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode != 0
    assert f"{NAMES[-1]}.ipynb" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["html", "three"]


def test_failure_midway_leaves_no_half_written_output(tmp_path, earlier_export):
    source = tmp_path / "broken"
    source.mkdir()
    for name in NAMES:
        write_executed_notebook(source / f"{name}.ipynb", 1, None)
    # The last notebook loses its title, so the export fails after three pages.
    untitled = nbformat.read(source / f"{NAMES[-1]}.ipynb", as_version=4)
    untitled.cells = untitled.cells[1:]
    nbformat.write(untitled, source / f"{NAMES[-1]}.ipynb")

    result = export("--source", source, "--out", earlier_export)

    assert result.returncode != 0
    assert NAMES[-1] in result.stderr and "title" in result.stderr
    assert [p.name for p in earlier_export.iterdir()] == ["earlier.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "html"]

    write_executed_notebook(source / f"{NAMES[-1]}.ipynb", 1, None)
    assert export("--source", source, "--out", earlier_export).returncode == 0
    assert not (earlier_export / "earlier.html").exists()  # replaced as a whole
    assert (earlier_export / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "html"]


def load_exporter():
    spec = importlib.util.spec_from_file_location("export_html", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_source_is_the_run_only_when_every_notebook_finished(tmp_path):
    exporter = load_exporter()
    executed, committed = tmp_path / "run", tmp_path / "committed"
    assert exporter.pick_source(NAMES, executed, committed)[0] == committed

    executed.mkdir()
    for name in NAMES[:-1]:
        write_executed_notebook(executed / f"{name}.ipynb", 1, None)
    assert exporter.pick_source(NAMES, executed, committed)[0] == committed

    # The last notebook is there but stopped before its code cell ran.
    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    nb = nbformat.read(executed / f"{NAMES[-1]}.ipynb", as_version=4)
    nb.cells[1].execution_count = None
    nbformat.write(nb, executed / f"{NAMES[-1]}.ipynb")
    source, why = exporter.pick_source(NAMES, executed, committed)
    assert source == committed
    assert NAMES[-1] in why

    # Every cell ran, but papermill recorded that one of them raised.
    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    nb = nbformat.read(executed / f"{NAMES[-1]}.ipynb", as_version=4)
    nb.metadata["papermill"] = {"exception": True}
    nbformat.write(nb, executed / f"{NAMES[-1]}.ipynb")
    assert exporter.pick_source(NAMES, executed, committed)[0] == committed

    write_executed_notebook(executed / f"{NAMES[-1]}.ipynb", 1, None)
    assert exporter.pick_source(NAMES, executed, committed)[0] == executed
