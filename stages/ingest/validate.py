"""Stages `validate_data` and `validate@<variation>`: refuse bad params before DVC runs a
stage whose outputs they would cost.

DVC deletes a stage's outputs before running it, so a bad value must be caught by an
earlier stage. These stages depend on the same params sections as the stages after
them, and write a marker that stays byte-identical while the params are valid: they
invalidate nothing, and when they fail, DVC stops before touching models or metrics.
"""

from __future__ import annotations

from pathlib import Path

from stages.core.atomic import write_text
from stages.core.config import Params
from stages.core.errors import ConfigError
from stages.ingest.source import source_of


def run(params: Params, variation: str | None, marker: Path) -> None:
    """Check the data source, or the named variation; then write the marker."""
    if variation is None:
        source_of(params.data).check(Path.cwd(), params.variations)
        write_text(marker, "params.yaml: data, split and image are valid\n")
    else:
        backbone = params.variation(variation).backbone
        weights = backbone.weights if backbone else None
        if weights not in (None, "imagenet") and not Path(weights).is_file():
            raise ConfigError(f"variations.{variation}.backbone.weights: {weights}: no such file")
        write_text(marker, f"params.yaml: variations.{variation} and its blocks are valid\n")
