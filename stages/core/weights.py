"""A backbone's local weights file, checked without Keras: it exists and is HDF5.

What is in it, and whether it fits the backbone, only Keras can tell
(stages/training/backbone.py); these checks come first, so that a wrong file is refused
without paying for Keras' import.
"""

from __future__ import annotations

from pathlib import Path

from stages.core.errors import ConfigError

# The HDF5 format signature, at offset 0 or, after a user block, at 512, 1024, 2048, ...
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FIRST_USER_BLOCK = 512


def is_hdf5(path: Path) -> bool:
    """Whether `path` starts an HDF5 superblock where the format allows one."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            handle.seek(offset)
            if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = max(FIRST_USER_BLOCK, offset * 2)
    return False


def check_weights_file(weights: str) -> Path:
    """The file `backbone.weights` names, once it exists and is HDF5 (a ConfigError
    naming the key otherwise)."""
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"backbone.weights: {weights}: no such file")
    try:
        hdf5 = is_hdf5(path)
    except OSError as error:
        reason = f"cannot be read ({error.strerror})"
        raise ConfigError(f"backbone.weights: {weights}: {reason}") from None
    if not hdf5:
        raise ConfigError(f"backbone.weights: {weights}: not an HDF5 file")
    return path
