"""Artifacts shared between notebooks (save, load, check) and plain-text tables."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from helpers.data import REPO_ROOT

DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "artifacts"

# Which notebook writes which artifact: used to tell a learner what to run first.
PRODUCER = {
    "split.json": "01_data_split.ipynb",
    "base_model.keras": "02_base_training.ipynb",
    "base_metrics.json": "02_base_training.ipynb",
    "transfer_metrics.json": "03_freeze_and_fine_tune.ipynb",
    "scratch_metrics.json": "04_transfer_vs_scratch.ipynb",
}


class MissingArtifactError(FileNotFoundError):
    """An input made by an earlier notebook is absent or was made differently."""


def artifacts_path(artifacts_dir: str | os.PathLike | None) -> Path:
    """The artifacts folder (default: ``artifacts/`` at the repo root), created."""
    path = Path(artifacts_dir) if artifacts_dir else DEFAULT_ARTIFACTS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomically(path: Path, write) -> Path:
    """Call ``write(tmp_path)``, then move the file into place: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix
    )
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_json(record: dict, path: Path) -> Path:
    """Write ``record`` as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    return write_atomically(Path(path), lambda tmp: tmp.write_text(text))


def save_model(model, path: Path) -> Path:
    """Save a Keras model (``.keras`` format), atomically."""
    return write_atomically(Path(path), model.save)


def _rerun_hint(name: str, expected: dict) -> str:
    given = ", ".join(f"{key}={value!r}" for key, value in expected.items())
    return f"Run notebooks/{PRODUCER[name]} first, with {given}."


def load_checked_json(artifacts_dir: Path, name: str, expected: dict) -> dict:
    """Load an artifact and check it was made with the ``expected`` parameters.

    ``expected`` maps parameter names to the values this notebook uses.
    """
    path = Path(artifacts_dir) / name
    if not path.is_file():
        raise MissingArtifactError(
            f"{path} does not exist. {_rerun_hint(name, expected)}"
        )
    record = json.loads(path.read_text())
    made_with = record.get("parameters", {})
    differing = {
        key: made_with.get(key)
        for key, value in expected.items()
        if made_with.get(key) != value
    }
    if differing:
        shown = ", ".join(f"{key}={value!r}" for key, value in differing.items())
        raise MissingArtifactError(
            f"{path} was made with {shown}. {_rerun_hint(name, expected)}"
        )
    return record


def load_base_model(artifacts_dir: Path, expected: dict):
    """The base model of notebook 02, after checking it was made with ``expected``."""
    import keras

    load_checked_json(artifacts_dir, "base_metrics.json", expected)
    path = Path(artifacts_dir) / "base_model.keras"
    if not path.is_file():
        raise MissingArtifactError(
            f"{path} does not exist. {_rerun_hint('base_model.keras', expected)}"
        )
    return keras.saving.load_model(path)


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned text table (floats with 4 decimals)."""
    columns = list(columns or rows[0].keys())

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body
    ]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of Python and the main libraries, for the record."""
    import platform

    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }


def check_claim(claim: str, holds: bool, *, applies: bool = True, detail="") -> None:
    """Assert a claim the prose makes, and say so; skip it where it does not apply.

    Claims about accuracy hold for the full teaching run only, so quick runs pass
    ``applies=False`` and the notebook prints that the claim was not checked.
    """
    if not applies:
        print(f"not checked (quick run): {claim}")
        return
    assert holds, f"claim does not hold: {claim} {detail}".strip()
    print(f"checked: {claim}")
