"""Photos are read straight from either archive layout and decoded once; broken files are
dropped with a reason."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stages.core.config import ImageParams
from stages.core.errors import CatdogError
from stages.ingest.archive import find_photos
from stages.ingest.decode import (
    MAX_PIXELS,
    DecodeInputs,
    DecodeOutputs,
    UndecodablePhoto,
    decode_archive,
    decode_photo,
    run,
)
from stages.ingest.synthetic import BROKEN_KINDS, ODD_KINDS, special_kinds
from tests.support.prepared import SMALL_COUNT

REASONS = {
    "empty": "empty file (0 bytes)",
    "truncated": "truncated JPEG",
    "garbage": "not an image (unrecognised format)",
    "html": "HTML or XML page, not an image",
    "bomb": "decompression bomb",
}


def expected_rejects(count: int) -> int:
    """How many files of a synthetic set of `count` photos cannot be decoded."""
    per_class = count // 2
    broken = [i for i, kind in special_kinds(per_class).items() if kind in BROKEN_KINDS]
    return 2 * sum(index < per_class for index in broken)


def jpeg_bytes(mode: str = "RGB", size=(64, 48), fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=128 if mode in ("L", "1") else None).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "JPEG"),
        ("L", "JPEG"),
        ("CMYK", "JPEG"),
        ("RGBA", "PNG"),
        ("P", "GIF"),
        ("RGB", "BMP"),
    ],
)
def test_any_picture_decodes_to_rgb_at_the_target_size(mode, fmt) -> None:
    pixels = decode_photo(jpeg_bytes(mode, fmt=fmt), 30, 40)
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"<!DOCTYPE html><html><body>403</body></html>", "HTML"),
        (bytes(range(256)) * 8, "not an image"),
        (jpeg_bytes(size=(300, 200))[:400], "truncated"),
    ],
)
def test_broken_files_are_refused_with_a_specific_reason(data, reason) -> None:
    with pytest.raises(UndecodablePhoto, match=reason):
        decode_photo(data, 30, 40)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    side = int(MAX_PIXELS**0.5) + 100
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    with pytest.raises(UndecodablePhoto, match="decompression bomb"):
        decode_photo(buffer.getvalue(), 30, 40)


# The members of the synthetic archives that are not photos, as decode rejects them.
NON_PHOTOS = {
    "microsoft": {
        "PetImages/Cat/Thumbs.db": "Windows thumbnail cache, not a photo",
        "PetImages/Dog/Thumbs.db": "Windows thumbnail cache, not a photo",
        "readme[1].txt": "outside PetImages/Cat/ and PetImages/Dog/: no class",
        "CDLA-Permissive-2.0.pdf": "outside PetImages/Cat/ and PetImages/Dog/: no class",
    },
    "kaggle": {
        "test1.zip": "outside train.zip, which holds the labelled photos: no class",
        "sampleSubmission.csv": "outside train.zip, which holds the labelled photos: no class",
    },
}


def _expected_rejected(layout: str) -> set[str]:
    names = set(NON_PHOTOS[layout])
    for index, kind in special_kinds(SMALL_COUNT // 2).items():
        if kind in BROKEN_KINDS:
            if layout == "microsoft":
                names |= {f"PetImages/Cat/{index}.jpg", f"PetImages/Dog/{index}.jpg"}
            else:
                names |= {f"train/cat.{index}.jpg", f"train/dog.{index}.jpg"}
    return names


@pytest.mark.parametrize("layout", ["microsoft", "kaggle"])
def test_both_layouts_keep_and_drop_exactly_the_expected_files(
    layout, microsoft_zip, kaggle_zip, tmp_path
) -> None:
    archive = microsoft_zip if layout == "microsoft" else kaggle_zip
    images = tmp_path / "images.npy"
    decoded = decode_archive(archive, 24, 24, images, workers=2)
    assert set(decoded.rejected["filename"]) == _expected_rejected(layout)
    others = decoded.rejected[decoded.rejected["category"] == ""]
    assert dict(zip(others["filename"], others["reason"], strict=True)) == NON_PHOTOS[layout]
    assert len(decoded.index) == SMALL_COUNT - expected_rejects(SMALL_COUNT)
    pixels = np.load(images)
    assert pixels.shape == (SMALL_COUNT, 24, 24, 3)
    for name, category, row in decoded.index.itertuples(index=False):
        assert f"/{category}" in name.lower()
        assert pixels[row].any(), f"{name} decoded to a black picture"
    assert not pixels[~np.isin(np.arange(SMALL_COUNT), decoded.index["row"])].any()
    assert decoded.index["category"].value_counts().to_dict() == {
        "cat": SMALL_COUNT // 2 - expected_rejects(SMALL_COUNT) // 2,
        "dog": SMALL_COUNT // 2 - expected_rejects(SMALL_COUNT) // 2,
    }
    assert list(tmp_path.iterdir()) == [images], "temporary files are cleaned up"


@pytest.mark.parametrize("layout", ["microsoft", "kaggle"])
def test_each_defect_gets_its_own_reason_and_odd_files_are_kept(
    layout, microsoft_zip, kaggle_zip, tmp_path
) -> None:
    archive = microsoft_zip if layout == "microsoft" else kaggle_zip
    decoded = decode_archive(archive, 24, 24, tmp_path / "images.npy", workers=2)
    reasons = dict(zip(decoded.rejected["filename"], decoded.rejected["reason"], strict=True))
    kept = set(decoded.index["filename"])
    for index, kind in special_kinds(SMALL_COUNT // 2).items():
        for category in ("cat", "dog"):
            name = (
                f"PetImages/{category.capitalize()}/{index}.jpg"
                if layout == "microsoft"
                else f"train/{category}.{index}.jpg"
            )
            if kind in BROKEN_KINDS:
                assert reasons[name].startswith(REASONS[kind]), (kind, reasons[name])
            else:
                assert kind in ODD_KINDS and name in kept, kind


def test_a_bare_kaggle_train_zip_works(kaggle_zip, tmp_path) -> None:
    bare = tmp_path / "train.zip"
    with zipfile.ZipFile(kaggle_zip) as outer:
        bare.write_bytes(outer.read("train.zip"))
    found = find_photos(bare)
    assert (found.layout, found.nested) == ("kaggle", None)
    assert len(found.photos) == SMALL_COUNT


@pytest.mark.parametrize(
    "entry",
    ["../evil.jpg", "/etc/evil.jpg", "PetImages/../../evil.jpg", "C:/evil.jpg", "..\\evil.jpg"],
)
def test_a_hostile_archive_is_refused_naming_the_entry(tmp_path, entry) -> None:
    from typer.testing import CliRunner

    from stages.cli import app

    archive = _zip_with(
        tmp_path,
        {
            "PetImages/Cat/1.jpg": jpeg_bytes(),
            "PetImages/Dog/1.jpg": jpeg_bytes(),
            entry: jpeg_bytes(),
        },
    )
    with pytest.raises(CatdogError, match=re.escape(f"entry {entry!r} would escape")):
        find_photos(archive)
    data = tmp_path / "work" / "data"
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(
        app,
        [
            "decode",
            "--archive",
            str(archive),
            "--images",
            str(data / "cache/images.npy"),
            "--index",
            str(data / "cache/index.csv"),
            "--rejected",
            str(data / "rejected.csv"),
        ],
    )
    assert result.exit_code == 1
    assert "would escape the destination folder" in result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_kaggle_layout_ignores_the_unlabelled_test1(kaggle_zip) -> None:
    found = find_photos(kaggle_zip)
    assert found.layout == "kaggle" and found.nested == "train.zip"
    assert all(photo.name.startswith("train/") for photo in found.photos)


def test_microsoft_layout_ignores_thumbs_readme_and_licence(microsoft_zip) -> None:
    names = {photo.name for photo in find_photos(microsoft_zip).photos}
    assert len(names) == SMALL_COUNT
    assert not any(name.endswith(("Thumbs.db", ".txt", ".pdf")) for name in names)


def test_stage_outputs(microsoft_zip, tmp_path, capsys) -> None:
    images, index = tmp_path / "cache/images.npy", tmp_path / "cache/index.csv"
    rejected = tmp_path / "rejected.csv"
    run(
        ImageParams(height=32, width=32),
        DecodeInputs(microsoft_zip),
        DecodeOutputs(images, index, rejected),
    )
    assert np.load(images).shape[0] == SMALL_COUNT
    assert list(pd.read_csv(index).columns) == ["filename", "category", "row"]
    rejected_rows = pd.read_csv(rejected)
    assert list(rejected_rows.columns) == ["filename", "category", "reason"]
    # Each rejected photo keeps its class, as its folder in the archive says; a member that
    # is not a photo (Thumbs.db, the readme) has none.
    photos = rejected_rows.dropna(subset=["category"])
    folders = photos["filename"].str.extract(r"PetImages/(Cat|Dog)/")[0].str.lower()
    assert len(photos) and list(photos["category"]) == list(folders)
    others = rejected_rows[rejected_rows["category"].isna()]
    assert set(others["filename"]) == set(NON_PHOTOS["microsoft"])
    kept = SMALL_COUNT // 2 - expected_rejects(SMALL_COUNT) // 2
    dropped = expected_rejects(SMALL_COUNT) // 2
    assert (
        f"cat: {kept} kept, {dropped} dropped; dog: {kept} kept, {dropped} dropped; "
        "4 other members rejected (not photos)"
    ) in capsys.readouterr().err


def _zip_with(tmp_path, members: dict[str, bytes]):
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"readme.txt": b"hello"}, "no photos in either layout"),
        (
            {"PetImages/Cat/1.jpg": jpeg_bytes(), "PetImages/Cat/2.jpg": jpeg_bytes()},
            "only cat photos",
        ),
    ],
)
def test_archives_without_both_classes_are_refused(tmp_path, members, message) -> None:
    with pytest.raises(CatdogError, match=message):
        find_photos(_zip_with(tmp_path, members))


def test_missing_and_non_zip_archives(tmp_path) -> None:
    with pytest.raises(CatdogError, match="no such archive"):
        find_photos(tmp_path / "absent.zip")
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    with pytest.raises(CatdogError, match="not a zip archive"):
        find_photos(fake)


# --- Faults in the archive itself: corrupt members, duplicates, bombs ------------------


def _patch_entry(path, name: str, local: dict[int, bytes], central: dict[int, bytes]) -> None:
    """Overwrite bytes of one entry's local header (offsets from its start, and offset -1 for
    the first data byte) and of its central directory record."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    start = info.header_offset
    name_length, extra_length = (
        int.from_bytes(data[start + i : start + i + 2], "little") for i in (26, 28)
    )
    for offset, value in local.items():
        at = start + 30 + name_length + extra_length if offset == -1 else start + offset
        data[at : at + len(value)] = value
    record = data.index(b"PK\x01\x02")
    while True:
        length = int.from_bytes(data[record + 28 : record + 30], "little")
        if data[record + 46 : record + 46 + length] == name.encode():
            break
        record = data.index(b"PK\x01\x02", record + 4)
    for offset, value in central.items():
        data[record + offset : record + offset + len(value)] = value
    path.write_bytes(bytes(data))


