"""Refuse to finish a command whose params file changed while it ran.

DVC decides to run a stage from the params it reads before the command, but records in
dvc.lock the params it reads after it. Edit `variations.v4.learning_rate` while
`train@v4-42` trains and dvc.lock would say the new rate for a model trained at the old
one, with `dvc status` clean. So every command compares the params file's mapping as it
loaded it with the file read again as it ends, and fails (DVC then writes no lock) with
one line naming each changed key.

The whole file is compared, keys flattened: DVC's params are per stage, but the command
does not know which its stage tracks. A stage that fails for a change it does not read
loses little: train keeps its checkpoint for such a rerun (stages/training/train.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.config import read_params_mapping
from stages.core.errors import ConfigError

# Changed keys named in the error line; the rest are counted.
NAMED = 6
ABSENT = object()


def flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (`variations.v4.learning_rate`); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


@dataclass(frozen=True)
class Change:
    """One dotted key whose value differs (ABSENT where the key is missing)."""

    key: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.key} ({_show(self.before)} -> {_show(self.after)})"


def _show(value: Any) -> str:
    return "absent" if value is ABSENT else json.dumps(value, default=str)


def changes(before: dict, after: dict) -> list[Change]:
    """Every key of either mapping whose value differs, in the order the files list them."""
    old, new = flatten(before), flatten(after)
    keys = [*old, *(key for key in new if key not in old)]
    return [
        Change(key, old.get(key, ABSENT), new.get(key, ABSENT))
        for key in keys
        if old.get(key, ABSENT) != new.get(key, ABSENT)
    ]


def describe(path: Path, command: str, found: list[Change], advice: str) -> str:
    """The one line: the file, the command, each changed key (up to NAMED), the advice."""
    named = ", ".join(str(change) for change in found[:NAMED])
    more = f" and {len(found) - NAMED} more" if len(found) > NAMED else ""
    return f"{path} changed while {command} ran: {named}{more}; {advice}"


def check_unchanged(path: Path, loaded: dict, command: str, advice: str) -> None:
    """A ConfigError (one line) if the params file `path` no longer reads as `loaded`, the
    mapping the command `command` ran with."""
    try:
        now = read_params_mapping(path)
    except ConfigError as error:
        raise ConfigError(
            f"{path} changed while {command} ran and no longer reads back "
            f"({str(error).removeprefix(f'{path}: ')}); {advice}"
        ) from None
    if found := changes(loaded, now):
        raise ConfigError(describe(path, command, found, advice))
