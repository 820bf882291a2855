"""helpers.reporting: artifacts that check their provenance, tables, claims."""

from __future__ import annotations

import json

import pytest

from helpers.reporting import (
    MissingArtifactError,
    artifacts_path,
    check_claim,
    format_table,
    load_base_model,
    load_checked_json,
    save_json,
)


def test_save_json_writes_and_leaves_no_temporary_file(tmp_path):
    path = save_json({"b": 1, "a": [1.5, None]}, tmp_path / "x.json")
    assert json.loads(path.read_text()) == {"a": [1.5, None], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_save_json_failure_keeps_the_old_file(tmp_path):
    path = save_json({"ok": True}, tmp_path / "x.json")
    with pytest.raises(TypeError):
        save_json({"bad": object()}, path)
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_artifacts_path_creates_the_folder(tmp_path):
    folder = artifacts_path(tmp_path / "a" / "b")
    assert folder.is_dir()


def test_missing_artifact_names_the_notebook_and_parameters(tmp_path):
    with pytest.raises(MissingArtifactError) as info:
        load_checked_json(tmp_path, "base_metrics.json", {"source_digits": [5, 6]})
    message = str(info.value)
    assert "02_base_training.ipynb" in message
    assert "source_digits=[5, 6]" in message


def test_artifact_made_with_other_digits_is_refused(tmp_path):
    save_json({"parameters": {"source_digits": [0, 1]}}, tmp_path / "split.json")
    with pytest.raises(MissingArtifactError) as info:
        load_checked_json(tmp_path, "split.json", {"source_digits": [5, 6]})
    message = str(info.value)
    assert "made with source_digits=[0, 1]" in message
    assert "01_data_split.ipynb" in message and "source_digits=[5, 6]" in message


def test_matching_artifact_loads(tmp_path):
    record = {"parameters": {"source_digits": [5, 6], "epochs": 3}, "x": 1}
    save_json(record, tmp_path / "transfer_metrics.json")
    got = load_checked_json(
        tmp_path, "transfer_metrics.json", {"source_digits": [5, 6]}
    )
    assert got == record


def test_base_model_missing_while_metrics_exist(tmp_path):
    save_json({"parameters": {"source_digits": [5, 6]}}, tmp_path / "base_metrics.json")
    with pytest.raises(MissingArtifactError, match="base_model.keras"):
        load_base_model(tmp_path, {"source_digits": [5, 6]})


def test_format_table_aligns_and_rounds():
    text = format_table([{"n": 1, "acc": 0.98765}, {"n": 100, "acc": None}])
    lines = text.splitlines()
    assert lines[0] == "  n     acc"
    assert lines[2] == "  1  0.9877"
    assert lines[3] == "100        "
    assert len({len(line) for line in lines}) == 1


def test_check_claim_prints_asserts_and_skips(capsys):
    check_claim("two is more than one", 2 > 1)
    assert capsys.readouterr().out == "checked: two is more than one\n"
    with pytest.raises(AssertionError, match="claim does not hold: one is more 1"):
        check_claim("one is more", 1 > 2, detail=1)
    check_claim("anything", False, applies=False)
    assert "not checked (quick run): anything" in capsys.readouterr().out
