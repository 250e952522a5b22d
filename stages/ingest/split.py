"""Stage `split`: a stratified, seeded train/test split of the photos that decoded."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from stages.core.atomic import write_csv, write_text
from stages.core.config import SplitParams
from stages.core.errors import CatdogError, ConfigError

TEST_SIZE = "split.test_size"
VALIDATION = "split.validation"
# Each class keeps at least this many photos in train, validation and test: with one or
# two, a class's accuracy moves in halves and an early stop rests on a coin toss. (The
# pipeline tests' 120-photo set keeps 4 of each class in validation.)
MIN_PHOTOS_PER_CLASS = 3
SPLITTABLE = f"split: every class has at least {MIN_PHOTOS_PER_CLASS} photos in every part\n"


def split_index(
    index: pd.DataFrame, test_size: float, seed: int, key: str = TEST_SIZE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `filename, category` rows into train and test, stratified by category;
    `key` names the params key of `test_size` in the error when a side would be empty."""
    counts = index["category"].value_counts()
    if len(counts) < 2:
        raise CatdogError(
            f"split: need photos of both classes, found only {', '.join(counts.index) or 'none'}"
        )
    smallest_test = min(counts) * test_size
    if smallest_test < 1 or min(counts) - smallest_test < 1:
        raise ConfigError(
            f"{key}: {test_size} leaves a class empty on one side "
            f"(class counts: {counts.to_dict()})"
        )
    ordered = index.sort_values("filename", kind="stable").reset_index(drop=True)
    train, test = train_test_split(
        ordered, test_size=test_size, random_state=seed, stratify=ordered["category"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


@dataclass(frozen=True)
class Splits:
    """The photos of each split (`filename, category` rows). With `split.validation: test`
    the validation rows are the test rows."""

    train: pd.DataFrame
    test: pd.DataFrame
    validation: pd.DataFrame


def split_photos(index: pd.DataFrame, split: SplitParams) -> Splits:
    """Train and test by `split.test_size`; then, where `split.validation` is a fraction, a
    stratified validation set carved out of the training photos (both seeded by
    `split.seed`). The train and test rows do not depend on `split.validation` being
    `test`, so the study's protocol keeps its split.

    Each class must keep at least MIN_PHOTOS_PER_CLASS photos in train, validation and
    test; otherwise a ConfigError names the key that took them: split.test_size for what
    the test split leaves, split.validation for what carving the validation set leaves."""
    totals = index["category"].value_counts()
    train, test = split_index(index, split.test_size, split.seed)
    test_size = (TEST_SIZE, split.test_size)
    _check_side(test, "test", test_size, totals)
    if split.validation == "test":
        _check_side(train, "train", test_size, totals)
        return Splits(train, test, test)
    _check_side(train, "train and validation", test_size, totals)
    train, validation = split_index(train, split.validation, split.seed, VALIDATION)
    _check_side(validation, "validation", (VALIDATION, split.validation), totals)
    _check_side(train, "train", (VALIDATION, split.validation), totals)
    return Splits(train, test, validation)


def _check_side(rows: pd.DataFrame, side: str, param: tuple[str, float], totals: pd.Series) -> None:
    """Refuse `rows` (one side of a split) when a class has too few photos in it."""
    counts = rows["category"].value_counts().reindex(totals.index, fill_value=0)
    short = counts[counts < MIN_PHOTOS_PER_CLASS].sort_index()
    if not short.empty:
        key, value = param
        category, count = short.index[0], short.iloc[0]
        raise ConfigError(
            f"{key}: {value} leaves {count} {category} photos in {side}, of "
            f"{totals[category]} that decoded (each class needs at least "
            f"{MIN_PHOTOS_PER_CLASS} in train, validation and test)"
        )


@dataclass(frozen=True)
class SplitInputs:
    """What the stage reads: the decode stage's index of the photos that decoded."""

    index: Path


@dataclass(frozen=True)
class SplitOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    train: Path
    test: Path
    validation: Path


def read_index_rows(index: Path) -> pd.DataFrame:
    """The decoded photos' `filename, category` rows."""
    return pd.read_csv(index, dtype=str, usecols=["filename", "category"])


def check_splittable(split: SplitParams, inputs: SplitInputs, marker: Path) -> None:
    """Make the split in memory, write nothing of it, and write `marker` (the same bytes
    whenever the split can be made): a split that cannot be made is refused upstream of
    the split stage, before DVC deletes its CSVs."""
    split_photos(read_index_rows(inputs.index), split)
    write_text(marker, SPLITTABLE)


def run(split: SplitParams, inputs: SplitInputs, outputs: SplitOutputs) -> Splits:
    """The stage: read the decoded index, split it, write the three CSVs."""
    splits = split_photos(read_index_rows(inputs.index), split)
    write_csv(outputs.train, splits.train)
    write_csv(outputs.test, splits.test)
    write_csv(outputs.validation, splits.validation)
    held_out = "the test photos" if split.validation == "test" else f"{len(splits.validation)}"
    print(
        f"split: {len(splits.train)} train, {len(splits.test)} test "
        f"({_counts(splits.test)} in test), validation: {held_out}",
        file=sys.stderr,
    )
    return splits


def _counts(frame: pd.DataFrame) -> str:
    counts = frame["category"].value_counts().sort_index()
    return ", ".join(f"{count} {category}s" for category, count in counts.items())
