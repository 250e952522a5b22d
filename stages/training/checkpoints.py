"""Resume checkpoints: held by the run that uses one, collected once none can resume it.

A run's checkpoint folder is `<root>/<variation>-<seed>-<fingerprint>` (train.py's
`checkpoint_folder`); the fingerprint covers everything training reads. A killed run
whose params or data then change leaves a folder nothing will resume (74 MB for v4).
When a run starts it removes the folders of its own variation and seed under other
fingerprints: only the one it computed could ever be resumed by it. A folder another
live process holds (its lock, below) is left alone, whatever its name.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from stages.core.errors import CatdogError

LOCK = ".lock"
DIGITS = 12  # the fingerprint's hex digits in a folder's name


@contextlib.contextmanager
def held(folder: Path, run: str) -> Iterator[None]:
    """Create `folder` and hold it for this process: an exclusive lock on its LOCK file,
    which the system drops when the process ends, even by `kill -9`. A CatdogError if
    another process holds it (the same run, twice at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as handle:
        if _locked_by_another(handle):
            raise CatdogError(f"{run}: {folder} is in use by another run of the same params")
        yield


def _locked_by_another(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def siblings(folder: Path) -> list[Path]:
    """The other checkpoint folders of `folder`'s variation and seed (another fingerprint)."""
    run = folder.name[: -DIGITS - 1]  # `<variation>-<seed>`
    pattern = re.compile(re.escape(run) + rf"-[0-9a-f]{{{DIGITS}}}")
    if not folder.parent.is_dir():
        return []
    return sorted(
        path
        for path in folder.parent.iterdir()
        if path != folder and path.is_dir() and pattern.fullmatch(path.name)
    )


def size_of(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def collect_stale(folder: Path, run: str) -> list[Path]:
    """Remove the siblings of `folder` no live process holds, one line each on stderr;
    return those removed."""
    removed = []
    for stale in siblings(folder):
        size = size_of(stale)
        with (stale / LOCK).open("a") as handle:
            if _locked_by_another(handle):
                print(f"{run}: {stale} is in use by another run; left alone", file=sys.stderr)
                continue
            shutil.rmtree(stale)
        removed.append(stale)
        print(
            f"{run}: removed {stale} ({size / 1e6:.1f} MB), a checkpoint saved under other "
            "params or data: nothing can resume it",
            file=sys.stderr,
        )
    return removed
