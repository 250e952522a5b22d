"""The README's module map names every module of the package, and nothing that is gone."""

from __future__ import annotations

import re


def test_the_module_map_lists_every_module(repo) -> None:
    readme = (repo / "README.md").read_text(encoding="utf-8")
    modules = {
        path.relative_to(repo).as_posix()
        for path in (repo / "stages").rglob("*.py")
        if path.name != "__init__.py"
    }
    mapped = set(re.findall(r"^\| `(stages/[\w/]+\.py)` \|", readme, flags=re.MULTILINE))
    assert modules - mapped == set(), "modules missing from the README's map"
    assert mapped - modules == set(), "the README's map names modules that do not exist"
