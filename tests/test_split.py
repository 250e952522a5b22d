"""The split is stratified, seeded and disjoint."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages.cli import app
from stages.core.config import SplitParams
from stages.core.errors import CatdogError, ConfigError
from stages.ingest.split import (
    MIN_PHOTOS_PER_CLASS,
    SplitInputs,
    SplitOutputs,
    Splits,
    check_splittable,
    run,
    split_index,
    split_photos,
)
from tests.support.params import set_param as _set
from tests.support.params import write_params
from tests.support.workspace import REPO


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
    with pytest.raises(ConfigError, match=r"^split\.test_size: 0\.1 leaves a class empty"):
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
    with pytest.raises(CatdogError, match=rf"test_size: {test_size} leaves a class empty"):
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


def test_an_infeasible_validation_share_names_split_validation() -> None:
    # 25 photos a class: 5 in test, 20 in train, of which 0.01 is not one photo.
    with pytest.raises(ConfigError, match=r"^split\.validation: 0\.01 leaves a class empty") as no:
        _split(make_index(25, 25), 0.01)
    assert "test_size" not in str(no.value)


# (photos a class, test_size, validation, refused with): each side of the split at its
# boundary, MIN_PHOTOS_PER_CLASS photos a class kept, one fewer refused naming the key.
SIDES = [
    (15, 0.2, "test", None),
    (12, 0.2, "test", "split.test_size: 0.2 leaves 2 dog photos in test,"),
    (15, 0.8, "test", None),
    (15, 0.84, "test", "split.test_size: 0.84 leaves 2 cat photos in train,"),
    (15, 0.84, 0.1, "split.test_size: 0.84 leaves 2 cat photos in train and validation,"),
    (30, 0.2, 0.11, None),
    (30, 0.2, 0.1, "split.validation: 0.1 leaves 2 dog photos in validation,"),
    (12, 0.5, 0.5, None),
    (11, 0.5, 0.5, "split.validation: 0.5 leaves 2 cat photos in train,"),
]


@pytest.mark.parametrize(("photos", "test_size", "validation", "refused"), SIDES)
def test_each_class_keeps_a_few_photos_on_every_side(photos, test_size, validation, refused):
    index = make_index(photos, photos)
    params = SplitParams(test_size=test_size, seed=42, validation=validation)
    if refused is None:
        splits = split_photos(index, params)
        sides = (splits.train, splits.validation, splits.test)
        assert min(min(side["category"].value_counts()) for side in sides) == MIN_PHOTOS_PER_CLASS
        return
    with pytest.raises(ConfigError) as caught:
        split_photos(index, params)
    assert str(caught.value).startswith(refused)
    assert str(caught.value).endswith(
        f"(each class needs at least {MIN_PHOTOS_PER_CLASS} in train, validation and test)"
    )


def _splittable(tmp_path: Path, photos: int, **split) -> Path:
    """check_splittable on `photos` photos a class (split.validation 0.1 unless given)."""
    index = tmp_path / "index.csv"
    make_index(photos, photos).to_csv(index, index=False)
    params = SplitParams(**{"test_size": 0.2, "seed": 42, "validation": 0.1, **split})
    check_splittable(params, SplitInputs(index), tmp_path / "split.ok")
    return tmp_path / "split.ok"


def test_an_unsplittable_index_is_refused_upstream_naming_the_key(tmp_path) -> None:
    # validation 0.1 of 24 training photos a class: 2 dogs
    with pytest.raises(ConfigError, match=r"^split\.validation: 0\.1 leaves 2 dog photos in"):
        _splittable(tmp_path, 30)
    assert not (tmp_path / "split.ok").exists()


def test_the_splittable_marker_is_the_same_while_valid(tmp_path) -> None:
    first = _splittable(tmp_path, 100).read_bytes()
    assert _splittable(tmp_path, 200, seed=7, test_size=0.3).read_bytes() == first


def test_inspect_refuses_an_unsplittable_index_in_one_line(tmp_path, small_prepared) -> None:
    write_params(tmp_path, REPO, _set("split.test_size", 0.99))
    outputs = {name: tmp_path / name for name in ("split.ok", "counts.png", "samples.png")}
    options = {
        "--images": small_prepared.cache.images,
        "--index": small_prepared.cache.index,
        "--rejected": small_prepared.root / "rejected.csv",
        "--out": outputs["split.ok"],
        "--class-counts": outputs["counts.png"],
        "--samples": outputs["samples.png"],
    }
    arguments = [str(part) for option in options.items() for part in option]
    params = ["--params", str(tmp_path / "params.yaml")]
    result = CliRunner().invoke(app, [*params, "inspect", *arguments])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: split.test_size: 0.99 leaves a class empty")
    assert len(result.stderr.splitlines()) == 1
    assert not any(path.exists() for path in outputs.values())
