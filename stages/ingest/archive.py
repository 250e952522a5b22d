"""Find the labelled photos inside an archive, in Microsoft's or Kaggle's layout.

Microsoft: `PetImages/Cat/N.jpg`, `PetImages/Dog/N.jpg` (plus Thumbs.db, a readme and
a licence). Kaggle: `dogs-vs-cats.zip` nests `train.zip` (`train/cat.N.jpg`,
`train/dog.N.jpg`) and the unlabelled `test1.zip`; a bare `train.zip` works too. Photos
are read straight from the archive, never extracted.

Every member is sorted into a labelled photo or a non-photo with the reason it is not
one (a folder, Thumbs.db, a file outside the class folders, a name that is not a
photo's), so that decode can account for each: none is skipped in silence.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stages.core.errors import CatdogError

# The names of photos, in an archive's class folders and among the files `predict` is given.
PHOTO_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
# Where each layout keeps its labelled photos; group 1 is the class.
MICROSOFT_PHOTO = re.compile(r"^(?:[^/]+/)*PetImages/(Cat|Dog)/[^/]+$", re.I)
KAGGLE_PHOTO = re.compile(r"^(?:[^/]+/)*train/(cat|dog)\.[^/]+$", re.I)
KAGGLE_NESTED_TRAIN = "train.zip"
# Files that operating systems leave in folders, by lower-case name.
SYSTEM_FILES = {
    "thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    ".ds_store": "macOS folder settings",
}
OUTSIDE = {
    "microsoft": "outside PetImages/Cat/ and PetImages/Dog/: no class",
    "kaggle": "not train/cat.* or train/dog.*: no class",
    "nested": f"outside {KAGGLE_NESTED_TRAIN}, which holds the labelled photos: no class",
}


@dataclass(frozen=True)
class Photo:
    """One labelled photo: its path inside the (innermost) archive, and its class."""

    name: str
    category: str


@dataclass(frozen=True)
class NotAPhoto:
    """A member that is not a labelled photo, and why not."""

    name: str
    reason: str


@dataclass(frozen=True)
class PhotoArchive:
    """Where the photos are: a zip file, possibly nested one level inside another.

    `photos` and `others` hold every member once: those of the zip, or, when the photos are
    in a nested train.zip, every member of it and every other member of the outer zip."""

    path: Path
    nested: str | None
    layout: str
    photos: tuple[Photo, ...]
    others: tuple[NotAPhoto, ...]


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
                photos, others = sort_members(inner_names, KAGGLE_PHOTO, OUTSIDE["kaggle"])
                refuse_duplicates([photo.name for photo in photos], where)
                _, beside = sort_members([n for n in names if n != nested], None, OUTSIDE["nested"])
                return _checked(PhotoArchive(path, nested, "kaggle", photos, others + beside))
    except zipfile.BadZipFile as error:
        raise CatdogError(f"{path}: not a zip archive ({error})") from None
    for layout, pattern in (("microsoft", MICROSOFT_PHOTO), ("kaggle", KAGGLE_PHOTO)):
        photos, others = sort_members(names, pattern, OUTSIDE[layout])
        if photos:
            refuse_duplicates([photo.name for photo in photos], str(path))
            return _checked(PhotoArchive(path, None, layout, photos, others))
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


def sort_members(
    names: list[str], pattern: re.Pattern[str] | None, outside: str
) -> tuple[tuple[Photo, ...], tuple[NotAPhoto, ...]]:
    """The labelled photos among `names` (those `pattern` matches, with a photo's suffix),
    and every other name with its reason (`outside` for a file where no photo belongs);
    each sorted by name."""
    photos, others = [], []
    for name in sorted(names):
        reason = why_not_a_photo(name, pattern, outside)
        if reason is not None:
            others.append(NotAPhoto(name, reason))
        elif pattern and (match := pattern.match(name)):
            photos.append(Photo(name, match.group(1).lower()))
    return tuple(photos), tuple(others)


def why_not_a_photo(name: str, pattern: re.Pattern[str] | None, outside: str) -> str | None:
    """Why the member `name` is not a labelled photo, or None where it is one."""
    base = name.rsplit("/", 1)[-1]
    if name.endswith("/"):
        return "a folder, not a photo"
    if base.lower() in SYSTEM_FILES:
        return f"{SYSTEM_FILES[base.lower()]}, not a photo"
    if base.startswith("._") or name.startswith("__MACOSX/") or "/__MACOSX/" in name:
        return "macOS resource fork (AppleDouble), not a photo"
    if pattern is None or not pattern.match(name):
        return outside
    suffix = PurePosixPath(base).suffix.lower()
    if suffix not in PHOTO_SUFFIXES:
        return f"not a photo's name: {suffix or 'no suffix'}, not one of {' '.join(PHOTO_SUFFIXES)}"
    return None


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
