"""MNIST, loaded and verified, split into digit tasks, sampled (`make data` gets it)."""

import gzip
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
IDX_SHA256 = {  # SHA-256 of the uncompressed files, as LeCun et al. published them
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738"
    "ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5"
    "333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77"
    "db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351"
    "222c34898ecbeaf847f06e48f7ec33f2",
}
NPZ_NAME = "mnist.npz"
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

class DataIntegrityError(RuntimeError):
    """A data file exists but its content is not the published MNIST."""

class DataUnavailableError(RuntimeError):
    """No source could provide MNIST."""

def verify_file(path: Path, expected: str) -> bytes:
    """The bytes of ``path`` (decompressed, for ``.gz``); DataIntegrityError unless
    their SHA-256 is ``expected``."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        raw = f.read()
    if (actual := hashlib.sha256(raw).hexdigest()) != expected:
        raise DataIntegrityError(
            f"MNIST file {path} is corrupted or truncated:\n"
            f"  expected SHA-256 {expected}\n  actual   SHA-256 {actual}\n"
            f"It was not used. Delete it and run `make data` to fetch a good copy.")
    return raw

def _idx(raw: bytes) -> np.ndarray:
    """A verified IDX file's bytes as the uint8 array of the shape its header gives."""
    shape = np.frombuffer(raw, ">u4", count=raw[3], offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(shape)

def load_local(folder: Path) -> Arrays | None:
    """Verified MNIST from a folder (IDX files, raw or .gz, or mnist.npz), or None."""
    paths = {n: next((p for p in (folder / n, folder / f"{n}.gz") if p.is_file()), None)
             for n in IDX_SHA256}
    if all(paths.values()):
        x = [_idx(verify_file(paths[n], digest)) for n, digest in IDX_SHA256.items()]
        return (x[0], x[1]), (x[2], x[3])
    if (folder / NPZ_NAME).is_file():
        verify_file(folder / NPZ_NAME, NPZ_SHA256)
        with np.load(folder / NPZ_NAME) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    return None

def load_mnist(data_dir: Path | None = None) -> Arrays:
    """Verified uint8 MNIST :data:`Arrays` from ``data_dir`` (data/) or $MNIST_DIR."""
    folders = [Path(DEFAULT_DATA_DIR if data_dir is None else data_dir)]
    folders += [Path(os.environ["MNIST_DIR"])] if os.environ.get("MNIST_DIR") else []
    for folder in folders:
        if (arrays := load_local(folder)) is not None:
            return arrays
    raise DataUnavailableError(f"No MNIST in {' or '.join(map(str, folders))}. Run "
                               "`make data` first (it fetches and verifies the files).")

def check_digits(digits: Sequence[int], name: str) -> list[int]:
    """``digits`` as a list, or ValueError unless they are 2+ distinct digits 0-9."""
    if isinstance(digits, str | bytes) or not isinstance(digits, Sequence):
        raise ValueError(f"{name} must be a list of digits, got {digits!r}")
    bad = [d for d in digits if isinstance(d, bool)
           or not isinstance(d, int | np.integer) or not 0 <= d <= 9]
    if bad:
        raise ValueError(f"{name}={list(digits)!r} holds {bad!r}; digits must be 0-9")
    repeated = sorted({int(d) for d in digits if list(digits).count(d) > 1})
    if repeated:
        raise ValueError(f"{name}={list(digits)!r} repeats {repeated}; no repeats")
    if len(digits) < 2:
        raise ValueError(f"{name}={list(digits)!r}; give 2 or more distinct digits 0-9")
    return [int(d) for d in digits]

def check_digit_split(source_digits, target_digits) -> tuple[list[int], list[int]]:
    """Validate the two digit lists of a transfer experiment (each, and disjoint)."""
    source = check_digits(source_digits, "source_digits")
    target = check_digits(target_digits, "target_digits")
    shared = sorted(set(source) & set(target))
    if shared:
        raise ValueError(f"source_digits={source} and target_digits={target} overlap "
                         f"in {shared}; the two tasks must use disjoint digits")
    return source, target

def select_digits(x: np.ndarray, y: np.ndarray, digits: Sequence[int]):
    """Keep the examples of ``digits``; relabel digit ``digits[i]`` as class ``i``."""
    digits = check_digits(digits, "digits")
    lookup = np.full(10, -1, dtype=np.int64)
    lookup[digits] = np.arange(len(digits))
    mask = lookup[y] >= 0
    return x[mask], lookup[y[mask]].astype(np.uint8)

def class_counts(y: np.ndarray, n_classes: int) -> list[int]:
    return np.bincount(y, minlength=n_classes).astype(int).tolist()

def sample_per_class(x: np.ndarray, y: np.ndarray, n_per_class: int, seed: int):
    """``n_per_class`` examples of every class, drawn without replacement, seeded."""
    if (isinstance(n_per_class, bool) or not isinstance(n_per_class, int | np.integer)
            or n_per_class < 1):
        raise ValueError(f"n_per_class={n_per_class!r}; it must be an integer >= 1")
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    if n_per_class > smallest:
        rarest = int(classes[counts.argmin()])
        raise ValueError(f"n_per_class={n_per_class} is more than class {rarest} "
                         f"holds ({smallest}); use at most {smallest}")
    rng = np.random.default_rng(seed)
    picked = np.concatenate([rng.choice(np.flatnonzero(y == c), n_per_class,
                                        replace=False) for c in classes])
    picked.sort()  # keep the original order; the training loop shuffles
    return x[picked], y[picked]

def _quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` (largest remainder)."""
    exact = counts * (total / counts.sum())
    quotas = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quotas), kind="stable")
    quotas[remainder_order[: total - quotas.sum()]] += 1
    return quotas

def stratified_split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """``(x, y)`` kept and ``(x, y)`` held out: ``fraction`` of every class, seeded."""
    check_fraction("validation_fraction", fraction)
    return _split_off(x, y, int(round(fraction * len(y))), seed)

def _split_off(x: np.ndarray, y: np.ndarray, n_out: int, seed: int):
    classes, counts = np.unique(y, return_counts=True)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=bool)
    for c, quota in zip(classes, _quotas(counts, n_out), strict=True):
        out[rng.choice(np.flatnonzero(y == c), quota, replace=False)] = True
    return (x[~out], y[~out]), (x[out], y[out])

def check_fraction(name: str, value) -> float:
    """``value`` if it is a number strictly between 0 and 1, else ValueError."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value < 1:
        raise ValueError(f"{name}={value!r}; it must be a number between 0 and 1")
    return float(value)

def check_cap(name: str, value) -> int | None:
    """``value`` if it is None or an integer >= 20, else ValueError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 20:
        raise ValueError(f"{name}={value!r}; use None (all images) or an integer >= 20")
    return int(value)

def cap_samples(x: np.ndarray, y: np.ndarray, max_samples: int | None, seed: int):
    """Exactly ``max_samples`` examples (or all, for None), class shares kept."""
    if check_cap("max_train_samples", max_samples) is None or max_samples >= len(y):
        return x, y
    (_, _), (x_kept, y_kept) = _split_off(x, y, max_samples, seed)
    return x_kept, y_kept

def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 in [0, 1], shape (N, 28, 28, 1)."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]

@dataclass(frozen=True)
class Task:
    """One task: its digits (digit ``digits[i]`` has label ``i``) and its parts."""
    digits: list[int]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.digits)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val),
                "test": len(self.y_test)}

    def counts_per_digit(self) -> dict[str, dict[int, int]]:
        parts = {"train": self.y_train, "validation": self.y_val, "test": self.y_test}
        return {part: dict(zip(self.digits, class_counts(y, self.n_classes),
                               strict=True)) for part, y in parts.items()}

def make_task(mnist: Arrays, digits: Sequence[int], *, validation_fraction: float,
              max_train_samples: int | None, seed: int) -> Task:
    """The task of ``digits``: train images capped, part held out; all test images."""
    (x_train_all, y_train_all), (x_test_all, y_test_all) = mnist
    x_pool, y_pool = select_digits(x_train_all, y_train_all, digits)
    x_pool, y_pool = cap_samples(x_pool, y_pool, max_train_samples, seed)
    (x_train, y_train), (x_val, y_val) = stratified_split(x_pool, y_pool,
                                                          validation_fraction, seed)
    x_test, y_test = select_digits(x_test_all, y_test_all, digits)
    return Task([int(d) for d in digits], to_model_input(x_train), y_train,
                to_model_input(x_val), y_val, to_model_input(x_test), y_test)
