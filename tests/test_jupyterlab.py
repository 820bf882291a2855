"""JupyterLab starts and serves every committed notebook as a valid notebook.

One headless server per module, on 127.0.0.1 with a free port and a random
token; its config, data, runtime and IPython folders are throw-away, so nothing
lands in $HOME.  HTTP goes only to that server, with proxies switched off.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HOST = "127.0.0.1"
START_TIMEOUT = 60  # seconds until /api/status must answer
# No proxy, even if the environment names one: requests go to 127.0.0.1 only.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """Address and token of the running server, and a GET that returns JSON."""

    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://{HOST}:{port}"
        self.token = token

    def get(self, path: str, timeout: float = 10) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with OPENER.open(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen) -> None:
    """Ask the server to stop; kill it if it has not within 15 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def isolated_dirs(tmp_path_factory) -> dict[str, Path]:
    """Throw-away Jupyter and IPython folders, keyed by environment variable."""
    home = tmp_path_factory.mktemp("jupyter")
    names = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")
    folders = {name: home / name.lower() for name in (*names, "IPYTHONDIR")}
    for folder in folders.values():
        folder.mkdir()
    return folders


@pytest.fixture(scope="module")
def server(isolated_dirs, tmp_path_factory):
    """A headless JupyterLab on the repository, stopped after the module."""
    port, token = free_port(), secrets.token_hex(24)
    log = tmp_path_factory.mktemp("jupyter-log") / "server.log"
    env = {**os.environ, **{name: str(path) for name, path in isolated_dirs.items()}}
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail rather than move to another port
        f"--ServerApp.root_dir={ROOT}",
        f"--IdentityProvider.token={token}",
        # The server itself must not reach out either (news feed, update check).
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        lab = Server(port, token)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited with {process.returncode}:\n{log_tail(log)}"
                )
            try:
                status, _ = lab.get("/api/status", timeout=2)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no answer from {lab.base}/api/status after {START_TIMEOUT} s:"
                    f"\n{log_tail(log)}"
                )
            time.sleep(0.25)
        yield lab
    finally:
        stop(process)
    assert process.poll() is not None


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_jupyterlab_opens_the_notebook(server, notebook: Path):
    quoted = urllib.parse.quote(notebook.name)
    status, model = server.get(f"/api/contents/notebooks/{quoted}?content=1")

    assert status == 200
    assert model["name"] == notebook.name
    assert model["type"] == "notebook"
    assert model["format"] == "json"
    # The contents manager validates the notebook and reports problems here.
    assert not model.get("message"), model["message"]
    assert model["content"]["nbformat"] == 4
    assert model["content"]["cells"], f"{notebook.name} has no cells"
