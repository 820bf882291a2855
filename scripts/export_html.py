"""Export the course notebooks to self-contained HTML pages (`make html`).

Two editions, each a page per notebook and an index.html listing them in
reading order with their one-line summaries:

- <out>/full/: the notebooks with their outputs, from build/notebooks/ when it
  holds a finished `make run` of every notebook, otherwise from the committed
  notebooks/.  Every exercise solution (a cell tagged ``solution``), input and
  output, is folded in a <details> element that opens when clicked.
- <out>/student/: the student edition of the committed notebooks (see
  scripts/make_student.py): no solutions, no outputs.

With --source both editions come from that folder.  <out>/index.html links the
two.  Pages use nbconvert's 'lab' template with figures inline as data URIs and
nothing fetched from outside the page; the exporter fails if a page would.
Links between notebooks point at their pages in the same edition.  Everything
is built in a temporary folder next to <out> and replaces <out> as a whole only
when every page succeeded.

    python scripts/export_html.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

try:  # run as scripts/export_html.py: scripts/ is on sys.path
    from make_student import (
        StudentError,
        is_solution,
        replace_folder,
        shorten,
        student_edition,
    )
except ImportError:  # imported as scripts.export_html
    from scripts.make_student import (
        StudentError,
        is_solution,
        replace_folder,
        shorten,
        student_edition,
    )

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "notebooks"
EXECUTED = REPO / "build" / "notebooks"
DEFAULT_OUT = REPO / "build" / "html"

# The 'lab' template with every block that loads JavaScript from a CDN emptied:
# require.js and the widget manager (no widget outputs here), MathJax (the
# notebooks have no LaTeX) and Mermaid (no diagrams).  The pages then open
# offline, with nothing but the inline CSS and the embedded images.
# Each cell tagged 'solution' is wrapped, input and output, in a <details>
# element: folded until the reader clicks its summary.  No script is needed.
# export() counts SOLUTION_OPEN in every page against the tagged cells.
SOLUTION_OPEN = '<details class="solution">'
OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
details.solution { margin: 0.25em 0 0.75em; }
details.solution > summary {
  cursor: pointer; font-weight: 600; color: var(--jp-brand-color1, #1976d2);
  padding: 0.25em 0 0.25em var(--jp-cell-prompt-width, 64px);
}
details.solution > summary:hover { text-decoration: underline; }
</style>
{%- endblock extra_css -%}
{%- block any_cell scoped -%}
{%- if 'solution' in cell.metadata.get('tags', []) -%}
<details class="solution"><summary>Solution</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock any_cell -%}
"""

# Attributes through which a browser fetches something to render the page.
# (An <a href> is only followed when clicked, so links to the web are fine.)
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
}
REMOTE_IN_TEXT = re.compile(
    r"""url\(\s*['"]?\s*(?:https?:)?//|@import\s+['"]?(?:https?:)?//"""
    r"""|import\(\s*['"](?:https?:)?//"""
)


class ExportError(Exception):
    """A problem that stops the export, with a message meant for the user."""


