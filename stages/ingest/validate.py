"""Stage `validate`: refuse bad params before DVC runs a stage whose outputs they would cost.

DVC deletes a stage's outputs before running it, so a bad value must be caught by an
earlier stage. This one tracks every params block and writes a marker that stays
byte-identical while the params are valid: it invalidates nothing, and when it fails,
DVC stops before touching data, models or metrics.

Loading params.yaml already refused every value that is wrong on its own; what is left
needs the machine: the data source, the Keras backend, and each local weights file
(HDF5, then loaded into its backbone: Keras is imported only when one is named).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from stages.core.atomic import write_text
from stages.core.config import BackboneParams, Params
from stages.core.errors import ConfigError
from stages.core.weights import check_weights_file
from stages.ingest.source import source_of

MARKER = "params.yaml: every block, the data source and every weights file are valid\n"


def run(params: Params, marker: Path) -> None:
    """Check the data source, the backend and the weights files; then write the marker."""
    source_of(params.data).check(Path.cwd(), params.variations)
    check_backend(params)
    check_weights(params)
    write_text(marker, MARKER)


def check_backend(params: Params) -> None:
    """A backend named in train.backend must be installed (auto takes what there is)."""
    backend = params.train.backend
    if backend != "auto" and not installed(backend):
        raise ConfigError(f"train.backend: {backend} is not installed in this environment")


def installed(package: str) -> bool:
    """Whether `package` can be imported here."""
    return importlib.util.find_spec(package) is not None


def check_weights(params: Params) -> None:
    """Each local weights file: there and HDF5 (without Keras), then loaded into its
    variation's backbone; each refusal names `variations.<name>.backbone.weights`."""
    local = {
        name: backbone for name in params.variations if (backbone := _local_weights(params, name))
    }
    for name, backbone in local.items():
        _naming(name, check_weights_file, backbone.weights)
    if not local:
        return
    if "keras" not in sys.modules:  # any backend loads weights: the one train will use
        from stages.core.backend import use_backend

        use_backend(params.train.backend)
    from stages.training.backbone import build_backbone

    for name, backbone in local.items():
        _naming(name, build_backbone, backbone, params.image)


def _local_weights(params: Params, name: str) -> BackboneParams | None:
    """The variation's backbone, where it names a local weights file."""
    backbone = params.variations[name].backbone
    if backbone is None or backbone.weights in (None, "imagenet"):
        return None
    return backbone


def _naming(name: str, check: Callable[..., object], *args: object) -> None:
    """Run `check(*args)`; its ConfigError about `backbone.…` names the variation."""
    try:
        check(*args)
    except ConfigError as error:
        raise ConfigError(f"variations.{name}.{error}") from None
