"""Write outputs atomically: to a temporary file beside the target, then rename.
Also the one file-hashing helper the stages share.

A crash leaves either the old file or no file, never a half-written one that DVC
would accept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

BLOCK = 1 << 20


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}"
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path | str, text: str) -> None:
    """Atomically write a UTF-8 text file."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(target: Path | str, data: dict[str, Any]) -> None:
    """Atomically write pretty, key-sorted JSON (stable bytes for DVC)."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(target: Path | str, frame: pd.DataFrame) -> None:
    """Atomically write a CSV without the index."""
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False, lineterminator="\n")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