class _AssetFinder(HTMLParser):
    """Collects every resource a page would fetch that is not inside the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in LOADING_ATTRIBUTES.get(tag, ()) and value is not None:
                if not value.strip().startswith(("data:", "#")):
                    self.outside.append(f"<{tag} {name}={value[:80]!r}>")

    def handle_data(self, data: str) -> None:
        # Inline <style> and <script> text: CSS url()/@import and JS import().
        for match in REMOTE_IN_TEXT.finditer(data):
            self.outside.append(data[match.start() : match.start() + 80])


def assets_outside(page: str) -> list[str]:
    """Everything ``page`` would fetch from a file or the network to render."""
    finder = _AssetFinder()
    finder.feed(page)
    finder.close()
    return finder.outside


def course_notebooks() -> list[str]:
    """The course's notebook names in reading order (notebooks/NN_*.ipynb)."""
    names = sorted(path.stem for path in COMMITTED.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        raise ExportError(f"no notebooks named NN_*.ipynb in {COMMITTED}")
    return names


def unfinished(path: Path) -> bool:
    """True when the notebook at ``path`` stopped early or is still running."""
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.get("papermill", {}).get("exception"):
        return True  # a cell raised; papermill stopped there
    return any(
        cell.cell_type == "code"
        and cell.source.strip()
        and cell.get("execution_count") is None
        for cell in nb.cells
    )


def pick_source(names: list[str], executed: Path, committed: Path) -> tuple[Path, str]:
    """The folder to export, and why: a complete `make run`, else the committed one."""
    if not executed.is_dir():
        return committed, "no `make run` output yet"
    missing = [n for n in names if not (executed / f"{n}.ipynb").is_file()]
    if missing:
        return committed, f"{shorten(executed)} lacks {', '.join(missing)}"
    partial = [n for n in names if unfinished(executed / f"{n}.ipynb")]
    if partial:
        return committed, f"{shorten(executed)} has unfinished {', '.join(partial)}"
    return executed, "the last `make run`, complete"


def strip_markdown(text: str) -> str:
    """Plain text of a short Markdown paragraph: links, code and emphasis undone."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return " ".join(text.split())


def title_and_summary(path: Path) -> tuple[str, str]:
    """The H1 of a notebook and the first paragraph after it, as plain text."""
    nb = nbformat.read(path, as_version=4)
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is None:
        raise ExportError(f"{path}: no markdown cell, so no title or summary")
    lines = first.source.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if heading is None:
        raise ExportError(f"{path}: its first markdown cell has no '# ' title line")
    paragraph: list[str] = []
    for line in lines[heading + 1 :]:
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            break
    title = strip_markdown(lines[heading][2:])
    return title, strip_markdown(" ".join(paragraph))


def readme_title() -> str:
    """The H1 of README.md, the course's name."""
    readme = REPO / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return "Course notebooks"


EDITIONS = {
    "full": (
        "Full edition",
        "Every notebook with its outputs. Each exercise's worked solution is "
        "folded under its question: click “Solution” to open it.",
    ),
    "student": (
        "Student edition",
        "The hand-out to work from: the exercises without their solutions, and "
        "no outputs, so every result appears when you run the notebook yourself.",
    ),
}

PAGE_STYLE = """\
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; line-height: 1.5; color: #222; }
  li { margin-bottom: 1rem; }
  li a { font-weight: 600; }
  li p { margin: 0.2rem 0 0; }
  nav, footer { color: #666; font-size: 0.9rem; }
"""


def plain_page(title: str, heading: str, body: str) -> str:
    """A small self-contained HTML page (the index pages)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{PAGE_STYLE}</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
{body}
</body>
</html>
"""


def entry_list(entries: list[tuple[str, str, str]]) -> str:
    """An ordered list of (link, name, summary) entries."""
    items = "\n".join(
        f'  <li><a href="{html.escape(href)}">{html.escape(name)}</a>'
        f"<p>{html.escape(summary)}</p></li>"
        for href, name, summary in entries
    )
    return f"<ol>\n{items}\n</ol>"


def index_page(
    title: str, entries: list[tuple[str, str, str]], source: str, edition: str
) -> str:
    """An edition's index: one (file name, title, summary) entry per notebook."""
    name, about = EDITIONS[edition]
    body = (
        f"<p>{html.escape(name)}. {html.escape(about)}</p>\n"
        f"{entry_list(entries)}\n"
        f'<nav><a href="../index.html">Both editions</a></nav>\n'
        f"<footer>Rendered from {html.escape(source)}</footer>"
    )
    return plain_page(f"{title}: {name.lower()}", title, body)


def editions_page(title: str, sources: dict[str, str]) -> str:
    """The top index: a link to each edition's index, with what it holds."""
    entries = [
        (f"{edition}/index.html", name, f"{about} Rendered from {sources[edition]}.")
        for edition, (name, about) in EDITIONS.items()
    ]
    return plain_page(title, title, entry_list(entries))


def link_pages(page: str, names: list[str]) -> str:
    """Point links between course notebooks (``NN_name.ipynb``) at their pages."""
    pattern = "|".join(re.escape(name) for name in names)
    return re.sub(
        rf'href="(?:\./)?({pattern})\.ipynb(#[^"]*)?"',
        lambda match: f'href="{match[1]}.html{match[2] or ""}"',
        page,
    )


def make_exporter() -> HTMLExporter:
    """nbconvert's 'lab' HTML exporter, made to produce pages that work offline."""
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        embed_images=True,  # images referenced from Markdown, too
    )


