"""The runs behind each verdict, recorded in results/; `make study` re-makes them."""

import ast
import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras

from helpers import reporting
from helpers.data import REPO_ROOT
from helpers.reporting import artifacts_path, load_model, save_model, write_atomically

RESULTS_DIR = REPO_ROOT / "results"
# The code that makes the runs: records made before a change to it are refused.
TRAINING_CODE = ("data.py", "models.py", "training.py", "experiments.py")
PACKAGES = ("tensorflow", "keras", "numpy", "scipy", "scikit-learn", "joblib")
PRECISIONS = ("float32", "mixed_bfloat16")
CONNECT_SECONDS = 20  # a scheduler that does not answer within this is reported

class StudyError(RuntimeError):
    """A record is missing, damaged, or made by other code, data or parameters."""

def code_fingerprint() -> str:
    """A short digest of :data:`TRAINING_CODE`, ignoring comments and docstrings."""
    digest = hashlib.sha256()
    for name in TRAINING_CODE:
        tree = ast.parse((REPO_ROOT / "helpers" / name).read_text())
        for node in ast.walk(tree):
            match getattr(node, "body", None):
                case [ast.Expr(value=ast.Constant()), *rest]:  # a docstring
                    node.body = rest or [ast.Pass()]
        digest.update(name.encode() + ast.unparse(_SameFString().visit(tree)).encode())
    return digest.hexdigest()[:16]

class _SameFString(ast.NodeTransformer):
    """F-strings quoted as Python 3.11's ast.unparse does (3.12 may quote otherwise)."""

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.Name:
        text = ast.unparse(node)[1:]
        body = text[3:-3] if text[:3] in ('"""', "'''") else text[1:-1]
        body = re.sub(r"(?<!\\)((?:\\\\)*)\\(['\"])", r"\1\2", body)  # 3.13, in specs
        quotes = [q for q in ("'", '"', '"""', "'''") if q not in body]
        quotes.sort(key=lambda q: bool(body) and q[0] == body[-1])
        return ast.Name(id=f"f{quotes[0]}{body}{quotes[0]}")

def _canonical(value) -> str:
    """JSON text, keys sorted; NumPy values (what a run may return) as lists."""
    return json.dumps(value, sort_keys=True, default=lambda v: v.tolist())

def _digest(value) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:16]

