"""Small synthetic archives, and archives decoded and split as the decode and split stages
leave them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stages.core.config import ImageParams, SplitParams
from stages.core.dataset import CachePaths
from stages.ingest import decode, split
from stages.ingest.synthetic import write_synthetic_archive

SMALL_COUNT = 200
# Pixels: the smallest side all six study variations' conv stacks take (v2-v6's three 4x4
# convolutions with 3x3 pooling), and so the cheapest to train them on.
SMALLEST_SIDE = 66
# A folder where the small archives are kept between pytest runs (`make mutate` runs the
# tests once per mutant); unset, each session draws its own. The archives are deterministic.
ARCHIVE_CACHE = "CATDOG_TEST_ARCHIVES"


def drawn_archive(
    scratch: Path, name: str, count: int = SMALL_COUNT, layout: str = "microsoft", seed: int = 0
) -> Path:
    """The synthetic archive of `count` photos drawn from `seed` in `layout`, as `name`: in
    the folder CATDOG_TEST_ARCHIVES names if set (drawn once), else in `scratch`."""
    cache = os.environ.get(ARCHIVE_CACHE)
    folder = Path(cache) / f"{layout}-{count}-{seed}" if cache else scratch
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        drawing = folder / f".{name}.{os.getpid()}.tmp"
        write_synthetic_archive(drawing, count, seed=seed, layout=layout, workers=2)
        os.replace(drawing, path)
    return path


@dataclass(frozen=True)
class Prepared:
    """An archive decoded and split, as the decode and split stages leave it."""

    archive: Path
    root: Path
    cache: CachePaths
    train_csv: Path
    test_csv: Path
    validation_csv: Path


def decode_and_split(
    archive: Path,
    root: Path,
    side: int = 120,
    seed: int = 42,
    validation: float | str = "test",
) -> Prepared:
    """Run the decode stage (side x side pixels) and an 80/20 split into `root`, with
    `validation` as split.validation (a share of the training photos, or "test")."""
    root.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(
        archive,
        root,
        CachePaths(root / "images.npy", root / "index.csv"),
        root / "train.csv",
        root / "test.csv",
        root / "validation.csv",
    )
    decode.run(
        ImageParams(height=side, width=side),
        decode.DecodeInputs(archive),
        decode.DecodeOutputs(prepared.cache.images, prepared.cache.index, root / "rejected.csv"),
    )
    split.run(
        SplitParams(test_size=0.2, seed=seed, validation=validation),
        split.SplitInputs(prepared.cache.index),
        split.SplitOutputs(prepared.train_csv, prepared.test_csv, prepared.validation_csv),
    )
    return prepared