def solutions_in(notebook: Path) -> int:
    """How many cells of the notebook at ``notebook`` are tagged as solutions."""
    return sum(map(is_solution, nbformat.read(notebook, as_version=4).cells))


def export(
    source: Path, names: list[str], target: Path, label: str, edition: str
) -> None:
    """Write one edition, a page per notebook and its index, into ``target``."""
    target.mkdir()
    exporter = make_exporter()
    entries = []
    for name in names:
        notebook = source / f"{name}.ipynb"
        try:
            page, _ = exporter.from_filename(str(notebook))
        except Exception as error:  # unreadable JSON, invalid notebook, template
            raise ExportError(f"{notebook}: nbconvert failed: {error}") from error
        page = link_pages(page, names)
        outside = assets_outside(page)
        if outside:
            raise ExportError(
                f"{edition}/{name}.html would fetch {len(outside)} resource(s) from "
                f"outside the page, e.g. {outside[0]}"
            )
        folded, solutions = page.count(SOLUTION_OPEN), solutions_in(notebook)
        if folded != solutions:  # the template no longer matches the tagging
            raise ExportError(
                f"{edition}/{name}.html folds {folded} cell(s) in <details>, but "
                f"{notebook} has {solutions} tagged solution(s)"
            )
        (target / f"{name}.html").write_text(page, encoding="utf-8")
        title, summary = title_and_summary(notebook)
        entries.append((f"{name}.html", title, summary))
        print(f"    {edition}/{name}.html  ({len(page) // 1024} KiB)", flush=True)
    index = index_page(readme_title(), entries, label, edition)
    (target / "index.html").write_text(index, encoding="utf-8")


def check_complete(source: Path, names: list[str]) -> None:
    """Fail unless ``source`` holds every notebook of the course."""
    missing = [n for n in names if not (source / f"{n}.ipynb").is_file()]
    if missing:
        raise ExportError(
            f"missing in {shorten(source)}: "
            + ", ".join(f"{n}.ipynb" for n in missing)
            + f" (the course has {len(names)}: {', '.join(names)})"
        )


def build(full: Path, student: Path, names: list[str], target: Path) -> None:
    """Both editions and the index linking them, into the empty ``target``."""
    sources = {
        "full": shorten(full),
        "student": f"the student edition of {shorten(student)}",
    }
    export(full, names, target / "full", sources["full"], "full")
    with tempfile.TemporaryDirectory(prefix="student-edition-") as scratch:
        try:
            student_edition(student, Path(scratch) / "student")
        except StudentError as error:
            raise ExportError(f"student edition: {error}") from error
        edition = Path(scratch) / "student"
        export(edition, names, target / "student", sources["student"], "student")
    index = editions_page(readme_title(), sources)
    (target / "index.html").write_text(index, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        help="folder of .ipynb files to export, for both editions (default: the "
        "full edition from build/notebooks/ after a complete `make run`, else "
        "from notebooks/; the student edition from notebooks/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the HTML pages (full/, student/ and index.html), "
        "replaced as a whole (default: build/html)",
    )
    args = parser.parse_args(argv)

    try:
        names = course_notebooks()
        if args.source is None:
            full, why = pick_source(names, EXECUTED, COMMITTED)
            student = COMMITTED
        else:
            full, why = args.source, "given with --source"
            student = args.source
        for source in dict.fromkeys((full, student)):
            check_complete(source, names)
        print(f"Full edition from {shorten(full)} ({why})", flush=True)
        print(f"Student edition from {shorten(student)}", flush=True)

        out = args.out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
        try:
            building.chmod(0o755)  # mkdtemp makes it private
            build(full, student, names, building)
            replace_folder(building, out)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    except ExportError as error:
        print(f"export_html: {error}", file=sys.stderr)
        return 1
    print(f"HTML pages: {shorten(out)}  (open {shorten(out)}index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
