"""params.yaml for a test: a copy with edits (kept in the form DVC writes, comments and all),
and Params objects changed in memory."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

if TYPE_CHECKING:  # an annotation only: the workspace helpers load no stage code
    from stages.core.config import Params


def edit_params(workspace: Path, edit: Callable[[Any], None]) -> None:
    """Apply `edit` to the workspace's params.yaml, keeping its comments."""
    yaml = YAML()
    path = workspace / "params.yaml"
    params = yaml.load(path.read_text())
    edit(params)
    with path.open("w") as handle:
        yaml.dump(params, handle)


def _parent_of(params: Any, dotted: str) -> tuple[Any, str]:
    *parents, last = dotted.split(".")
    for key in parents:
        params = params[key]
    return params, last


def set_param(dotted: str, value: Any) -> Callable[[Any], None]:
    """An edit for `edit_params`: set the key at a dotted path."""

    def edit(params: Any) -> None:
        node, key = _parent_of(params, dotted)
        node[key] = value

    return edit


def set_params(settings: Mapping[str, Any]) -> Callable[[Any], None]:
    """An edit for `edit_params`: set each dotted key to its value."""

    def edit(params: Any) -> None:
        for dotted, value in settings.items():
            set_param(dotted, value)(params)

    return edit


def delete_param(dotted: str) -> Callable[[Any], None]:
    """An edit for `edit_params`: remove the key at a dotted path."""

    def edit(params: Any) -> None:
        node, key = _parent_of(params, dotted)
        del node[key]

    return edit


def write_params(folder: Path, repo: Path, edit: Callable[[Any], None] | None = None) -> Path:
    """A copy of the repo's params.yaml in `folder`, with `edit` applied; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "params.yaml", folder / "params.yaml")
    if edit is not None:
        edit_params(folder, edit)
    return folder / "params.yaml"


def offline(params: Params) -> Params:
    """`params` with every backbone's weights random (`weights: null`): no download."""
    variations = {
        name: variation.model_copy(
            update={"backbone": variation.backbone.model_copy(update={"weights": None})}
        )
        if variation.backbone
        else variation
        for name, variation in params.variations.items()
    }
    return params.model_copy(update={"variations": variations})
