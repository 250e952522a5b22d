"""Read one split's pixels and labels out of the shared decode cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import pandas as pd

from stages.core.errors import CatdogError

# As flow_from_dataframe orders classes: alphabetically, so cat is 0 and dog is 1.
CLASS_NAMES = ("cat", "dog")


@dataclass(frozen=True)
class CachePaths:
    """The decode stage's outputs: one uint8 array, and the photos that decoded with their
    row in it."""

    images: Path
    index: Path


@dataclass(frozen=True)
class Split:
    """Pixels (N, H, W, 3) uint8 and labels (N,) float32 of one split."""

    images: np.ndarray
    labels: np.ndarray
    filenames: list[str]


@overload
def is_dog(dog_probability: np.ndarray) -> np.ndarray: ...
@overload
def is_dog(dog_probability: float) -> bool: ...
def is_dog(dog_probability: np.ndarray | float) -> np.ndarray | bool:
    """The decision rule for the sigmoid output: dog at 0.5 and above (floats or arrays)."""
    return dog_probability >= 0.5


def label_of(dog_probability: float) -> tuple[str, float]:
    """The likelier class and its probability (0.5 to 1)."""
    if is_dog(dog_probability):
        return CLASS_NAMES[1], dog_probability
    return CLASS_NAMES[0], 1.0 - dog_probability


def labels_of(categories: pd.Series) -> np.ndarray:
    """0 for cat, 1 for dog."""
    unknown = sorted(set(categories) - set(CLASS_NAMES))
    if unknown:
        raise CatdogError(f"unknown categories {unknown}; expected {list(CLASS_NAMES)}")
    return (categories == CLASS_NAMES[1]).to_numpy(dtype=np.float32)


def read_index(path: Path) -> pd.DataFrame:
    """The decode stage's index: filename, category and row of each photo kept."""
    return pd.read_csv(path, dtype={"filename": str, "category": str, "row": np.int64})


def load_split(cache: CachePaths, split_csv: Path) -> Split:
    """The rows of the cache that `split_csv` lists, in the CSV's order."""
    images = np.load(cache.images, mmap_mode="r")
    index = read_index(cache.index)
    split = pd.read_csv(split_csv, dtype=str)
    row_of = pd.Series(index["row"].to_numpy(), index=index["filename"])
    missing = split.loc[~split["filename"].isin(row_of.index), "filename"]
    if len(missing):
        raise CatdogError(
            f"{split_csv}: {len(missing)} photos are not in the decode cache "
            f"{cache.images} (first: {missing.iloc[0]}); rerun `dvc repro`"
        )
    for table, path in ((index, cache.index), (split, split_csv)):
        repeated = table.loc[table["filename"].duplicated(), "filename"]
        if len(repeated):
            raise CatdogError(
                f"{path}: {len(repeated)} photos are listed more than once (first: "
                f"{repeated.iloc[0]}); rerun `dvc repro`"
            )
    rows = row_of.loc[split["filename"]].to_numpy()
    loaded = Split(
        images=np.ascontiguousarray(images[rows]),
        labels=labels_of(split["category"]),
        filenames=split["filename"].tolist(),
    )
    if not len(loaded.images) == len(loaded.labels) == len(loaded.filenames):
        raise CatdogError(
            f"{split_csv}: {len(loaded.images)} images but {len(loaded.labels)} labels; "
            f"rerun `dvc repro`"
        )
    return loaded
