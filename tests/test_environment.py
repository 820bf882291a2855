"""requirements.txt is the one list of pins; environment.yml, pyproject and the
running environment must agree with it. No version is written here: the pins
are read from requirements.txt, so changing a pin there is enough."""

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
DIRECT_HEADER = "# --- what the course uses directly ---"


def requirement_lines(text: str) -> list[str]:
    """The non-empty lines of a requirements text, comments removed."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def requirements_text() -> str:
    return (ROOT / "requirements.txt").read_text()


def direct_block() -> list[str]:
    """The requirement lines between the "directly" header and the next header."""
    lines = requirements_text().splitlines()
    assert DIRECT_HEADER in lines, f"requirements.txt lacks the line {DIRECT_HEADER!r}"
    block = []
    for line in lines[lines.index(DIRECT_HEADER) + 1 :]:
        if line.startswith("# ---"):
            break
        block.append(line)
    return requirement_lines("\n".join(block))


def pins() -> dict[str, str]:
    """Canonical package name -> pinned version of every line that is a pin."""
    return {
        canonicalize_name(m["name"]): m["version"]
        for m in map(PIN.match, requirement_lines(requirements_text()))
        if m
    }


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def requires_python() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The lowest and the first excluded Python of pyproject's requires-python
    (written as >=X.Y.Z,<X.Y)."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"
    ]
    match = re.fullmatch(r">=(\d+\.\d+\.\d+),<(\d+\.\d+)", spec.strip())
    assert match, f"requires-python={spec!r}; expected the form >=X.Y.Z,<X.Y"
    low, high = (tuple(int(part) for part in m.split(".")) for m in match.groups())
    return low, high


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
    python = [d for d in conda if d.startswith("python=")]
    assert sorted(conda) == ["pip", *python] and len(python) == 1
    low, high = requires_python()
    version = tuple(int(part) for part in python[0].removeprefix("python=").split("."))
    assert low[:2] <= version < high, f"environment.yml asks for {python[0]}"


def test_pyproject_repeats_no_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project.get("dependencies", []) == []


def test_running_python_is_one_pyproject_accepts():
    low, high = requires_python()
    assert low <= sys.version_info[:3] and sys.version_info[:2] < high


def test_every_requirement_is_pinned_exactly_once():
    lines = requirement_lines(requirements_text())
    unpinned = [line for line in lines if not PIN.match(line)]
    assert not unpinned, f"not a plain == pin: {unpinned}"
    names = [canonicalize_name(PIN.match(line)["name"]) for line in lines]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"pinned more than once: {twice}"


def test_the_direct_block_lists_the_course_stack():
    names = {canonicalize_name(line.split("==")[0]) for line in direct_block()}
    assert {"tensorflow", "keras", "numpy", "matplotlib", "pytest"} <= names


@pytest.mark.parametrize("line", direct_block())
def test_direct_dependency_is_pinned_and_installed_at_its_pin(line):
    match = PIN.match(line)
    assert match, f"requirements.txt: {line!r} is not pinned with =="
    try:
        installed = importlib.metadata.version(match["name"])
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{match['name']} is pinned but not installed")
    assert Version(installed) == Version(match["version"]), (
        f"{match['name']}: pinned {match['version']}, installed {installed}"
    )


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
