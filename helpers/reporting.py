"""Artifacts that notebooks pass on (written whole, checked on load), tables, claims."""

import ast
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from helpers.data import REPO_ROOT

DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "artifacts"

class ArtifactError(RuntimeError):
    """An input made by an earlier notebook is absent, or was made differently."""

def artifacts_path(artifacts_dir: str | os.PathLike | None) -> Path:
    """The artifacts folder, created: artifacts_dir, $COURSE_ARTIFACTS or artifacts/."""
    chosen = artifacts_dir or os.environ.get("COURSE_ARTIFACTS")
    path = Path(chosen) if chosen else DEFAULT_ARTIFACTS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path

def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary_path)``, then move it into place: readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{os.getpid()}{path.suffix}")  # one per process
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

def save_json(record: dict, path: Path) -> Path:
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    return write_atomically(path, lambda tmp: tmp.write_text(text))

def weights_digest(model) -> str:
    """A short fingerprint of a model's weights: equal digests, equal weights."""
    data = b"".join(weights.tobytes() for weights in model.get_weights())
    return hashlib.sha256(data).hexdigest()[:16]

def save_model(model, record: dict, folder: Path, name: str) -> None:
    """Save ``name.keras``, then its record ``name.json`` with the weights' digest."""
    write_atomically(Path(folder) / f"{name}.keras", model.save)
    save_json({**record, "weights_digest": weights_digest(model)},
              Path(folder) / f"{name}.json")

def load_record(folder: Path, name: str, notebook: str, expected: dict) -> dict:
    """The record ``name.json``; ArtifactError saying what to run if not as expected."""
    path = Path(folder) / f"{name}.json"
    wanted = ", ".join(f"{key}={value!r}" for key, value in expected.items())
    hint = f"Run notebooks/{notebook} first with {wanted} (and the same artifacts_dir)."
    if not path.is_file():
        raise ArtifactError(f"{path.name} is missing from {folder}. {hint}")
    record = json.loads(path.read_text())
    made_with = record.get("parameters", {})
    if differing := [f"{key}={made_with.get(key)!r}" for key, value in expected.items()
                     if made_with.get(key) != value]:
        raise ArtifactError(f"{path.name} was made with {', '.join(differing)}. {hint}")
    return record

def load_model(folder: Path, name: str, notebook: str, expected: dict):
    """The model ``name.keras`` and its record, checked to belong together."""
    import keras
    record = load_record(folder, name, notebook, expected)
    path = Path(folder) / f"{name}.keras"
    model = keras.saving.load_model(path) if path.is_file() else None
    if model is None or weights_digest(model) != record.get("weights_digest"):
        raise ArtifactError(f"{path.name} is missing or does not match {name}.json "
                            f"(another run's model). Run notebooks/{notebook} again.")
    return model, record

def format_table(rows: Sequence[dict], digits: int = 4) -> str:
    """Rows of dicts as an aligned text table; floats with ``digits`` decimals."""
    columns = list(rows[0])
    body = [[f"{v:.{digits}f}" if isinstance(v, float) else "" if v is None else str(v)
             for v in map(row.get, columns)] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    lines = [columns, ["-" * w for w in widths], *body]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True))
                     for line in lines)

def is_default_run(notebook: str, namespace: dict) -> bool:
    """Whether every parameter but artifacts_dir and rerun has its value in the
    parameters cell of ``notebook``.ipynb: the run whose claims the prose makes."""
    path = Path(f"{notebook}.ipynb")
    if not path.is_file():
        print(f"{path} is not in {Path.cwd()}: its claims are not checked")
        return False
    cell = next(c for c in json.loads(path.read_text())["cells"]
                if "parameters" in c["metadata"].get("tags", []))
    defaults = {node.targets[0].id: ast.literal_eval(node.value)
                for node in ast.parse("".join(cell["source"])).body
                if isinstance(node, ast.Assign)}
    return all(namespace.get(k, ...) == v for k, v in defaults.items()
               if k not in ("artifacts_dir", "rerun"))

def check_parameters(namespace: dict, spec: str = "", **kinds: str) -> None:
    """ValueError naming a parameter not of its kind (``name=kind`` or "name:kind" in
    ``spec``): count, seed, rate, fraction, cap; "counts"... a list; "?": or None."""
    kinds |= dict(word.split(":") for word in spec.split())
    from helpers.data import check_cap, check_fraction
    from helpers.training import check_count, check_list, check_rate
    checks = {"count": check_count, "rate": check_rate, "fraction": check_fraction,
              "cap": check_cap, "seed": lambda n, v: check_count(n, v, minimum=0)}
    for name, kind in kinds.items():
        value, base = namespace[name], kind.rstrip("?")
        if kind.endswith("?") and value is None:
            continue
        if base.endswith("s"):  # a list of that kind
            check_list(name, value, checks[base.removesuffix("s")])
        else:
            checks[base](name, value)

def check_claim(claim: str, holds, *, applies: bool = True, detail="",
                why_not: str = "other parameters") -> None:
    """Assert a claim the prose makes (``holds``: a bool, or a function called only if
    it ``applies``) and say so; under `make study` ($COURSE_STUDY) a failure prints."""
    if not applies:
        print(f"not checked ({why_not}): {claim}")
    elif holds() if callable(holds) else holds:
        print(f"checked: {claim}")
    elif os.environ.get("COURSE_STUDY"):  # `make study` records on
        print(f"DOES NOT HOLD (the prose must change): {claim} {detail}")
    else:
        raise AssertionError(f"claim does not hold: {claim} {detail}".strip())
