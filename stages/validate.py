"""Stages `validate_data` and `validate@<variation>`: refuse bad params before DVC runs a
stage whose outputs they would cost.

DVC deletes a stage's outputs before running it, so a bad value must be caught by an
earlier stage. These stages depend on the same params sections as the stages after
them, and write a marker that stays byte-identical while the params are valid: they
invalidate nothing, and when they fail, DVC stops before touching models or metrics.
"""

from __future__ import annotations

from pathlib import Path

from stages.archive import find_photos
from stages.atomic import write_text
from stages.config import KNOWN_SOURCES, Params
from stages.errors import CatdogError


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


def check_data_source(params: Params) -> None:
    """A local archive named by data.source must exist and hold photos of both classes."""
    if params.data.source not in KNOWN_SOURCES:
        check_local_archive(params.data.source)


def run(params: Params, variation: str | None, marker: Path) -> None:
    """Check the data source, or the named variation; then write the marker."""
    if variation is None:
        check_data_source(params)
        write_text(marker, "params.yaml: data, split and image are valid\n")
    else:
        params.variation(variation)
        write_text(marker, f"params.yaml: variations.{variation} and its blocks are valid\n")
