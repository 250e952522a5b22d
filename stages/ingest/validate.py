"""Stages `validate_data` and `validate@<variation>`: refuse bad params before DVC runs a
stage whose outputs they would cost.

DVC deletes a stage's outputs before running it, so a bad value must be caught by an
earlier stage. These stages depend on the same params sections as the stages after
them, and write a marker that stays byte-identical while the params are valid: they
invalidate nothing, and when they fail, DVC stops before touching models or metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

from stages.core.atomic import write_text
from stages.core.config import KNOWN_SOURCES, Params
from stages.core.errors import CatdogError
from stages.ingest.archive import find_photos


def check_local_archive(source: str) -> Path:
    """The path `data.source` names, once it is known to exist and hold both classes."""
    path = Path(source)
    if not path.is_file():
        raise CatdogError(f"data.source: {source}: no such file")
    try:
        find_photos(path)
    except CatdogError as problem:
        raise CatdogError(f"data.source: {problem}") from None
    return path


def check_kaggle_credentials() -> None:
    """The kaggle package must be able to find credentials (environment or kaggle.json)."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    if not (folder / "kaggle.json").is_file():
        raise CatdogError(
            "data.source kaggle: no credentials; put kaggle.json in ~/.kaggle "
            "(mode 600) or set KAGGLE_USERNAME and KAGGLE_KEY"
        )


def check_data_source(params: Params) -> None:
    """What data.source names must be reachable: a local archive must exist and hold
    photos of both classes; Kaggle needs credentials."""
    if params.data.source == "kaggle":
        check_kaggle_credentials()
    elif params.data.source not in KNOWN_SOURCES:
        check_local_archive(params.data.source)


def run(params: Params, variation: str | None, marker: Path) -> None:
    """Check the data source, or the named variation; then write the marker."""
    if variation is None:
        check_data_source(params)
        write_text(marker, "params.yaml: data, split and image are valid\n")
    else:
        params.variation(variation)
        write_text(marker, f"params.yaml: variations.{variation} and its blocks are valid\n")
