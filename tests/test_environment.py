"""requirements.txt is the one list of pins; environment.yml, pyproject and the
running environment must agree with it."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][^\s*=]*)$")

# Direct dependencies the course needs; "3.15.*" means any 3.15 release.
REQUIRED_PINS = {
    "tensorflow": "2.21.0",
    "keras": "3.15.*",
    "jupyterlab": "4.6.*",
    "papermill": "2.7.0",
    "nbval": "0.11.0",
    "numpy": "*",
    "matplotlib": "*",
    "ipykernel": "*",
    "pytest": "*",
    "ruff": "*",
}


def requirement_lines() -> list[str]:
    """The non-empty lines of requirements.txt, comments removed."""
    text = (ROOT / "requirements.txt").read_text()
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def pins() -> dict[str, str]:
    """Canonical package name -> pinned version (asserts every line is a pin)."""
    found = {}
    for line in requirement_lines():
        match = PIN.match(line)
        assert match, f"requirements.txt line {line!r} is not pinned with =="
        found[canonicalize_name(match["name"])] = match["version"]
    return found


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def requires_python() -> str:
    """The X.Y of pyproject's requires-python (written as ==X.Y.*)."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"
    ]
    match = re.fullmatch(r"==(\d+\.\d+)\.\*", spec.strip())
    assert match, f"requires-python={spec!r}; expected the form ==X.Y.*"
    return match[1]


def test_environment_yml_installs_requirements_and_the_package():
    dependencies = environment_yml()["dependencies"]
    pip_sections = [d["pip"] for d in dependencies if isinstance(d, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    pip_lines = [line.strip() for line in pip_sections[0]]
    assert "-r requirements.txt" in pip_lines
    assert "-e ." in pip_lines
    assert pip_lines.index("-r requirements.txt") < pip_lines.index("-e .")


def test_environment_yml_takes_only_python_and_pip_from_conda():
    conda = [d for d in environment_yml()["dependencies"] if isinstance(d, str)]
    assert sorted(conda) == ["pip", f"python={requires_python()}"]


def test_python_version_agrees_with_pyproject():
    assert requires_python() == "3.11"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == requires_python()


def test_every_requirement_is_pinned_exactly_once():
    names = [
        canonicalize_name(PIN.match(line)["name"])
        for line in requirement_lines()
        if PIN.match(line)
    ]
    assert len(names) == len(requirement_lines()), "a line is not a plain == pin"
    assert len(names) == len(set(names)), "a package is pinned twice"


@pytest.mark.parametrize("name, wanted", sorted(REQUIRED_PINS.items()))
def test_direct_dependency_is_pinned(name, wanted):
    pinned = pins()
    assert name in pinned, f"{name} is missing from requirements.txt"
    if wanted.endswith("*"):
        assert pinned[name].startswith(wanted[:-1])
    else:
        assert pinned[name] == wanted


def test_installed_versions_equal_the_pins():
    drift = []
    for name, pinned in pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            drift.append(f"{name}: pinned {pinned}, not installed")
            continue
        if Version(installed) != Version(pinned):
            drift.append(f"{name}: pinned {pinned}, installed {installed}")
    assert not drift, "the environment differs from requirements.txt:\n" + "\n".join(
        drift
    )
