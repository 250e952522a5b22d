"""The split is stratified, seeded and disjoint."""

from __future__ import annotations

import pandas as pd
import pytest

from stages.core.config import SplitParams
from stages.core.errors import CatdogError
from stages.ingest.split import (
    SplitInputs,
    SplitOutputs,
    Splits,
    run,
    split_index,
    split_photos,
)


def make_index(cats: int, dogs: int) -> pd.DataFrame:
    rows = [(f"PetImages/Cat/{i}.jpg", "cat") for i in range(cats)]
    rows += [(f"PetImages/Dog/{i}.jpg", "dog") for i in range(dogs)]
    return pd.DataFrame(rows, columns=["filename", "category"])


def test_split_is_stratified_disjoint_and_complete() -> None:
    index = make_index(300, 100)
    train, test = split_index(index, test_size=0.2, seed=1)
    assert len(test) == 80 and len(train) == 320
    assert test["category"].value_counts().to_dict() == {"cat": 60, "dog": 20}
    assert not set(train["filename"]) & set(test["filename"])
    assert set(train["filename"]) | set(test["filename"]) == set(index["filename"])
    assert list(train.columns) == ["filename", "category"]


def test_same_seed_same_split_whatever_the_input_order() -> None:
    index = make_index(50, 50)
    first = split_index(index, 0.2, seed=7)
    again = split_index(index.sample(frac=1.0, random_state=3), 0.2, seed=7)
    other = split_index(index, 0.2, seed=8)
    assert first[1].equals(again[1]) and first[0].equals(again[0])
    assert not first[1].equals(other[1])


def test_split_files_are_byte_identical_across_runs(tmp_path) -> None:
    index_path = tmp_path / "index.csv"
    make_index(40, 40).to_csv(index_path, index=False)
    outputs = []
    for attempt in range(2):
        paths = SplitOutputs(*(tmp_path / f"{name}{attempt}.csv" for name in SPLITS))
        run(SplitParams(test_size=0.25, seed=42, validation=0.1), SplitInputs(index_path), paths)
        outputs.append([path.read_bytes() for path in (paths.train, paths.test, paths.validation)])
    assert outputs[0] == outputs[1]
    assert all(output.startswith(b"filename,category\n") for output in outputs[0])


SPLITS = ("train", "test", "validation")


def _split(index: pd.DataFrame, validation: str | float) -> Splits:
    return split_photos(index, SplitParams(test_size=0.2, seed=42, validation=validation))


def test_a_validation_fraction_is_carved_from_train_disjoint_and_stratified() -> None:
    index = make_index(100, 100)
    study, held_out = _split(index, "test"), _split(index, 0.1)
    assert held_out.test.equals(study.test), "the test photos do not depend on validation"
    names = {name: set(getattr(held_out, name)["filename"]) for name in SPLITS}
    assert not names["train"] & names["test"] and not names["train"] & names["validation"]
    assert not names["test"] & names["validation"]
    assert names["train"] | names["validation"] == set(study.train["filename"])
    assert held_out.validation["category"].value_counts().to_dict() == {"cat": 8, "dog": 8}
    assert len(held_out.train) == 160 - 16


def test_validation_test_reuses_the_test_photos_and_keeps_the_studys_train_split() -> None:
    index = make_index(50, 30)
    study = _split(index, "test")
    assert study.validation.equals(study.test)
    train, test = split_index(index, 0.2, 42)
    assert study.train.equals(train) and study.test.equals(test)


def test_one_class_is_refused() -> None:
    with pytest.raises(CatdogError, match="both classes"):
        split_index(make_index(10, 0), 0.2, seed=0)


def test_a_test_size_that_empties_a_class_is_refused() -> None:
    with pytest.raises(CatdogError, match="leaves a class empty"):
        split_index(make_index(3, 3), 0.1, seed=0)


# The boundary of the class-size check, exactly: the smaller class must keep at least one
# photo on each side. 4 cats x 0.25 = 1 test cat (the fewest), 4 x 0.75 = 3 (the most).
@pytest.mark.parametrize(("cats", "test_size", "test_cats"), [(4, 0.25, 1), (4, 0.75, 3)])
def test_the_smallest_and_largest_valid_test_share_are_accepted(cats, test_size, test_cats):
    train, test = split_index(make_index(cats, 8), test_size, seed=0)
    assert (test["category"] == "cat").sum() == test_cats
    assert (train["category"] == "cat").sum() == cats - test_cats


@pytest.mark.parametrize(
    ("cats", "test_size"),
    [(3, 0.25), (4, 0.24), (4, 0.76), (5, 0.81), (1, 0.5)],  # < 1 test cat, or < 1 train cat
)
def test_one_past_the_boundary_is_refused(cats, test_size) -> None:
    with pytest.raises(CatdogError, match=rf"test_size {test_size} leaves a class empty"):
        split_index(make_index(cats, 40), test_size, seed=0)


def test_two_photos_per_class_split_in_half_is_the_smallest_valid_set() -> None:
    train, test = split_index(make_index(2, 2), 0.5, seed=0)
    assert sorted(test["category"]) == ["cat", "dog"] == sorted(train["category"])


@pytest.mark.parametrize(("cats", "dogs", "found"), [(0, 0, "none"), (5, 0, "cat"), (0, 3, "dog")])
def test_a_missing_class_is_named(cats, dogs, found) -> None:
    with pytest.raises(
        CatdogError, match=rf"^split: need photos of both classes, found only {found}$"
    ):
        split_index(make_index(cats, dogs), 0.2, seed=0)


def _cache(tmp_path, index_rows: str):
    import numpy as np

    from stages.core.dataset import CachePaths

    np.save(tmp_path / "images.npy", np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3))
    (tmp_path / "index.csv").write_text("filename,category,row\n" + index_rows)
    return CachePaths(tmp_path / "images.npy", tmp_path / "index.csv")


ROWS = "a.jpg,cat,0\nb.jpg,dog,1\nc.jpg,cat,2\nd.jpg,dog,3\n"


def test_a_split_loads_aligned_images_and_labels(tmp_path) -> None:
    from stages.core.dataset import load_split

    (tmp_path / "test.csv").write_text("filename,category\nd.jpg,dog\na.jpg,cat\n")
    loaded = load_split(_cache(tmp_path, ROWS), tmp_path / "test.csv")
    assert loaded.filenames == ["d.jpg", "a.jpg"] and loaded.labels.tolist() == [1.0, 0.0]
    assert loaded.images[0, 0, 0, 0] == 3 * 12 and len(loaded.images) == 2


@pytest.mark.parametrize(
    ("index_rows", "split_rows", "which"),
    [
        (ROWS + "a.jpg,cat,2\n", "a.jpg,cat\nb.jpg,dog\n", "index.csv"),
        (ROWS, "a.jpg,cat\nb.jpg,dog\na.jpg,cat\n", "test.csv"),
    ],
)
def test_a_duplicated_photo_never_shifts_the_labels(tmp_path, index_rows, split_rows, which):
    from stages.core.dataset import load_split

    (tmp_path / "test.csv").write_text("filename,category\n" + split_rows)
    with pytest.raises(CatdogError, match=rf"{which}: 1 photos are listed more than once"):
        load_split(_cache(tmp_path, index_rows), tmp_path / "test.csv")
