"""Fixtures shared by the unit tests of helpers/."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers.data import (
    DEFAULT_DATA_DIR,
    IDX_SHA256,
    Arrays,
    Task,
    load_mnist,
    make_task,
)

# TensorFlow and Matplotlib read these once, when they are first imported. Nothing
# above imports either (helpers.data needs only NumPy), and the test modules that
# do are collected after this file, so the settings are in place in time.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MPLBACKEND"] = "Agg"  # figures are drawn off screen, never shown

# Examples per digit 0-9 in the synthetic set. Deliberately unequal, and the
# smallest class is 3 (not 0), so errors about "the smallest class" can be checked.
SYNTHETIC_COUNTS = (40, 38, 36, 25, 42, 35, 44, 39, 37, 41)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the four real IDX files (filled by `make data`)."""
    return DEFAULT_DATA_DIR


@pytest.fixture(scope="session")
def mnist() -> Arrays:
    """The real MNIST, loaded and verified once per test session (read-only)."""
    return load_mnist(DEFAULT_DATA_DIR)


@pytest.fixture
def mnist_copy(tmp_path: Path, mnist_dir: Path) -> Path:
    """A private copy of the four real IDX files, safe to damage."""
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in IDX_SHA256:
        shutil.copyfile(mnist_dir / name, folder / name)
    return folder


@pytest.fixture
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """377 random uint8 28x28 images with labels 0-9, fixed seed, unique rows.

    Pixels (0, 0) and (0, 1) hold the example's index (little-endian), so every
    row is unique and can be traced back with ``row_id`` in the tests.
    """
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), SYNTHETIC_COUNTS)
    y = rng.permutation(labels)
    x = rng.integers(0, 256, size=(len(y), 28, 28), dtype=np.uint8)
    index = np.arange(len(y))
    x[:, 0, 0] = index % 256
    x[:, 0, 1] = index // 256
    return x, y


@pytest.fixture(scope="session")
def small_task(mnist) -> Task:
    """Digits 0-4 of real MNIST, small enough to train on in a second.

    600 training images (480 train, 120 validation, about 24 of each digit) and
    the first 500 test images. Read-only: the tests share it.
    """
    task = make_task(
        mnist, [0, 1, 2, 3, 4], validation_fraction=0.2, max_train_samples=600, seed=0
    )
    task = dataclasses.replace(task, x_test=task.x_test[:500], y_test=task.y_test[:500])
    for field in dataclasses.fields(task):
        value = getattr(task, field.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return task
