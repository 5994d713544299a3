"""constraints/min.txt pins exactly the floors pyproject.toml declares.

`make test-min` installs modelpress under these constraints; a floor raised or
added in pyproject.toml without its pin here would go untested.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"docs", "dev"}  # extras of developer tools (mkdocs, pytest, ruff): not floors of modelpress
# torch: the min test runs on the local CPU build, above the declared floor
PINNED_ABOVE_FLOOR = {"torch": "2.13.0"}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra, reqs in project["optional-dependencies"].items():
        if extra not in TOOLS:
            lines += reqs
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != "modelpress"}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "min.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
            assert match, f"constraints/min.txt: {line!r} is not NAME==VERSION"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def floor(req: Requirement) -> str | None:
    lows = [spec.version for spec in req.specifier if spec.operator == ">="]
    return lows[0] if len(lows) == 1 else None


def test_every_declared_dependency_has_one_floor():
    missing = sorted(name for name, req in declared().items() if floor(req) is None)
    assert missing == [], f"pyproject.toml: {missing} need one '>=' floor"


def test_min_constraints_pin_the_declared_floors():
    pins = {name: Version(v) for name, v in pinned().items()}
    expected = {name: Version(PINNED_ABOVE_FLOOR.get(name) or floor(req)) for name, req in declared().items()}
    assert pins == expected, "constraints/min.txt must pin each floor of pyproject.toml (torch: 2.13.0)"


def test_torch_pin_lies_within_the_declared_range():
    torch = declared()["torch"]
    assert torch.specifier.contains(PINNED_ABOVE_FLOOR["torch"])
