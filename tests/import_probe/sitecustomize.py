"""Python loads this at start-up when its folder is on PYTHONPATH (tests/test_pipeline.py puts
it there for one `dvc repro`). Inside a DVC stage's command (DVC sets DVC_STAGE), it
records at exit which of the project's modules the process loaded, one file per process
in the folder CATDOG_IMPORT_LOG names, as `<stage>.<pid>.txt` with one path per line
relative to the folder that holds the `stages` package."""

import atexit
import os
import sys
from pathlib import Path


def _record(stage: str, log: Path) -> None:
    package = sys.modules.get("stages")
    if package is None or package.__file__ is None:
        return
    root = Path(package.__file__).resolve().parents[1]
    loaded = sorted(
        Path(module.__file__).resolve().relative_to(root).as_posix()
        for name, module in list(sys.modules.items())
        if (name == "stages" or name.startswith("stages.")) and getattr(module, "__file__", None)
    )
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{stage}.{os.getpid()}.txt").write_text("".join(f"{path}\n" for path in loaded))


if os.environ.get("DVC_STAGE") and os.environ.get("CATDOG_IMPORT_LOG"):
    atexit.register(_record, os.environ["DVC_STAGE"], Path(os.environ["CATDOG_IMPORT_LOG"]))
