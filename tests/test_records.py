"""The committed study in results/: every record whole and made by this code, from
the study's base model; and a small part of it re-run, to catch drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.study import RESULTS_DIR, Study, code_fingerprint, machine, read_record

RECORDS = sorted(RESULTS_DIR.glob("*/*.json"))
RERUN = "run `make study` (it re-makes only what changed) and commit results/"


def test_the_study_is_recorded():
    notebooks = {path.parent.name for path in RECORDS}
    assert {"02_base_training", "04_transfer_vs_scratch"} <= notebooks
    assert (RESULTS_DIR / "base_model.keras").is_file()


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_record_is_whole_and_made_by_this_code(path: Path):
    head = read_record(path)["provenance"]  # StudyError if truncated or edited
    assert head["code_fingerprint"] == code_fingerprint(), (
        f"{path.name} was made by other code: {RERUN}"
    )
    assert head["notebook"] == path.parent.name and head["name"] == path.stem
    for key in ("parameters", "packages", "machine", "date", "wall_seconds"):
        assert head[key] is not None, key


def test_records_start_from_the_study_base_model():
    """Each from the study's base model, or one kept beside it whose name begins
    the record's (04's other base models: base_seed_1, base_second_split...)."""
    models = [p.stem for p in RESULTS_DIR.glob("*.keras")]
    for path in RECORDS:
        context = read_record(path)["provenance"]["context"]
        named = [m for m in models if path.stem.startswith(m)]
        kept = RESULTS_DIR / f"{max(named, key=len, default='base_model')}.json"
        if "base_weights_digest" in context and path.parent.name != "06_your_own_data":
            digest = json.loads(kept.read_text())["weights_digest"]
            assert context["base_weights_digest"] == digest, path.name


@pytest.mark.notebooks
def test_a_recorded_part_of_the_study_runs_again_the_same(tmp_path, monkeypatch):
    """Notebook 04's runs at 10 images per digit, first two seeds, both methods:
    re-run with the record's settings, they give the recorded rows. Exactly on a
    machine like the one that made them; elsewhere floating-point detail moves a
    few test images, so there the test accuracy must stay within the spread of
    the recorded seeds (the interval the notebooks read)."""
    from helpers.data import load_mnist, make_task
    from helpers.experiments import Budget, Setting, sweep
    from helpers.reporting import load_model

    record = read_record(RESULTS_DIR / "04_transfer_vs_scratch" / "runs.json")
    head = record["provenance"]
    made = head["parameters"]
    base, _ = load_model(RESULTS_DIR, "base_model", "02_base_training.ipynb", {})
    target = make_task(
        load_mnist(),
        made["target_digits"],
        validation_fraction=made["validation_fraction"],
        max_train_samples=made["max_train_samples"],
        seed=made["seed"],
    )
    recorded = [
        r
        for r in record["runs"]
        if r["n_per_class"] == 10 and r["seed"] in made["seeds"][:2]
    ]
    assert len(recorded) == 4
    rates = {r["method"]: r["learning_rate"] for r in recorded}
    setting = Setting(
        base,
        target,
        made["optimizer"],
        Budget(made["max_epochs"], made["patience"]),
        made["validation_per_class"],
    )
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    monkeypatch.setenv("STUDY_JOBS", str(head["settings"]["jobs"]))
    from helpers.experiments import SCRATCH, TRANSFER

    again = sweep(
        Study("drift", {}, rerun=True),
        "runs",
        [TRANSFER, SCRATCH],
        setting,
        sizes=[10],
        seeds=made["seeds"][:2],
        rates=rates,
    )
    assert [(r["method"], r["seed"]) for r in again] == [
        (r["method"], r["seed"]) for r in recorded
    ]
    same_machine = machine() == head["machine"]
    for new, old in zip(again, recorded, strict=True):
        if same_machine:
            fields = (
                "test_accuracy",
                "val_accuracy",
                "epochs",
                "best_epoch",
                "mistakes",
            )
            assert {k: new[k] for k in fields} == {k: old[k] for k in fields}
        else:
            spread = [
                r["test_accuracy"]
                for r in record["runs"]
                if r["method"] == old["method"] and r["n_per_class"] == 10
            ]
            assert min(spread) - 0.01 <= new["test_accuracy"] <= max(spread) + 0.01


def test_the_recorded_verdicts_follow_from_the_records():
    """results/04_verdicts.json, the Holm-adjusted verdicts of 04's headline on
    both digit splits, is what the analysis gives on the committed runs."""
    from helpers.analysis import compare, holm

    saved = json.loads((RESULTS_DIR / "04_verdicts.json").read_text())
    made, folder = saved["parameters"], RESULTS_DIR / "04_transfer_vs_scratch"
    runs = [r for r in read_record(folder / "runs.json")["runs"]
            if r["n_per_class"] not in made["largest_sizes"]]  # and, those trained
    runs += read_record(folder / "to_cap.json")["runs"]  # to the cap
    table = holm(compare(runs, "transfer", "scratch"))
    table.sort(key=lambda r: made["sample_sizes"].index(r["n_per_class"]))
    assert table == saved["comparison"]
    source, target = saved["parameters"]["second_split"]
    second = [row for name in ("base_second_split", "base_second_split_to_cap")
              for row in read_record(folder / f"{name}.json")["runs"]]
    again = holm(compare(second, "transfer", "scratch"))
    shown = [r for r in saved["second_split"] if r["split"] == f"{source} → {target}"]
    assert [{k: r[k] for k in again[0]} for r in shown] == again
