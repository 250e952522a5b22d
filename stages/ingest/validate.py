"""Stage `validate`: refuse bad params before DVC runs a stage whose outputs they would cost.

DVC deletes a stage's outputs before running it, so a bad value must be caught by an
earlier stage. This one tracks every params block and writes a marker that stays
byte-identical while the params are valid: it invalidates nothing, and when it fails,
DVC stops before touching data, models or metrics.
"""

from __future__ import annotations

from pathlib import Path

from stages.core.atomic import write_text
from stages.core.config import Params
from stages.core.errors import ConfigError
from stages.ingest.source import source_of

MARKER = "params.yaml: every block, the data source and every weights file are valid\n"


def check_weights_files(params: Params) -> None:
    """Every backbone's `weights` is imagenet, null or a file that exists."""
    for name, variation in params.variations.items():
        weights = variation.backbone.weights if variation.backbone else None
        if weights not in (None, "imagenet") and not Path(weights).is_file():
            raise ConfigError(f"variations.{name}.backbone.weights: {weights}: no such file")


def run(params: Params, marker: Path) -> None:
    """Check the data source and the weights files; then write the marker."""
    source_of(params.data).check(Path.cwd(), params.variations)
    check_weights_files(params)
    write_text(marker, MARKER)
