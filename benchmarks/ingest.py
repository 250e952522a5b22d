"""Ingest benchmark: our decode stage against plain single-process PIL, in one run.

Both read the same synthetic archive of full-size photos (default 25,000, sides 320 to
420 px, like the real ones) and produce 120x120 RGB arrays. The baseline is what most
notebooks do: for each file, `Image.open -> convert("RGB") -> resize`, one process.
Ours is `stages.ingest.decode.decode_archive`: every core, JPEG draft mode, and it also writes
the cache array to disk, which the baseline does not. Runs alternate
(ours, baseline, ours, ...) so that machine noise hits both; the ratio is of medians.

    python -m benchmarks.ingest                  # 25,000 photos, 3 runs each
    python -m benchmarks.ingest --count 2000 --repeats 1   # a quick look
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image

from stages.ingest.archive import find_photos
from stages.ingest.decode import decode_archive
from stages.ingest.synthetic import write_synthetic_archive

SIDE = 120


def full_size_archive(workdir: Path, count: int) -> Path:
    """The synthetic archive of `count` full-size photos (320-420 px), written once."""
    archive = workdir / f"synthetic-{count}-full.zip"
    if not archive.exists():
        print(f"writing {archive} ({count} photos, 320-420 px)...", file=sys.stderr)
        write_synthetic_archive(archive, count, seed=0, min_side=320, max_side=420)
    return archive


def baseline_decode(archive_path: Path) -> int:
    """Plain PIL, one process, full decode of every photo into one array (as ours fills
    its cache array); returns how many decoded."""
    found = find_photos(archive_path)
    pixels = np.empty((len(found.photos), SIDE, SIDE, 3), dtype=np.uint8)
    kept = 0
    with zipfile.ZipFile(archive_path) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for photo in found.photos:
            try:
                image = Image.open(io.BytesIO(archive.read(photo.name)))
                pixels[kept] = np.asarray(image.convert("RGB").resize((SIDE, SIDE)))
                kept += 1
            except Exception:  # the baseline skips whatever fails, as notebooks do
                continue
    return kept


def ours_decode(archive_path: Path, scratch: Path) -> int:
    """The decode stage's core function, writing the cache array; returns how many decoded."""
    return len(decode_archive(archive_path, SIDE, SIDE, scratch / "images.npy").index)


def timed(function, *args) -> tuple[float, int]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main(
    count: Annotated[int, typer.Option(help="Photos in the synthetic archive.")] = 25_000,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each contender.")] = 3,
    workdir: Annotated[Path, typer.Option(help="Where the archive is kept between runs.")] = Path(
        "benchmarks/.work"
    ),
) -> None:
    """Time the decode stage against plain single-process PIL on the same archive."""
    archive = full_size_archive(workdir, count)
    ours, baseline = [], []
    for run in range(1, repeats + 1):
        seconds, kept_ours = timed(ours_decode, archive, workdir)
        ours.append(seconds)
        print(f"run {run}: ours {seconds:.1f} s ({kept_ours} photos)", file=sys.stderr)
        seconds, kept_baseline = timed(baseline_decode, archive)
        baseline.append(seconds)
        print(f"run {run}: baseline {seconds:.1f} s ({kept_baseline} photos)", file=sys.stderr)
        if kept_ours != kept_baseline:
            raise SystemExit(f"contenders disagree: {kept_ours} vs {kept_baseline} photos kept")
    ratio = statistics.median(baseline) / statistics.median(ours)
    print(
        f"| ingest {count} photos -> {SIDE}x{SIDE} | {os.cpu_count()} cores | "
        f"baseline median {statistics.median(baseline):.1f} s | "
        f"ours median {statistics.median(ours):.1f} s | {ratio:.1f}x |"
    )
    print(f"baseline runs: {[round(s, 1) for s in baseline]}; ours: {[round(s, 1) for s in ours]}")


if __name__ == "__main__":
    typer.run(main)
