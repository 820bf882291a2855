"""helpers.data: IDX files, integrity checks, loading, digit splits and samples.

Fetching MNIST (scripts/fetch_mnist.py, `make data`) is tested in test_fetch.py.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import helpers.data as data
from helpers.data import (
    IDX_SHA256,
    DataIntegrityError,
    DataUnavailableError,
    cap_samples,
    check_digit_split,
    check_digits,
    load_mnist,
    make_task,
    sample_per_class,
    select_digits,
    stratified_split,
    to_model_input,
    verify_file,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ------------------------------------------------------------------------ helpers


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz)."""
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    content = bytes([0, 0, 8, array.ndim]) + dims + array.tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(content)
    return path


def flip_byte(path: Path, offset: int) -> bytes:
    """Invert one byte of ``path`` in place; return the file's new content."""
    content = bytearray(path.read_bytes())
    content[offset] ^= 0xFF
    path.write_bytes(bytes(content))
    return bytes(content)


def row_id(x: np.ndarray) -> np.ndarray:
    """The index the synthetic fixture wrote into pixels (0, 0) and (0, 1)."""
    return x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)


def row_hashes(x: np.ndarray) -> Counter:
    """How many times each distinct image occurs in ``x``."""
    return Counter(row.tobytes() for row in x.reshape(len(x), -1))


def assert_same_arrays(actual, expected) -> None:
    (xa, ya), (xb, yb) = actual
    (xc, yc), (xd, yd) = expected
    for got, want in ((xa, xc), (ya, yc), (xb, xd), (yb, yd)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("suffix", ["", ".gz"], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)], ids=["labels", "images"])
def test_an_idx_file_is_read_with_the_shape_its_header_gives(tmp_path, suffix, shape):
    array = (np.arange(np.prod(shape)) * 11 % 256).astype(np.uint8).reshape(shape)
    path = write_idx(tmp_path / f"tiny-idx{suffix}", array)
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    parsed = data._idx(verify_file(path, hashlib.sha256(raw).hexdigest()))
    assert parsed.shape == shape
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, array)


# ------------------------------------------------------------ integrity checks


def test_verify_file_accepts_the_right_digest_and_names_both_on_mismatch(tmp_path):
    path = tmp_path / "some-file"
    path.write_bytes(b"MNIST")
    right = hashlib.sha256(b"MNIST").hexdigest()
    assert verify_file(path, right) == b"MNIST"
    wrong = "0" * 64
    with pytest.raises(DataIntegrityError, match="corrupted or truncated") as info:
        verify_file(path, wrong)
    message = str(info.value)
    assert str(path) in message and wrong in message and right in message


