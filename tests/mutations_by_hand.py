"""Realistic regressions, applied by hand: each must make the fast tests fail.

Run from the repository root: `python tests/mutations_by_hand.py`. Each mutation is applied
to the working tree, the fast test file that guards it runs, and the file is restored.
mutmut (`make mutate`) covers the functions; these cover what it does not mutate (class-level
config such as pydantic's strict mode) and the seven regressions issue 18 found.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# (what, file, original text, mutated text, the fast tests that must fail)

MUTATIONS = [
    (
        "evaluate: fp/fn swapped",
        "stages/reporting/evaluate.py",
        "tn, fp, fn, tp = confusion_matrix",
        "tn, fn, fp, tp = confusion_matrix",
        "tests/test_evaluate.py",
    ),
    (
        "atomic: write_text in place",
        "stages/core/atomic.py",
        "    with atomic_path(target) as temporary:\n"
        '        temporary.write_text(text, encoding="utf-8")',
        '    Path(target).write_text(text, encoding="utf-8")',
        "tests/test_atomic.py",
    ),
    (
        "atomic: write_csv in place",
        "stages/core/atomic.py",
        "    with atomic_path(target) as temporary:\n        frame.to_csv(temporary,",
        "    if True:\n        frame.to_csv(target,",
        "tests/test_atomic.py",
    ),
    (
        "atomic: atomic_path yields the target",
        "stages/core/atomic.py",
        "        yield temporary\n",
        "        yield target\n",
        "tests/test_atomic.py",
    ),
    (
        "atomic: rename after an error",
        "stages/core/atomic.py",
        "        yield temporary\n"
        "        os.chmod(temporary, 0o666 & ~_current_umask())\n"
        "        os.replace(temporary, target)\n"
        "    finally:\n",
        "        yield temporary\n"
        "    finally:\n"
        "        os.chmod(temporary, 0o666 & ~_current_umask())\n"
        "        os.replace(temporary, target)\n",
        "tests/test_atomic.py",
    ),
    (
        "config: not strict",
        "stages/core/config.py",
        'extra="forbid", strict=True',
        'extra="forbid", strict=False',
        "tests/test_config_types.py",
    ),
    (
        "archive: nested train.zip unchecked",
        "stages/ingest/archive.py",
        '                refuse_unsafe_entries(inner_names, f"{path} ({_nested_train(names)})")\n',
        "",
        "tests/test_archive.py",
    ),
    (
        "download: 429 not retried",
        "stages/ingest/download.py",
        "error.code < 500 and error.code != 429",
        "error.code < 500",
        "tests/test_download_faults.py",
    ),
    (
        "split: smallest_test <= 1",
        "stages/ingest/split.py",
        "smallest_test < 1 or",
        "smallest_test <= 1 or",
        "tests/test_split.py",
    ),
    (
        "split: train side < 2",
        "stages/ingest/split.py",
        "min(counts) - smallest_test < 1",
        "min(counts) - smallest_test < 2",
        "tests/test_split.py",
    ),
    (
        "split: train side <= 0",
        "stages/ingest/split.py",
        "min(counts) - smallest_test < 1",
        "min(counts) - smallest_test <= 0",
        "tests/test_split.py",
    ),
]


def main() -> int:
    survived = 0
    for name, path, old, new, tests in MUTATIONS:
        file = Path(path)
        original = file.read_text()
        assert original.count(old) == 1, (name, original.count(old))
        file.write_text(original.replace(old, new))
        try:
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", tests],
                capture_output=True,
                text=True,
            )
        finally:
            file.write_text(original)
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        verdict = "KILLED" if result.returncode == 1 else f"SURVIVED (rc {result.returncode})"
        print(f"{verdict:10} {name}: {failed[:1]}", flush=True)
        survived += result.returncode != 1
    return survived


if __name__ == "__main__":
    sys.exit(main())
