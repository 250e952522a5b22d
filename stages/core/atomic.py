"""Write outputs atomically: to a temporary file beside the target, then rename.
Also the one file-hashing helper the stages share.

A crash leaves either the old file or no file, never a half-written one that DVC
would accept; what it does leave, a temporary beside the target, the next run of the
stage removes (`clear_stale_temporaries`), with those DVC leaves when killed mid-copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

BLOCK = 1 << 20
# The random part of a name from tempfile.mkstemp, and of one from DVC's tmp_fname
# (dvc_objects: secrets.token_urlsafe(16)).
MKSTEMP_RANDOM = r"[a-z0-9_]{8}"
DVC_RANDOM = r"[A-Za-z0-9_-]{22}"


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


def temporary_patterns(target: Path) -> list[re.Pattern[str]]:
    """The names of the temporaries that writing `target` leaves when killed, in its folder:
    atomic_path's `.<stem>.<random>.tmp<suffix>`, DVC's `.<random>.tmp` (a copy into the
    folder) and DVC's `<name>.<random>.tmp` (a move onto the target)."""
    stem, suffix, name = (re.escape(part) for part in (target.stem, target.suffix, target.name))
    return [
        re.compile(rf"\.{stem}\.{MKSTEMP_RANDOM}\.tmp{suffix}"),
        re.compile(rf"\.{DVC_RANDOM}\.tmp"),
        re.compile(rf"{name}\.{DVC_RANDOM}\.tmp"),
    ]


def clear_stale_temporaries(targets: Iterable[Path]) -> dict[Path, int]:
    """Remove the temporaries a killed run left beside `targets` (the outputs of the stage
    that is starting, whose folders it owns): regular files whose names match
    `temporary_patterns`, nothing else. Returns each removed file with its size in bytes."""
    patterns: dict[Path, list[re.Pattern[str]]] = {}
    for target in targets:
        patterns.setdefault(Path(target).parent, []).extend(temporary_patterns(Path(target)))
    removed = {}
    for folder, folder_patterns in patterns.items():
        for path, size in _matching_files(folder, folder_patterns):
            path.unlink(missing_ok=True)
            removed[path] = size
    return removed


def _matching_files(folder: Path, patterns: list[re.Pattern[str]]) -> Iterator[tuple[Path, int]]:
    """The regular files (not links, not folders) in `folder` that a pattern names fully."""
    if not folder.is_dir():
        return
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if any(pattern.fullmatch(entry.name) for pattern in patterns):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), entry.stat(follow_symlinks=False).st_size


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
