"""Export the course notebooks to self-contained HTML pages (`make html`).

The source is build/notebooks/ when it holds a finished `make run` of every
notebook, otherwise the committed notebooks/.  Each notebook becomes
<out>/<name>.html (nbconvert's 'lab' template, figures inline as data URIs, no
script or stylesheet fetched from the network), and <out>/index.html lists them
in reading order with their one-line summaries; links between notebooks point
at their pages.  The pages are built in a temporary folder next to <out> and
moved into place only when all of them succeeded.

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

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "notebooks"
EXECUTED = REPO / "build" / "notebooks"
DEFAULT_OUT = REPO / "build" / "html"

# The 'lab' template with every block that loads JavaScript from a CDN emptied:
# require.js and the widget manager (no widget outputs here), MathJax (the
# notebooks have no LaTeX) and Mermaid (no diagrams).  The pages then open
# offline, with nothing but the inline CSS and the embedded images.
OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
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


def shorten(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return f"{path.resolve().relative_to(REPO)}/"
    except ValueError:
        return f"{path}/"


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


def index_page(title: str, entries: list[tuple[str, str, str]], source: str) -> str:
    """A plain index page: one (file name, title, summary) entry per notebook."""
    items = "\n".join(
        f'  <li><a href="{html.escape(href)}">{html.escape(name)}</a>'
        f"<p>{html.escape(summary)}</p></li>"
        for href, name, summary in entries
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; line-height: 1.5; color: #222; }}
  li {{ margin-bottom: 1rem; }}
  li a {{ font-weight: 600; }}
  li p {{ margin: 0.2rem 0 0; }}
  footer {{ color: #666; font-size: 0.9rem; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<ol>
{items}
</ol>
<footer>Rendered from {html.escape(source)}</footer>
</body>
</html>
"""


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


def export(source: Path, names: list[str], target: Path, label: str) -> None:
    """Write one page per notebook and the index into the (empty) ``target``."""
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
                f"{name}.html would fetch {len(outside)} resource(s) from outside "
                f"the page, e.g. {outside[0]}"
            )
        (target / f"{name}.html").write_text(page, encoding="utf-8")
        title, summary = title_and_summary(notebook)
        entries.append((f"{name}.html", title, summary))
        print(f"    {name}.html  ({len(page) // 1024} KiB)", flush=True)
    index = index_page(readme_title(), entries, label)
    (target / "index.html").write_text(index, encoding="utf-8")


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
            (old / out.name).rename(out)  # put the earlier export back
        raise
    if old is not None:
        shutil.rmtree(old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        help="folder of .ipynb files to export (default: build/notebooks/ "
        "after a complete `make run`, else notebooks/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the HTML pages, replaced as a whole (default: build/html)",
    )
    args = parser.parse_args(argv)

    try:
        names = course_notebooks()
        if args.source is None:
            source, why = pick_source(names, EXECUTED, COMMITTED)
        else:
            source, why = args.source, "given with --source"
        missing = [n for n in names if not (source / f"{n}.ipynb").is_file()]
        if missing:
            raise ExportError(
                f"missing in {shorten(source)}: "
                + ", ".join(f"{n}.ipynb" for n in missing)
                + f" (the course has {len(names)}: {', '.join(names)})"
            )
        print(f"Source: {shorten(source)} ({why})", flush=True)

        out = args.out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
        try:
            building.chmod(0o755)  # mkdtemp makes it private
            export(source, names, building, shorten(source))
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
