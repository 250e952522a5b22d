"""`make setup` installs the tested versions (constraints.txt), which satisfy pyproject.toml,
and Keras stays below the first version whose private optimizer internals are untested."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def pins(repo) -> dict[str, str]:
    lines = (repo / "constraints.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {canonicalize_name(name): version for name, version in pairs}


def requirements(repo) -> list[Requirement]:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(line) for line in listed]


def test_constraints_pin_every_dependency_within_pyproject(repo) -> None:
    pinned = pins(repo)
    for requirement in requirements(repo):
        version = pinned.get(canonicalize_name(requirement.name))
        assert version, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version}"


def test_keras_is_capped_and_setup_installs_the_constraints(repo) -> None:
    (keras,) = [r for r in requirements(repo) if r.name == "keras"]
    assert any(spec.operator == "<" for spec in keras.specifier)
    makefile = (repo / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in makefile
