"""Packaging: dependency ranges and exact CI pins, an SPDX licence, a layout the README describes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins() -> dict[str, Version]:
    found = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            found[canonicalize_name(name)] = Version(version)
    return found


def declared() -> list[Requirement]:
    return [Requirement(r) for r in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]]


def test_dependencies_are_ranges_not_exact_pins():
    exact = [str(r) for r in declared() if any(s.operator == "==" for s in r.specifier)]
    assert not exact, f"exact pins force a user's environment: {exact}; pin in constraints.txt instead"


def test_constraints_pin_every_dependency_inside_its_declared_range():
    pinned = pins()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} has no exact version in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), (req, pinned[name])
    assert pinned["torch"] == Version("2.13.0")  # the CPU wheel CI installs first


def test_licence_is_an_spdx_expression_with_its_file():
    assert PROJECT["license"] == "MIT"
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert PROJECT["license-files"] == ["LICENSE"]


def test_the_readme_development_tree_matches_the_package():
    """Every module of the package is in the README's Development tree, and the tree names no module
    that is not there; and each module stays small enough to read in one sitting."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## Development", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"\b([a-z_0-9]+\.py)\b", tree))
    package = REPO / "src" / "stancebench"
    modules = {p for p in package.rglob("*.py") if p.name not in {"__init__.py", "__main__.py"}
               and "metrics" not in p.relative_to(package).parts}
    assert {p.name for p in modules} == named
    for folder in {p.parent for p in modules if p.parent != package}:
        assert f"{folder.name}/" in tree, folder
    too_long = {str(p.relative_to(package)): n for p in modules if (n := len(p.read_text().splitlines())) > 450}
    assert not too_long, too_long
