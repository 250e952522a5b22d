"""Kaggle's nested layout is checked as closely as the outer archive: an entry of the
inner train.zip that would escape a destination folder refuses the whole archive."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from stages.core.errors import CatdogError
from stages.ingest.archive import find_photos


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _kaggle(tmp_path: Path, inner_extra: dict[str, bytes], nested_as: str = "train.zip") -> Path:
    inner = {"train/cat.1.jpg": b"cat", "train/dog.1.jpg": b"dog", **inner_extra}
    path = tmp_path / "dogs-vs-cats.zip"
    path.write_bytes(_zip_bytes({nested_as: _zip_bytes(inner), "test1.zip": _zip_bytes({})}))
    return path


def test_a_clean_nested_train_zip_is_found(tmp_path) -> None:
    found = find_photos(_kaggle(tmp_path, {}))
    assert (found.layout, found.nested) == ("kaggle", "train.zip")
    assert [(p.name, p.category) for p in found.photos] == [
        ("train/cat.1.jpg", "cat"),
        ("train/dog.1.jpg", "dog"),
    ]


@pytest.mark.parametrize(
    "entry",
    [
        "../evil.jpg",
        "train/../../evil.jpg",
        "/etc/evil.jpg",
        "\\evil.jpg",
        "C:/evil.jpg",
        "c:x.jpg",
        "..\\x.jpg",
    ],
)
@pytest.mark.parametrize("nested_as", ["train.zip", "dogs-vs-cats/train.zip", "a/b/train.zip"])
def test_an_escaping_entry_inside_the_nested_train_zip_is_refused(tmp_path, entry, nested_as):
    archive = _kaggle(tmp_path, {entry: b"payload"}, nested_as)
    expected = f"{archive} ({nested_as}): entry {entry!r} would escape the destination folder"
    with pytest.raises(CatdogError, match=re.escape(expected)):
        find_photos(archive)


def test_an_escaping_entry_beside_the_nested_train_zip_is_refused(tmp_path) -> None:
    archive = tmp_path / "dogs-vs-cats.zip"
    inner = _zip_bytes({"train/cat.1.jpg": b"c", "train/dog.1.jpg": b"d"})
    archive.write_bytes(_zip_bytes({"train.zip": inner, "../evil.sh": b"#!"}))
    with pytest.raises(CatdogError, match=re.escape(f"{archive}: entry '../evil.sh' would")):
        find_photos(archive)


@pytest.mark.parametrize("name", ["train/..cat.1.jpg", "train/cat..1.jpg", "a..b/train/dog.1.jpg"])
def test_dots_inside_a_name_are_not_a_parent_folder(tmp_path, name) -> None:
    found = find_photos(_kaggle(tmp_path, {name: b"x"}))
    assert len(found.photos) >= 2


def test_the_nested_archive_is_named_in_its_errors(tmp_path) -> None:
    only_cats = tmp_path / "cats" / "dogs-vs-cats.zip"
    only_cats.parent.mkdir()
    only_cats.write_bytes(_zip_bytes({"train.zip": _zip_bytes({"train/cat.1.jpg": b"c"})}))
    with pytest.raises(CatdogError) as caught:
        find_photos(only_cats)
    assert str(caught.value) == (
        f"{only_cats} (train.zip): only cat photos (1); both cats and dogs are needed"
    )
    empty = tmp_path / "dogs-vs-cats.zip"
    empty.write_bytes(_zip_bytes({"train.zip": _zip_bytes({"readme.txt": b"hi"})}))
    with pytest.raises(CatdogError) as caught:
        find_photos(empty)
    assert str(caught.value) == f"{empty} (train.zip): no photos in the kaggle layout"


def test_a_flat_archive_is_named_alone_and_its_layout_found(tmp_path) -> None:
    flat = tmp_path / "photos.zip"
    flat.write_bytes(_zip_bytes({"PetImages/Dog/1.jpg": b"d", "PetImages/Dog/2.jpg": b"d"}))
    with pytest.raises(CatdogError) as caught:
        find_photos(flat)
    assert str(caught.value) == f"{flat}: only dog photos (2); both cats and dogs are needed"
    flat.write_bytes(_zip_bytes({"PetImages/Dog/1.jpg": b"d", "PetImages/Cat/1.jpg": b"c"}))
    assert find_photos(flat).layout == "microsoft"
