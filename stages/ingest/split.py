"""Stage `split`: a stratified, seeded train/test split of the photos that decoded."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from stages.core.atomic import write_csv
from stages.core.config import SplitParams
from stages.core.errors import CatdogError


def split_index(
    index: pd.DataFrame, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `filename, category` rows into train and test, stratified by category."""
    counts = index["category"].value_counts()
    if len(counts) < 2:
        raise CatdogError(
            f"split: need photos of both classes, found only {', '.join(counts.index) or 'none'}"
        )
    smallest_test = min(counts) * test_size
    if smallest_test < 1 or min(counts) - smallest_test < 1:
        raise CatdogError(
            f"split: test_size {test_size} leaves a class empty on one side "
            f"(class counts: {counts.to_dict()})"
        )
    ordered = index.sort_values("filename", kind="stable").reset_index(drop=True)
    train, test = train_test_split(
        ordered, test_size=test_size, random_state=seed, stratify=ordered["category"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


@dataclass(frozen=True)
class SplitInputs:
    """What the stage reads: the decode stage's index of the photos that decoded."""

    index: Path


@dataclass(frozen=True)
class SplitOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    train: Path
    test: Path


def run(
    split: SplitParams, inputs: SplitInputs, outputs: SplitOutputs
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage: read the decoded index, split it, write both CSVs."""
    index = pd.read_csv(inputs.index, dtype=str, usecols=["filename", "category"])
    train, test = split_index(index, split.test_size, split.seed)
    write_csv(outputs.train, train)
    write_csv(outputs.test, test)
    print(f"split: {len(train)} train, {len(test)} test ({_counts(test)} in test)", file=sys.stderr)
    return train, test


def _counts(frame: pd.DataFrame) -> str:
    counts = frame["category"].value_counts().sort_index()
    return ", ".join(f"{count} {category}s" for category, count in counts.items())
