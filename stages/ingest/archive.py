"""Find the labelled photos inside an archive, in Microsoft's or Kaggle's layout.

Microsoft: `PetImages/Cat/N.jpg`, `PetImages/Dog/N.jpg` (plus Thumbs.db, a readme and
a licence, which are ignored). Kaggle: `dogs-vs-cats.zip` nests `train.zip`
(`train/cat.N.jpg`, `train/dog.N.jpg`) and the unlabelled `test1.zip`; a bare
`train.zip` works too. Photos are read straight from the archive, never extracted.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stages.core.errors import CatdogError

MICROSOFT_PHOTO = re.compile(r"^(?:[^/]+/)*PetImages/(Cat|Dog)/[^/]+\.(?:jpe?g|png|gif|bmp)$", re.I)
KAGGLE_PHOTO = re.compile(r"^(?:[^/]+/)*train/(cat|dog)\.[^/]+\.(?:jpe?g|png|gif|bmp)$", re.I)
KAGGLE_NESTED_TRAIN = "train.zip"


@dataclass(frozen=True)
class Photo:
    """One labelled photo: its path inside the (innermost) archive, and its class."""

    name: str
    category: str


@dataclass(frozen=True)
class PhotoArchive:
    """Where the photos are: a zip file, possibly nested one level inside another."""

    path: Path
    nested: str | None
    layout: str
    photos: tuple[Photo, ...]


def find_photos(path: Path) -> PhotoArchive:
    """List the labelled photos in `path`, or explain in one line why there are none."""
    if not path.is_file():
        raise CatdogError(f"{path}: no such archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            refuse_unsafe_entries(names, str(path))
            nested = _nested_train(names)
            if nested:
                refuse_duplicates([name for name in names if name == nested], str(path))
                inner_names = _inner_names(archive, nested, path)
                where = f"{path} ({nested})"
                refuse_unsafe_entries(inner_names, where)
                photos = _match(inner_names, KAGGLE_PHOTO)
                refuse_duplicates([photo.name for photo in photos], where)
                return _checked(PhotoArchive(path, nested, "kaggle", photos))
    except zipfile.BadZipFile as error:
        raise CatdogError(f"{path}: not a zip archive ({error})") from None
    for layout, pattern in (("microsoft", MICROSOFT_PHOTO), ("kaggle", KAGGLE_PHOTO)):
        photos = _match(names, pattern)
        if photos:
            refuse_duplicates([photo.name for photo in photos], str(path))
            return _checked(PhotoArchive(path, None, layout, photos))
    raise CatdogError(
        f"{path}: no photos in either layout (expected PetImages/Cat/N.jpg and "
        f"PetImages/Dog/N.jpg, or train/cat.N.jpg and train/dog.N.jpg, or a train.zip)"
    )


def refuse_unsafe_entries(names: list[str], where: str) -> None:
    """Refuse an archive with any entry that would land outside a destination folder."""
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise CatdogError(
                f"{where}: entry {name!r} would escape the destination folder; "
                f"refusing this archive"
            )


def _inner_names(archive: zipfile.ZipFile, nested: str, path: Path) -> list[str]:
    """The entries of the nested zip, or a CatdogError naming the inner file."""
    try:
        with archive.open(nested) as handle, zipfile.ZipFile(handle) as inner:
            return inner.namelist()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise CatdogError(f"{path}: {nested} inside it is not a readable zip ({error})") from None


def refuse_duplicates(names: list[str], where: str) -> None:
    """Refuse an archive that holds a photo's name more than once: which copy is the photo
    is anyone's guess, and a duplicated row would put one photo in both splits."""
    counts = Counter(names)
    repeated = [f"{name!r} ({count} times)" for name, count in counts.items() if count > 1]
    if repeated:
        raise CatdogError(
            f"{where}: duplicate entries, refusing this archive: {', '.join(sorted(repeated))}"
        )


def _nested_train(names: list[str]) -> str | None:
    return next((name for name in names if name.rsplit("/", 1)[-1] == KAGGLE_NESTED_TRAIN), None)


def _match(names: list[str], pattern: re.Pattern[str]) -> tuple[Photo, ...]:
    photos = []
    for name in sorted(names):
        match = pattern.match(name)
        if match:
            photos.append(Photo(name, match.group(1).lower()))
    return tuple(photos)


def _checked(found: PhotoArchive) -> PhotoArchive:
    counts = Counter(photo.category for photo in found.photos)
    where = f"{found.path}" + (f" ({found.nested})" if found.nested else "")
    if not counts:
        raise CatdogError(f"{where}: no photos in the {found.layout} layout")
    if len(counts) == 1:
        (only,) = counts
        raise CatdogError(
            f"{where}: only {only} photos ({counts[only]}); both cats and dogs are needed"
        )
    return found