def settings() -> dict:
    """$STUDY_JOBS (1), $STUDY_SCHEDULER (host:port) and $STUDY_PRECISION, checked."""
    text, scheduler, precision = (os.environ.get(f"STUDY_{name}", "").strip()
                                  for name in ("JOBS", "SCHEDULER", "PRECISION"))
    text, precision = text or "1", precision or "float32"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"STUDY_JOBS={text!r}; give a whole number of workers >= 1")
    host, _, port = scheduler.removeprefix("tcp://").rpartition(":")
    if scheduler and not (host and port.isdigit()):
        raise ValueError(f"STUDY_SCHEDULER={scheduler!r}; give host:port of a "
                         "Dask scheduler, e.g. 127.0.0.1:8786")
    if precision not in PRECISIONS:
        raise ValueError(f"STUDY_PRECISION={precision!r}; choose one of {PRECISIONS}")
    return {"jobs": int(text), "scheduler": scheduler or None, "precision": precision,
            "threads_per_run": max(1, (os.cpu_count() or 1) // int(text))}

def machine() -> dict:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    names = [x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")]
    return {"cpu": names[0] if names else platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "system": platform.system()}

def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"

class Study:
    """One notebook's runs: loaded from its results, or made (resuming) and recorded."""

    def __init__(self, notebook: str, parameters: dict, rerun: bool):
        if not isinstance(rerun, bool):
            raise ValueError(f"rerun={rerun!r}; use True or False")
        self.notebook, self.parameters, self.rerun = notebook, parameters, rerun

    def folder(self, writing: bool = False) -> Path:
        """$COURSE_RESULTS, else results/ to read, artifacts/results/ to write."""
        if chosen := os.environ.get("COURSE_RESULTS"):
            return Path(chosen)
        return artifacts_path(None) / "results" if writing else RESULTS_DIR

    def runs(self, name: str, specs: Sequence[dict], run: Callable[[dict], dict], *,
             context: dict, parallel: bool = True,
             describe: Callable[[dict], str] | None = None) -> list[dict]:
        """A row per spec, recorded or made by ``run(spec)`` (``context``: what else
        runs depend on: base model, data)."""
        specs = [json.loads(_canonical(s)) for s in specs]
        context = json.loads(_canonical(context))
        if self.rerun:
            return self._make(name, specs, run, context, parallel, describe)
        return self._load(name, specs, context)

    def run_plan(self, name: str, plan: "Plan") -> list[list[dict]]:
        """The runs in ``plan``, made or loaded as one record; rows listed per sweep."""
        if not plan:
            return []
        (_, run, context, options), *others = plan
        same = getattr(run, "args", run)
        if any(o[2] != context or getattr(o[1], "args", o[1]) != same for o in others):
            raise ValueError(f"{name}: the planned sweeps differ in setting; one each")
        rows = iter(self.runs(name, [s for specs, *_ in plan for s in specs], run,
                              context=context, **options))
        return [[next(rows) for _ in specs] for specs, *_ in plan]

    def keep_model(self, model, record: dict, name: str) -> None:
        """Save a model runs start from beside the records, unless already there."""
        folder = self.folder(writing=True)
        with contextlib.suppress(OSError, ValueError):
            old = json.loads((folder / f"{name}.json").read_text())
            if ((folder / f"{name}.keras").is_file() and old.get("parameters")
                    == record.get("parameters") and old.get("weights_digest")
                    == reporting.weights_digest(model)):
                return
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        save_model(copy, record, folder, name)

    def load_model(self, name: str, notebook: str, expected: dict, artifacts: Path):
        """The base model and record: the study's, or if re-running, ``notebook``'s."""
        folder = artifacts if self.rerun else self.folder()
        return load_model(folder, name, notebook, expected)

    def path(self, name: str, writing: bool = False) -> Path:
        return self.folder(writing) / self.notebook / f"{name}.json"

    def _load(self, name: str, specs: list[dict], context: dict) -> list[dict]:
        path = self.path(name)
        record = read_record(path)
        head = record["provenance"]
        took, cpu = minutes(head["wall_seconds"]), head["machine"]["cpu"]
        cost = (f"`make study` re-records the study (this part took {took} on {cpu}), "
                "or set rerun = True in the parameters cell")
        was = {"code_fingerprint": head["code_fingerprint"], **head["context"]}
        now = {"code_fingerprint": code_fingerprint(), **context}
        if differ := [f"{k}: recorded {was.get(k)!r}, here {now.get(k)!r}"
                      for k in sorted({*was, *now}) if was.get(k) != now.get(k)]:
            raise StudyError(f"{_shown(path)} was made by other code or from another "
                             f"base model or data ({', '.join(differ)}): {cost}.")
        recorded = {_digest(row["spec"]): row for row in record["runs"]}
        if missing := [s for s in specs if _digest(s) not in recorded]:
            changed = _changed(head["parameters"], self.parameters)
            raise StudyError(f"{_shown(path)} holds no run for {len(missing)} of the "
                             f"{len(specs)} runs asked for (e.g. {missing[0]}); it was "
                             f"recorded with {changed}: {cost}.")
        jobs, n = head["settings"]["jobs"], len(specs)
        print(f"{name}: {n} run{'s' * (n > 1)} loaded from {_shown(path)} (made "
              f"{head['date'][:10]}, {took}, {jobs} job{'s' * (jobs > 1)})")
        return [_row_of(recorded[_digest(s)]) for s in specs]

    def _make(self, name, specs, run, context, parallel, describe) -> list[dict]:
        chosen = settings()
        if not parallel:  # runs in this process, with its threads
            chosen.update(jobs=1, scheduler=None, threads_per_run=os.cpu_count())
        path, start = self.path(name, writing=True), time.perf_counter()
        partial = path.parent / ".partial" / f"{name}.jsonl"
        fixed = {"code_fingerprint": code_fingerprint(), "context": context,
                 "precision": chosen["precision"]}
        keys = [_digest({**fixed, "spec": s}) for s in specs]
        done, kept = _reusable(path, partial, keys, self.parameters)
        todo = [s for s, k in zip(specs, keys, strict=True) if k not in done]
        if kept:
            print(f"{name}: {len(specs)} of {len(specs)} runs already recorded by "
                  "this code; the record is kept as it is")
            return [_row_of(done[k]) for k in keys]
        reused = sum(r.get("seconds", 0) for r in done.values()) / chosen["jobs"]
        if len(todo) < len(specs):
            print(f"{name}: {len(specs) - len(todo)} of {len(specs)} runs already "
                  f"recorded by this code; running the other {len(todo)}", flush=True)
        label = describe or (lambda s: " ".join(map(str, s.values())))
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "a") as log:
            for i, (spec, row) in enumerate(_execute(todo, run, chosen), 1):
                key = _digest({**fixed, "spec": spec})
                row = json.loads(_canonical({**row, "spec": spec, "key": key}))
                done[row["key"]] = row
                print(_canonical(row), file=log, flush=True)
                left = (time.perf_counter() - start) / i * (len(todo) - i)
                print(f"[{name} {i}/{len(todo)}] {label(spec)}: {_summary(row)}; "
                      f"about {minutes(left)} left", flush=True)
        rows = [done[k] for k in keys]
        provenance = {
            "notebook": self.notebook, "name": name, "parameters": self.parameters,
            **fixed, "machine": machine(), "settings": chosen, "runs": len(rows),
            "packages": {n: importlib.metadata.version(n) for n in PACKAGES},
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - start + reused, 1)}
        write_record(path, provenance, rows)
        partial.unlink(missing_ok=True)
        return [_row_of(r) for r in rows]

class Plan(list):
    """A stand-in :class:`Study`: notes sweeps' runs for :meth:`Study.run_plan`."""

    def runs(self, name: str, specs, run, *, context: dict, **options) -> list:
        self.append((list(specs), run, context, options))
        return []

def _row_of(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("spec", "key")}

def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)