def test_load_mnist_refuses_a_corrupted_file_and_leaves_it(mnist_copy, monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    name = "train-labels-idx1-ubyte"
    damaged = mnist_copy / name
    content = flip_byte(damaged, 1000)
    with pytest.raises(DataIntegrityError, match="corrupted or truncated") as info:
        load_mnist(mnist_copy)
    message = str(info.value)
    assert str(damaged) in message
    assert IDX_SHA256[name] in message
    assert hashlib.sha256(content).hexdigest() in message
    assert "make data" in message
    assert damaged.read_bytes() == content


# ----------------------------------------------------------- folders and fallbacks


def test_gzip_copies_of_the_idx_files_load_the_same_arrays(
    tmp_path, mnist_dir, mnist, monkeypatch
):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    for name in IDX_SHA256:
        with (
            open(mnist_dir / name, "rb") as src,
            gzip.open(tmp_path / f"{name}.gz", "wb", compresslevel=1) as dest,
        ):
            shutil.copyfileobj(src, dest)
    assert_same_arrays(load_mnist(tmp_path), mnist)


def test_load_mnist_falls_back_to_mnist_dir(tmp_path, mnist_dir, mnist, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    assert_same_arrays(load_mnist(tmp_path), mnist)


def test_load_mnist_without_data_says_run_make_data(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(DataUnavailableError, match="make data") as info:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


# ----------------------------------------------------------------- the real data


def test_real_mnist_shapes_and_dtypes(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8


def test_real_mnist_counts_per_digit(mnist):
    (_, y_train), (_, y_test) = mnist
    assert data.class_counts(y_train, 10) == TRAIN_COUNTS
    assert data.class_counts(y_test, 10) == TEST_COUNTS


# ------------------------------------------------------------------- digit lists

BAD_DIGIT_LISTS = [
    pytest.param([5, 10], ["[5, 10]", "[10]"], id="above-9"),
    pytest.param([-1, 3], ["[-1, 3]", "[-1]"], id="negative"),
    pytest.param([], ["[]", "2 or more"], id="empty"),
    pytest.param([3, 3, 4], ["[3, 3, 4]", "repeats [3]"], id="repeated"),
    pytest.param([4], ["[4]", "2 or more"], id="single"),
    pytest.param("5678", ["'5678'", "list"], id="string"),
]


@pytest.mark.parametrize("bad, shown", BAD_DIGIT_LISTS)
@pytest.mark.parametrize("which", ["source_digits", "target_digits"])
def test_check_digit_split_names_the_parameter_and_bad_value(bad, shown, which):
    good = [0, 1]
    source, target = (bad, good) if which == "source_digits" else (good, bad)
    with pytest.raises(ValueError, match=which) as info:
        check_digit_split(source, target)
    message = str(info.value)
    assert which in message
    for text in shown:
        assert text in message


def test_check_digit_split_rejects_overlap_naming_both_lists():
    with pytest.raises(ValueError, match=re.escape("overlap in [3]")) as info:
        check_digit_split([1, 2, 3], [3, 4])
    message = str(info.value)
    assert "source_digits=[1, 2, 3]" in message
    assert "target_digits=[3, 4]" in message
    assert "overlap in [3]" in message


def test_check_digit_split_returns_plain_lists():
    assert check_digit_split((5, 6), [np.int64(0), 1]) == ([5, 6], [0, 1])
    assert check_digits([9, 2], "digits") == [9, 2]


# ------------------------------------------------------------------ select_digits


def test_select_digits_5_to_9_labels_are_digit_minus_5(mnist):
    (x, y), _ = mnist
    x_sel, y_sel = select_digits(x, y, [5, 6, 7, 8, 9])
    keep = y >= 5
    np.testing.assert_array_equal(x_sel, x[keep])
    np.testing.assert_array_equal(y_sel, y[keep] - 5)


@pytest.mark.parametrize(
    "digits", [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9], [7, 3]], ids=["even", "odd", "7-3"]
)
def test_select_digits_labels_are_positions_in_the_list(synthetic, digits):
    x, y = synthetic
    x_sel, y_sel = select_digits(x, y, digits)
    keep = np.isin(y, digits)
    np.testing.assert_array_equal(x_sel, x[keep])
    np.testing.assert_array_equal(np.asarray(digits)[y_sel], y[keep])
    assert set(y_sel.tolist()) == set(range(len(digits)))


def test_select_digits_unordered_list_maps_in_list_order(synthetic):
    x, y = synthetic
    _, y_sel = select_digits(x, y, [7, 3])
    kept = y[np.isin(y, [7, 3])]
    np.testing.assert_array_equal(y_sel[kept == 7], 0)
    np.testing.assert_array_equal(y_sel[kept == 3], 1)


# --------------------------------------------------------------- sample_per_class


def test_sample_per_class_draws_exactly_n_distinct_examples_each(synthetic):
    x, y = synthetic
    xs, ys = sample_per_class(x, y, 12, seed=0)
    assert data.class_counts(ys, 10) == [12] * 10
    ids = row_id(xs)
    assert len(set(ids.tolist())) == len(ids) == 120
    np.testing.assert_array_equal(ys, y[ids])  # each image keeps its own label


def test_sample_per_class_is_seeded(synthetic):
    x, y = synthetic
    first = row_id(sample_per_class(x, y, 12, seed=3)[0])
    again = row_id(sample_per_class(x, y, 12, seed=3)[0])
    other = row_id(sample_per_class(x, y, 12, seed=4)[0])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sample_per_class_can_take_the_whole_smallest_class(synthetic):
    x, y = synthetic
    _, ys = sample_per_class(x, y, 25, seed=0)
    assert data.class_counts(ys, 10) == [25] * 10


def test_sample_per_class_rejects_more_than_the_smallest_class_holds(synthetic):
    x, y = synthetic
    with pytest.raises(ValueError, match="n_per_class=26") as info:
        sample_per_class(x, y, 26, seed=0)
    message = str(info.value)
    assert "n_per_class=26" in message
    assert "25" in message


def test_sample_per_class_error_names_the_smallest_class(synthetic):
    x, y = synthetic  # class 3 is the smallest, with 25 examples
    with pytest.raises(ValueError, match=re.escape("class 3 holds (25)")):
        sample_per_class(x, y, 26, seed=0)


@pytest.mark.parametrize("n", [0, -2, 2.5, True])
def test_sample_per_class_rejects_n_below_1_or_not_an_integer(synthetic, n):
    x, y = synthetic
    with pytest.raises(ValueError, match="n_per_class") as info:
        sample_per_class(x, y, n, seed=0)
    assert repr(n) in str(info.value)


# --------------------------------------------------------- stratified_split, caps


def test_stratified_split_sizes_shares_and_partition(synthetic):
    x, y = synthetic
    (x_kept, y_kept), (x_out, y_out) = stratified_split(x, y, 0.2, seed=0)
    assert len(y_out) == round(0.2 * len(y)) == 75
    assert len(y_kept) == len(y) - 75
    counts = np.bincount(y, minlength=10)
    out_counts = np.bincount(y_out, minlength=10)
    assert np.all(np.abs(out_counts - 0.2 * counts) <= 1)
    kept_ids, out_ids = row_id(x_kept), row_id(x_out)
    assert set(kept_ids.tolist()).isdisjoint(out_ids.tolist())
    assert sorted(kept_ids.tolist() + out_ids.tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(y_kept, y[kept_ids])
    np.testing.assert_array_equal(y_out, y[out_ids])


def test_stratified_split_is_seeded(synthetic):
    x, y = synthetic
    first = row_id(stratified_split(x, y, 0.2, seed=1)[1][0])
    again = row_id(stratified_split(x, y, 0.2, seed=1)[1][0])
    other = row_id(stratified_split(x, y, 0.2, seed=2)[1][0])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fraction", [0, 0.0, 1.0, 1.5, -0.1, True, "0.1"])
def test_stratified_split_rejects_fractions_outside_0_1(synthetic, fraction):
    x, y = synthetic
    with pytest.raises(ValueError, match="validation_fraction") as info:
        stratified_split(x, y, fraction, seed=0)
    assert repr(fraction) in str(info.value)


def test_cap_samples_exact_total_with_class_shares_kept(synthetic):
    x, y = synthetic
    x_cap, y_cap = cap_samples(x, y, 100, seed=0)
    assert len(x_cap) == len(y_cap) == 100
    counts = np.bincount(y, minlength=10)
    capped = np.bincount(y_cap, minlength=10)
    assert np.all(np.abs(capped - 100 * counts / len(y)) <= 1)
    ids = row_id(x_cap)
    assert len(set(ids.tolist())) == 100
    np.testing.assert_array_equal(y_cap, y[ids])


def test_cap_samples_none_or_more_than_available_returns_all(synthetic):
    x, y = synthetic
    x_all, y_all = cap_samples(x, y, None, seed=0)
    assert x_all is x and y_all is y
    x_all, y_all = cap_samples(x, y, len(y) + 1, seed=0)
    assert len(y_all) == len(y)


@pytest.mark.parametrize("cap", [19, 0, 100.0])
def test_cap_samples_rejects_a_cap_that_is_too_small_or_not_integer(synthetic, cap):
    x, y = synthetic  # 10 classes: at least 20
    with pytest.raises(ValueError, match=f"max_train_samples={cap!r}"):
        cap_samples(x, y, cap, seed=0)


def test_cap_samples_accepts_two_per_class(synthetic):
    x, y = synthetic
    _, y_cap = cap_samples(x, y, 20, seed=0)
    assert len(y_cap) == 20


def test_to_model_input_float32_in_0_1_with_channel(synthetic):
    x, _ = synthetic
    x = x.copy()
    x[0, 5, 5], x[0, 5, 6] = 0, 255
    model_input = to_model_input(x)
    assert model_input.dtype == np.float32
    assert model_input.shape == (len(x), 28, 28, 1)
    assert model_input.min() == 0.0 and model_input.max() == 1.0
    np.testing.assert_allclose(model_input[..., 0] * 255, x, atol=1e-4)


# ---------------------------------------------------------------------- make_task


@pytest.mark.parametrize(
    "digits, n_pool, n_test",
    [([5, 6, 7, 8, 9], 29404, 4861), ([0, 1, 2, 3, 4], 30596, 5139)],
    ids=["5-9", "0-4"],
)
def test_make_task_sizes_and_disjoint_parts(mnist, digits, n_pool, n_test):
    task = make_task(
        mnist, digits, validation_fraction=0.1, max_train_samples=None, seed=0
    )
    sizes = task.sizes()
    assert sizes["train"] + sizes["validation"] == n_pool
    assert sizes["validation"] == round(0.1 * n_pool)
    assert sizes["test"] == n_test
    assert task.digits == digits and task.n_classes == 5
    for part in (task.x_train, task.x_val, task.x_test):
        assert part.dtype == np.float32 and part.shape[1:] == (28, 28, 1)

    # Train and validation split the pool: together they are its images, each once.
    (x_all, y_all), (x_test_all, y_test_all) = mnist
    x_pool, _ = select_digits(x_all, y_all, digits)
    split = row_hashes(task.x_train) + row_hashes(task.x_val)
    assert split == row_hashes(to_model_input(x_pool))
    assert set(row_hashes(task.x_test)).isdisjoint(split)
    np.testing.assert_array_equal(
        task.y_test, select_digits(x_test_all, y_test_all, digits)[1]
    )


def test_make_task_caps_the_pool_before_splitting(mnist):
    task = make_task(
        mnist, [5, 6, 7, 8, 9], validation_fraction=0.1, max_train_samples=2000, seed=0
    )
    sizes = task.sizes()
    assert sizes["train"] + sizes["validation"] == 2000
    assert sizes["validation"] == 200
    assert sizes["test"] == 4861
