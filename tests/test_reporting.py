"""helpers.reporting: atomic writes, models with their records, provenance
checks, tables and claims."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

from helpers import reporting
from helpers.reporting import (
    ArtifactError,
    artifacts_path,
    check_claim,
    check_parameters,
    format_table,
    is_default_run,
    load_model,
    load_record,
    save_json,
    save_model,
    weights_digest,
    write_atomically,
)

NOTEBOOK = "02_base_training.ipynb"
PARAMETERS = {"source_digits": [5, 6, 7, 8, 9], "epochs": 12}


def small_model(seed: int) -> keras.Model:
    """A model small enough to save in milliseconds, with seeded weights."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="dense")], name="small"
    )


# ---------------------------------------------------------------- atomic writes


def test_write_atomically_writes_beside_the_target_and_cleans_up(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        tmp.write_text("new")

    path = write_atomically(tmp_path / "sub" / "model.keras", write)
    assert path.read_text() == "new"
    (tmp,) = seen
    assert tmp.parent == path.parent  # same folder: the final rename is atomic
    assert tmp.suffix == ".keras"  # model.save insists on the suffix
    assert tmp != path
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]


def test_write_atomically_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")

    def half_a_write(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_a_write)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_save_json_sorts_keys_and_keeps_the_old_file_on_failure(tmp_path):
    path = save_json({"b": 1, "a": [1.5, None]}, tmp_path / "x.json")
    assert path.read_text() == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": 1\n}\n'
    with pytest.raises(TypeError, match="not JSON serializable"):
        save_json({"bad": object()}, path)
    assert json.loads(path.read_text()) == {"a": [1.5, None], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_artifacts_path_creates_the_folder_and_has_a_default(tmp_path, monkeypatch):
    assert artifacts_path(tmp_path / "a" / "b").is_dir()
    monkeypatch.setattr(reporting, "DEFAULT_ARTIFACTS_DIR", tmp_path / "default")
    assert artifacts_path(None) == tmp_path / "default"
    assert (tmp_path / "default").is_dir()


# ------------------------------------------------------------ models and records


def test_weights_digest_changes_with_any_weight():
    model = small_model(0)
    digest = weights_digest(model)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert weights_digest(small_model(0)) == digest
    bias = model.get_layer("dense").bias
    bias.assign(bias.numpy() + np.array([0, 0, 1e-6], np.float32))
    assert weights_digest(model) != digest


def test_save_model_and_load_model_round_trip(tmp_path):
    model = small_model(0)
    save_model(model, {"parameters": PARAMETERS, "accuracy": 0.5}, tmp_path, "base")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.json", "base.keras"]
    loaded, record = load_model(tmp_path, "base", NOTEBOOK, PARAMETERS)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert record["accuracy"] == 0.5
    assert record["weights_digest"] == weights_digest(model)


def test_load_model_refuses_a_model_from_another_run(tmp_path):
    save_model(small_model(0), {"parameters": PARAMETERS}, tmp_path, "base")
    # Another run replaced the model but not its record.
    write_atomically(tmp_path / "base.keras", small_model(1).save)
    with pytest.raises(
        ArtifactError, match=r"base\.keras .*does not match base\.json"
    ) as info:
        load_model(tmp_path, "base", NOTEBOOK, PARAMETERS)
    assert f"Run notebooks/{NOTEBOOK} again" in str(info.value)


def test_load_model_refuses_a_record_without_its_model(tmp_path):
    save_model(small_model(0), {"parameters": PARAMETERS}, tmp_path, "base")
    (tmp_path / "base.keras").unlink()
    with pytest.raises(ArtifactError, match=r"base\.keras is missing"):
        load_model(tmp_path, "base", NOTEBOOK, PARAMETERS)


def test_load_record_missing_names_the_notebook_and_the_values(tmp_path):
    with pytest.raises(ArtifactError, match=r"split\.json is missing") as info:
        load_record(tmp_path, "split", "01_data_split.ipynb", PARAMETERS)
    message = str(info.value)
    assert "split.json is missing" in message
    assert "Run notebooks/01_data_split.ipynb first" in message
    assert "source_digits=[5, 6, 7, 8, 9], epochs=12" in message


def test_load_record_names_the_parameter_that_differs(tmp_path):
    made = {"source_digits": [5, 6, 7, 8, 9], "epochs": 3, "seed": 0}
    save_json({"parameters": made, "x": 1}, tmp_path / "base.json")
    with pytest.raises(ArtifactError, match=r"made with epochs=3\.") as info:
        load_record(tmp_path, "base", NOTEBOOK, PARAMETERS)
    message = str(info.value)
    assert "made with epochs=3." in message  # only the differing one
    assert f"Run notebooks/{NOTEBOOK} first with " in message
    assert "epochs=12" in message
    # Parameters the reader does not ask about are not checked.
    assert load_record(tmp_path, "base", NOTEBOOK, {"epochs": 3}) == {
        "parameters": made,
        "x": 1,
    }


def test_load_record_refuses_a_record_made_without_the_parameter(tmp_path):
    save_json({"parameters": {}}, tmp_path / "base.json")
    with pytest.raises(ArtifactError, match="made with epochs=None"):
        load_record(tmp_path, "base", NOTEBOOK, {"epochs": 12})


# ---------------------------------------------------------------- tables, claims


def test_format_table_right_aligns_and_rounds_floats():
    text = format_table(
        [
            {"method": "transfer", "n": 1, "acc": 0.98765},
            {"method": "scratch", "n": 100, "acc": None},
        ]
    )
    assert text.splitlines() == [
        "  method    n     acc",
        "--------  ---  ------",
        "transfer    1  0.9877",
        " scratch  100        ",
    ]


def test_format_table_digits():
    assert format_table([{"x": 1 / 3}], digits=2).splitlines() == [
        "   x",
        "----",
        "0.33",
    ]


def test_check_claim_prints_what_it_checked(capsys):
    check_claim("two is more than one", 2 > 1)
    assert capsys.readouterr().out == "checked: two is more than one\n"


def test_check_claim_fails_loudly_when_the_claim_is_false(capsys):
    with pytest.raises(AssertionError, match="claim does not hold: one is more 1"):
        check_claim("one is more", 1 > 2, detail=1)
    assert "checked" not in capsys.readouterr().out


def test_check_claim_skips_what_does_not_apply(capsys):
    check_claim("anything", False, applies=False)
    assert capsys.readouterr().out == "not checked (other parameters): anything\n"


def test_check_claim_calls_a_test_only_where_the_claim_applies(capsys):
    """A claim about intervals, which a one-seed run does not have, is given as
    a function: not called when the claim does not apply, called when it does."""
    check_claim("an interval", lambda: None > 0, applies=False)
    assert capsys.readouterr().out == "not checked (other parameters): an interval\n"
    check_claim("two is more than one", lambda: 2 > 1)
    assert capsys.readouterr().out == "checked: two is more than one\n"
    with pytest.raises(AssertionError, match="claim does not hold: one is more"):
        check_claim("one is more", lambda: 1 > 2)


def write_parameters(folder, source):
    cell = {"cell_type": "code", "metadata": {"tags": ["parameters"]},
            "source": source, "outputs": [], "execution_count": None}
    (folder / "nb.ipynb").write_text(json.dumps({"cells": [cell]}))


def test_is_default_run_compares_every_parameter_with_the_parameters_cell(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_parameters(tmp_path, "digits = [0, 1]  # a comment\nsize = None\n"
                     "rerun = False\nartifacts_dir = None\n")
    default = {"digits": [0, 1], "size": None, "rerun": False, "artifacts_dir": None}
    assert is_default_run("nb", default)
    assert is_default_run("nb", {**default, "rerun": True, "artifacts_dir": "x"})
    assert not is_default_run("nb", {**default, "digits": [1, 0]})
    assert not is_default_run("nb", {**default, "size": 0})
    assert not is_default_run("nb", {"digits": [0, 1]})  # size never set


def test_is_default_run_is_false_where_the_notebook_is_not_found(tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    assert not is_default_run("absent", {})
    assert "absent.ipynb is not in" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [("count", 0, "n=0"), ("seeds", [0, -1], "n"), ("rate", -1.0, "n=-1.0"),
     ("rates", [], "n=\\[\\]"), ("fraction", 1.5, "n"), ("cap", 0, "n"),
     ("count", None, "n=None")],
)
def test_check_parameters_names_the_bad_parameter(kind, value, message):
    with pytest.raises(ValueError, match=message):
        check_parameters({"n": value}, n=kind)


def test_check_parameters_reads_a_spec_of_name_kind_words():
    check_parameters({"a": 3, "b": [0]}, "a:count\n b:seeds")
    with pytest.raises(ValueError, match="b=\\[-1\\]"):
        check_parameters({"a": 3, "b": [-1]}, "a:count b:seeds")


def test_check_parameters_accepts_good_values_and_none_where_allowed():
    check_parameters({"a": 3, "b": [0, 4], "c": None, "d": [1e-3], "e": 0.1},
                     a="count", b="seeds", c="count?", d="rates", e="fraction")