def _changed(recorded: dict, asked: dict) -> str:
    differ = [f"{k}={recorded.get(k)!r}" for k in sorted({*recorded, *asked})
              if recorded.get(k) != asked.get(k)]
    return ", ".join(differ) if differ else "the same parameters but other runs"

def _summary(row: dict) -> str:
    shown = [f"{k} {row[k]:.4f}" for k in ("best_val_accuracy",) if k in row]
    return ", ".join([*shown, f"{row.get('seconds', 0):.0f} s"])

def read_record(path: Path) -> dict:
    """A record file, checked whole: StudyError if missing, truncated or edited."""
    rerun = "run `make study`, or set rerun = True in the parameters cell"
    if not path.is_file():
        raise StudyError(f"{_shown(path)} is missing: {rerun}.")
    with contextlib.suppress(ValueError, KeyError, TypeError):
        record = json.loads(path.read_text())
        if record["digest"] == _digest({k: record[k] for k in ("provenance", "runs")}):
            return record
    raise StudyError(f"{_shown(path)} is truncated or was edited (its digest does "
                     f"not match its content): restore it with `git checkout -- "
                     f"{_shown(path)}`, or {rerun}.")

def write_record(path: Path, provenance: dict, rows: list[dict]) -> Path:
    """Write a record whole (atomically), with the digest of its content."""
    body = json.loads(_canonical({"provenance": provenance, "runs": rows}))
    text = json.dumps({**body, "digest": _digest(body)}, indent=1, sort_keys=True)
    return write_atomically(path, lambda tmp: tmp.write_text(text + "\n"))

def _reusable(path: Path, partial: Path, keys: list[str], parameters: dict):
    """The rows of ``keys`` in the record and log, and whether the record alone holds
    them, made with ``parameters`` (it may hold more: a sweep that grows asks again)."""
    rows, kept = {}, False
    with contextlib.suppress(StudyError):
        record = read_record(path)
        rows = {r["key"]: r for r in record["runs"]}
        kept = (set(keys) <= set(rows) and record["provenance"]["parameters"]
                == json.loads(_canonical(parameters)))
    if partial.is_file():
        for line in partial.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                rows[json.loads(line)["key"]] = json.loads(line)
    return {k: r for k, r in rows.items() if k in keys}, kept

def _call(run: Callable[[dict], dict], spec: dict, precision: str):
    """(spec, row) of one run, timed, under ``precision``; in a worker or here."""
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        start = time.perf_counter()
        row = run(spec)
        row.setdefault("seconds", round(time.perf_counter() - start, 1))
        return spec, row
    finally:
        keras.mixed_precision.set_global_policy(before)

def _execute(specs: list[dict], run, chosen: dict):
    """(spec, row) for every spec, in the order the runs finish."""
    if not specs or (chosen["jobs"] == 1 and not chosen["scheduler"]):
        yield from (_call(run, spec, chosen["precision"]) for spec in specs)
        return
    import joblib
    # Read by TensorFlow when a worker starts: N workers share the cores.
    threads = str(chosen["threads_per_run"])
    os.environ.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1")
    tasks = (joblib.delayed(_call)(run, spec, chosen["precision"]) for spec in specs)
    if chosen["scheduler"] is None:  # arrays pickled whole: memory-mapped ones
        # (joblib's default) moved some runs' results from one try to the next
        yield from joblib.Parallel(n_jobs=chosen["jobs"], max_nbytes=None,
                                   return_as="generator_unordered")(tasks)
        return
    from distributed import Client
    try:
        client = Client(chosen["scheduler"], timeout=f"{CONNECT_SECONDS}s")
    except OSError as error:
        raise StudyError(f"STUDY_SCHEDULER={chosen['scheduler']!r}: no Dask scheduler "
                         f"answered within {CONNECT_SECONDS} s ({error}). Start one "
                         "(`dask scheduler`) or unset STUDY_SCHEDULER.") from None
    with client, joblib.parallel_config(backend="dask"):
        yield from joblib.Parallel(return_as="generator_unordered")(tasks)
