"""Every member of an archive ends up in decode's index or in its rejected list with a
reason, never skipped in silence: checked over many seeded, mixed archives in all three
layouts (folders, Thumbs.db, readmes, macOS leftovers, odd suffixes, broken photos)."""

from __future__ import annotations

import io
import random
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.ingest.archive import find_photos
from stages.ingest.decode import decode_archive
from tests.support.photos import encoded, hidden_red, png16, turned_jpeg

ARCHIVES = 30


def _small(fmt: str, mode: str = "RGB") -> bytes:
    return encoded(Image.new(mode, (12, 9), (90, 140, 30)[: len(mode)]), fmt)


# Member contents by kind: pictures of every kind decode does, and broken files.
CONTENTS = {
    "jpeg": lambda: _small("JPEG"),
    "png": lambda: _small("PNG"),
    "webp": lambda: _small("WEBP"),
    "gif": lambda: _small("GIF", "L"),
    "bmp": lambda: _small("BMP"),
    "turned": lambda: turned_jpeg(6, 12, 9),
    "16-bit": lambda: png16(np.full((9, 12), 40000, np.uint16), 0),
    "transparent": lambda: encoded(hidden_red("RGBA", (12, 9)), "PNG"),
    "empty": lambda: b"",
    "garbage": lambda: bytes(range(256)) * 4,
    "html": lambda: b"<!DOCTYPE html><html>404</html>",
    "truncated": lambda: _small("PNG")[:40],
}
SUFFIXES = (".jpg", ".JPG", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".txt", "")
# Members that are never photos, wherever they sit.
LITTER = (
    "Thumbs.db",
    "desktop.ini",
    ".DS_Store",
    "readme[1].txt",
    "CDLA-Permissive-2.0.pdf",
    "__MACOSX/._photo.jpg",
    "notes/",
)


def _photo_name(layout: str, category: str, stem: str, suffix: str) -> str:
    if layout == "microsoft":
        return f"PetImages/{category.capitalize()}/{stem}{suffix}"
    return f"train/{category}.{stem}{suffix}"


def _members(rng: random.Random, layout: str) -> dict[str, bytes]:
    """A mix of photos (at least one good cat and dog) and litter, in `layout`'s folders."""
    members = {_photo_name(layout, c, "0", ".jpg"): _small("JPEG") for c in ("cat", "dog")}
    for index in range(rng.randint(4, 14)):
        category = rng.choice(("cat", "dog"))
        name = _photo_name(layout, category, str(index + 1), rng.choice(SUFFIXES))
        members[name] = CONTENTS[rng.choice(list(CONTENTS))]()
    folders = ["", "PetImages/", "PetImages/Cat/", "train/", "PetImages/Bird/", "other/"]
    for _ in range(rng.randint(1, 6)):
        members[rng.choice(folders) + rng.choice(LITTER)] = b"litter"
    for folder in rng.sample(folders[1:], rng.randint(0, 3)):
        members[folder] = b""
    return members


def _zip(members: dict[str, bytes], rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            method = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def _archive(seed: int, folder: Path) -> Path:
    rng = random.Random(seed)
    layout = ("microsoft", "kaggle", "nested")[seed % 3]
    members = _members(rng, "microsoft" if layout == "microsoft" else "kaggle")
    if layout == "nested":
        outer = {"dogs-vs-cats/train.zip": _zip(members, rng), "test1.zip": _zip({}, rng)}
        members = {**outer, "sampleSubmission.csv": b"id,label\n", "Thumbs.db": b""}
    path = folder / f"archive-{seed}.zip"
    path.write_bytes(_zip(members, rng))
    return path


def _every_member(path: Path) -> Counter[str]:
    """The archive's members, with those of the nested train.zip in place of it."""
    found = find_photos(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if found.nested is None:
            return Counter(names)
        with zipfile.ZipFile(io.BytesIO(archive.read(found.nested))) as inner:
            return Counter([n for n in names if n != found.nested] + inner.namelist())


def _check_accounted_for(path: Path, scratch: Path) -> None:
    decoded = decode_archive(path, 8, 8, scratch / "images.npy", workers=1)
    listed = Counter(decoded.index["filename"]) + Counter(decoded.rejected["filename"])
    assert listed == _every_member(path), path
    assert all(isinstance(r, str) and r for r in decoded.rejected["reason"])
    assert set(decoded.index["category"]) == {"cat", "dog"} and decoded.index["row"].is_unique


@pytest.mark.parametrize("seed", range(ARCHIVES))
def test_every_member_is_kept_or_rejected_with_a_reason(seed, tmp_path) -> None:
    _check_accounted_for(_archive(seed, tmp_path), tmp_path)


@pytest.mark.parametrize("layout", ["microsoft", "kaggle"])
def test_the_synthetic_archives_account_for_every_member(
    layout, microsoft_zip, kaggle_zip, tmp_path
) -> None:
    _check_accounted_for(microsoft_zip if layout == "microsoft" else kaggle_zip, tmp_path)


def test_each_kind_of_litter_gets_its_own_reason(tmp_path) -> None:
    members = {
        "PetImages/Cat/1.jpg": _small("JPEG"),
        "PetImages/Dog/1.webp": _small("WEBP"),
        "PetImages/": b"",
        "PetImages/Cat/Thumbs.db": b"",
        "PetImages/Dog/desktop.ini": b"",
        "PetImages/.DS_Store": b"",
        "__MACOSX/PetImages/Cat/._1.jpg": b"",
        "PetImages/Cat/notes.txt": b"",
        "PetImages/Dog/README": b"",
        "PetImages/Bird/1.jpg": _small("JPEG"),
    }
    path = tmp_path / "litter.zip"
    path.write_bytes(_zip(members, random.Random(0)))
    decoded = decode_archive(path, 8, 8, tmp_path / "images.npy", workers=1)
    assert list(decoded.index["filename"]) == ["PetImages/Cat/1.jpg", "PetImages/Dog/1.webp"]
    suffixes = ".bmp .gif .jpeg .jpg .png .webp"
    assert dict(zip(decoded.rejected["filename"], decoded.rejected["reason"], strict=True)) == {
        "PetImages/": "a folder, not a photo",
        "PetImages/Cat/Thumbs.db": "Windows thumbnail cache, not a photo",
        "PetImages/Dog/desktop.ini": "Windows folder settings, not a photo",
        "PetImages/.DS_Store": "macOS folder settings, not a photo",
        "__MACOSX/PetImages/Cat/._1.jpg": "macOS resource fork (AppleDouble), not a photo",
        "PetImages/Cat/notes.txt": f"not a photo's name: .txt, not one of {suffixes}",
        "PetImages/Dog/README": f"not a photo's name: no suffix, not one of {suffixes}",
        "PetImages/Bird/1.jpg": "outside PetImages/Cat/ and PetImages/Dog/: no class",
    }
    assert set(decoded.rejected["category"]) == {""}