def _photos_plus(tmp_path, name: str, data: bytes, method=zipfile.ZIP_STORED):
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(3):
            archive.writestr(f"PetImages/Cat/{i}.jpg", jpeg_bytes())
            archive.writestr(f"PetImages/Dog/{i}.jpg", jpeg_bytes())
        archive.writestr(name, data, compress_type=method)
    return path


def _bad_crc(path, name):
    _patch_entry(path, name, {-1: b"\x00\x00\x00\x00"}, {})


def _broken_deflate(path, name):
    _patch_entry(path, name, {-1: b"\xff" * 16}, {})


def _encrypted(path, name):
    _patch_entry(path, name, {6: b"\x01\x00"}, {8: b"\x01\x00"})


def _unknown_method(path, name):
    _patch_entry(path, name, {8: b"\x62\x00"}, {10: b"\x62\x00"})


@pytest.mark.parametrize(
    ("damage", "method", "reason"),
    [
        (_bad_crc, zipfile.ZIP_STORED, "corrupt zip entry: Bad CRC-32"),
        (_broken_deflate, zipfile.ZIP_DEFLATED, "broken deflate stream in the zip"),
        (_encrypted, zipfile.ZIP_STORED, "encrypted zip entry (needs a password)"),
        (_unknown_method, zipfile.ZIP_STORED, "unknown zip compression method 98"),
    ],
)
def test_a_corrupt_member_is_dropped_with_its_reason_and_the_rest_kept(
    tmp_path, damage, method, reason
) -> None:
    name = "PetImages/Dog/bad.jpg"
    path = _photos_plus(tmp_path, name, jpeg_bytes(size=(200, 150)), method)
    damage(path, name)
    decoded = decode_archive(path, 32, 32, tmp_path / "images.npy", workers=1)
    assert len(decoded.index) == 6
    assert decoded.rejected["filename"].tolist() == [name]
    assert decoded.rejected["reason"].iloc[0].startswith(reason)


