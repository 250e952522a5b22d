"""Python loads this at start-up when its folder is on PYTHONPATH (benchmarks/
pipeline_overhead.py puts it there for one demo). Inside a DVC stage's command (DVC sets
DVC_STAGE) it times the process: when the kernel started it, when the interpreter reached
this file, how long its imports took (the outermost `import` statements, summed), when it
exited, and a train run's own train_seconds. One JSON line per process is appended to the
file CATDOG_STAGE_CLOCK names; a warm child (stages/core/warm.py runs this file again in
it) writes its own line, marked warm_child."""

import atexit
import builtins
import json
import os
import sys
import time

_imports = {"seconds": 0.0, "depth": 0}
_original_import = builtins.__import__


def _timed_import(*args, **kwargs):
    if _imports["depth"]:
        return _original_import(*args, **kwargs)
    _imports["depth"] = 1
    began = time.perf_counter()
    try:
        return _original_import(*args, **kwargs)
    finally:
        _imports["seconds"] += time.perf_counter() - began
        _imports["depth"] = 0


def _process_start() -> float:
    """The wall-clock time the kernel started this process (Linux /proc)."""
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as boot:
        booted = next(int(line.split()[1]) for line in boot if line.startswith("btime"))
    return booted + ticks / os.sysconf("SC_CLK_TCK")


def _train_seconds() -> float | None:
    if "--summary" not in sys.argv:
        return None
    path = sys.argv[sys.argv.index("--summary") + 1]
    try:
        with open(path) as summary:
            return float(json.load(summary)["train_seconds"])
    except (OSError, KeyError, ValueError):
        return None


def _record(log: str, started: float, reached: float) -> None:
    record = {
        "stage": os.environ["DVC_STAGE"],
        "started": started,
        "reached_site": reached,
        "imports": _imports["seconds"],
        "ended": time.time(),
        "train_seconds": _train_seconds(),
        "warm_child": os.environ.get("CATDOG_WARM_CHILD") == "1",
    }
    with open(log, "a") as handle:
        handle.write(json.dumps(record) + "\n")


if os.environ.get("DVC_STAGE") and os.environ.get("CATDOG_STAGE_CLOCK"):
    atexit.register(_record, os.environ["CATDOG_STAGE_CLOCK"], _process_start(), time.time())
    builtins.__import__ = _timed_import
