"""Where `make demo`'s time goes outside its epochs: the demo's own `dvc exp run --temp`
(the settings read from `make -n demo`) in a scratch copy of the project, once per
`--seeds` count, with every stage process timed by stage_clock/sitecustomize.py.

Per stage it reports the interpreter's start (kernel start to site), the imports, the
rest of the process (work; a train run's epochs are its `train_seconds`), and DVC's own
time before the stage (from the previous process's exit: dvc.lock, hashing, the next
command). Then the totals: wall, the sum of train_seconds (the epochs), everything else,
and its ratio to the epochs.

Stage commands start warm (stages/core/warm.py): the process DVC starts hands its command
to a child forked from a server that has imported TensorFlow. The child's imports count
with its client's; its work is inside the client's time. `--baseline` also runs each
demo cold (CATDOG_WARM=0), the same way, and reports warm against cold.

    python -m benchmarks.pipeline_overhead --seeds 1 --seeds 5 --baseline 1
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import time
from pathlib import Path
from typing import Annotated

import typer

from tests.support.demo import demo_command
from tests.support.workspace import REPO, make_workspace, run

CLOCK = Path(__file__).parent / "stage_clock"
SEEDS = [42, 1, 2, 3, 4, 5, 6, 7]
STARTS = ("warm", "cold")
TIMINGS = {"train s", "img/s"}


def cpu_name() -> str:
    """The CPU's model name, as every figure must name it."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def run_demo(work: Path, seeds: int, warm: bool = True) -> tuple[float, list[dict]]:
    """The demo with `seeds` seeds in a fresh copy: its wall time and the records of the
    processes DVC started (a warm child's imports added to its client's)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    workspace = make_workspace(work, lambda params: None)
    shutil.copy(REPO / "Makefile", workspace / "Makefile")
    command = demo_command(REPO)
    command += ["-S", f"train.seeds=[{','.join(map(str, SEEDS[:seeds]))}]"]
    log = work / "clock.jsonl"
    env = {"PYTHONPATH": str(CLOCK), "CATDOG_STAGE_CLOCK": str(log)}
    env["CATDOG_WARM"] = "1" if warm else "0"
    began = time.time()
    run(command, workspace, env=env)
    wall = time.time() - began
    records = merge_children([json.loads(line) for line in log.read_text().splitlines()])
    report = work / "compare.md"
    run(
        ["dvc", "get", ".", "metrics/compare.md", "--rev", "demo", "--force", "-o", str(report)],
        workspace,
    )
    records.sort(key=lambda record: record["started"])
    previous = began
    for record in records:
        record["dvc_before"] = record["started"] - previous
        previous = record["ended"]
    return wall, records


def merge_children(records: list[dict]) -> list[dict]:
    """The clients' records, each with its warm child's imports added (one process per
    stage at a time: DVC runs them one after another)."""
    clients = [record for record in records if not record.get("warm_child")]
    by_stage = {record["stage"]: record for record in clients}
    for child in (record for record in records if record.get("warm_child")):
        by_stage[child["stage"]]["imports"] += child["imports"]
    return clients


def results(report: Path) -> list[list[str]]:
    """compare.md's table without its timing columns (train s, img/s): what must be the
    same to the last digit however the stages started."""
    rows = [line.split("|") for line in report.read_text().splitlines() if line.startswith("|")]
    kept = [i for i, name in enumerate(rows[0]) if name.strip() not in TIMINGS]
    return [[row[i] for i in kept] for row in rows]


def group(stage: str) -> str:
    """train@v4-42 -> train; summarize@v4 -> summarize."""
    return stage.split("@", 1)[0]


def stage_table(records: list[dict]) -> list[str]:
    """Medians per kind of stage, in seconds."""
    lines = [
        "| stage | processes | interpreter start | imports | work | of which epochs | "
        "DVC before it |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    kinds: dict[str, list[dict]] = {}
    for record in records:
        kinds.setdefault(group(record["stage"]), []).append(record)
    for kind, found in kinds.items():

        def median(values: list[float]) -> str:
            return f"{statistics.median(values):.2f}"

        starts = [r["reached_site"] - r["started"] for r in found]
        imports = [r["imports"] for r in found]
        works = [r["ended"] - r["reached_site"] - r["imports"] for r in found]
        epochs = [r["train_seconds"] or 0.0 for r in found]
        dvc = [r["dvc_before"] for r in found]
        lines.append(
            f"| {kind} | {len(found)} | {median(starts)} | {median(imports)} | {median(works)} "
            f"| {median(epochs)} | {median(dvc)} |"
        )
    return lines


def totals(wall: float, records: list[dict]) -> dict[str, float]:
    """Wall, epochs and where the rest went, summed over the stages."""
    epochs = sum(r["train_seconds"] or 0.0 for r in records)
    processes = sum(r["ended"] - r["started"] for r in records)
    starts = sum(r["reached_site"] - r["started"] for r in records)
    imports = sum(r["imports"] for r in records)
    return {
        "stages": len(records),
        "wall": wall,
        "epochs": epochs,
        "outside": wall - epochs,
        "ratio": (wall - epochs) / epochs,
        "interpreter start": starts,
        "imports": imports,
        "work outside epochs": processes - epochs - imports - starts,
        "DVC": wall - processes,
        "DVC per stage (median)": statistics.median(r["dvc_before"] for r in records),
    }


def main(
    seeds: Annotated[list[int], typer.Option(help="Seed counts to run the demo with.")] = [1],  # noqa: B006
    work: Annotated[Path, typer.Option(help="Scratch folder (emptied).")] = (
        REPO / "benchmarks" / ".work" / "overhead"
    ),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
    baseline: Annotated[
        list[int], typer.Option(help="Seed counts to also run cold (CATDOG_WARM=0).")
    ] = [],  # noqa: B006
) -> None:
    """Run the demo once per seed count and print where its time went."""
    figures: dict = {"cpu": cpu_name(), "cores": os.cpu_count(), "runs": {}, "cold": {}}
    print(f"CPU: {figures['cpu']} ({figures['cores']} cores)")
    runs = [(count, True) for count in seeds] + [(count, False) for count in baseline]
    for count, warm in runs:
        wall, records = run_demo(work / f"seeds-{count}-{'warm' if warm else 'cold'}", count, warm)
        summary = totals(wall, records)
        figures["runs" if warm else "cold"][count] = {"totals": summary, "stages": records}
        start = "warm" if warm else "cold (CATDOG_WARM=0)"
        print(f"\n## train.seeds: {count} seed(s), {summary['stages']} stage processes, {start}\n")
        print("\n".join(stage_table(records)))
        print()
        for key, value in summary.items():
            print(f"- {key}: {value:.2f}" if isinstance(value, float) else f"- {key}: {value}")
    for count in set(seeds) & set(baseline):
        warm_run, cold_run = figures["runs"][count]["totals"], figures["cold"][count]["totals"]
        print(
            f"\n{count} seed(s): outside the epochs, warm {warm_run['outside']:.1f} s "
            f"({warm_run['ratio']:.2f}x the epochs), cold {cold_run['outside']:.1f} s "
            f"({cold_run['ratio']:.2f}x): warm takes "
            f"{warm_run['outside'] / cold_run['outside']:.2f} of cold's time outside the epochs"
        )
        tables = [results(work / f"seeds-{count}-{start}/compare.md") for start in STARTS]
        same = "the same" if tables[0] == tables[1] else "DIFFERENT"
        print(f"compare.md's results, warm and cold: {same} ({work}/seeds-{count}-*)")
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