def test_a_zip_bomb_is_refused_from_its_header_without_reading_it(tmp_path) -> None:
    import tracemalloc

    from stages.ingest.decode import MAX_MEMBER_BYTES, read_member

    path = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("PetImages/Cat/bomb.jpg", "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(MAX_MEMBER_BYTES // len(block) + 1):
            member.write(block)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    with zipfile.ZipFile(path) as archive, pytest.raises(UndecodablePhoto, match="zip bomb: "):
        read_member(archive, "PetImages/Cat/bomb.jpg")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_a_member_past_the_cap_is_dropped_and_a_lying_header_reads_no_further(tmp_path) -> None:
    path = _photos_plus(tmp_path, "PetImages/Cat/big.jpg", jpeg_bytes(size=(300, 300)))
    decoded = decode_archive(path, 32, 32, tmp_path / "images.npy", 1, max_member_bytes=2_000)
    assert decoded.rejected["reason"].tolist() == [
        "zip bomb: " + decoded.rejected["reason"].iloc[0].removeprefix("zip bomb: ")
    ]
    assert "over the 2,000-byte cap for a photo" in decoded.rejected["reason"].iloc[0]
    # A header that claims 100 bytes: zipfile reads no more than that, and the CRC fails.
    _patch_entry(
        path,
        "PetImages/Cat/big.jpg",
        {22: (100).to_bytes(4, "little")},
        {24: (100).to_bytes(4, "little")},
    )
    decoded = decode_archive(path, 32, 32, tmp_path / "images.npy", 1)
    assert decoded.rejected["reason"].iloc[0].startswith("corrupt zip entry: Bad CRC-32")


def test_duplicate_photo_names_are_refused_naming_each(tmp_path) -> None:
    path = tmp_path / "archive.zip"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as archive:
        for name in ("PetImages/Cat/1.jpg", "PetImages/Cat/1.jpg", "PetImages/Dog/1.jpg"):
            archive.writestr(name, jpeg_bytes())
        for _ in range(3):
            archive.writestr("PetImages/Dog/2.jpg", jpeg_bytes())
    with pytest.raises(CatdogError) as caught:
        find_photos(path)
    assert str(caught.value) == (
        f"{path}: duplicate entries, refusing this archive: "
        "'PetImages/Cat/1.jpg' (2 times), 'PetImages/Dog/2.jpg' (3 times)"
    )


def test_a_nested_train_zip_that_is_not_a_zip_is_named(tmp_path) -> None:
    path = _zip_with(tmp_path, {"dogs-vs-cats/train.zip": b"<html>gone</html>"})
    with pytest.raises(CatdogError, match=r": dogs-vs-cats/train\.zip inside it is not a readable"):
        find_photos(path)


def test_the_nested_copy_is_capped_and_a_stale_one_is_cleaned_up(kaggle_zip, tmp_path) -> None:
    from stages.ingest.decode import photo_zip

    scratch = tmp_path / "cache"
    stale = scratch / ".nested-killed"
    stale.mkdir(parents=True)
    (stale / "train.zip").write_bytes(b"left by kill -9")
    decode_archive(kaggle_zip, 32, 32, scratch / "images.npy", workers=1)
    assert not list(scratch.glob(".nested-*"))
    with (
        pytest.raises(CatdogError, match=r"train\.zip\): .* over 1,000"),
        photo_zip(find_photos(kaggle_zip), scratch, limit=1_000),
    ):
        pass
    assert not list(scratch.glob(".nested-*"))
