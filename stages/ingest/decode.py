"""Stage `decode`: decode every photo once, into one uint8 `.npy` array all variations share.

Each photo is read straight from the archive and decoded as a person sees it (EXIF
orientation applied, 16-bit grey scaled to 8 bits, transparency shown over white; JPEGs
in draft mode, i.e. at a reduced scale, when that still covers the target size), then
resized. `predict` reads its photos through the same function. Every member of the
archive ends up in the index or in the rejected list with its reason: files that do not
decode to a picture, and members that are not photos (folders, Thumbs.db, the readme).
The work is spread over every core.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from stages.core.atomic import atomic_path, clear_stale_temporaries, write_csv
from stages.core.config import ImageParams
from stages.core.errors import CatdogError
from stages.core.progress import progress
from stages.ingest.archive import PhotoArchive, find_photos

# Refuse to decode anything larger: a decompression bomb must never reach memory.
MAX_PIXELS = 60_000_000
# No photo is this big (the real archive's largest is a few MB): a member that says so in
# its header, or inflates past it, is a zip bomb and is never read whole.
MAX_MEMBER_BYTES = 256 * 2**20
# The nested train.zip of Kaggle's layout is copied to disk (543 MB for the real one).
MAX_NESTED_BYTES = 4 * 2**30
CHUNK = 128
# Transparent pixels are shown over this colour, as a viewer shows them on a white page.
BACKGROUND = (255, 255, 255)
# Pillow's modes of grey deeper than 8 bits: 16-bit grey opens as I;16 (I in older Pillows).
WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Pillow's modes with an alpha band (others may name one transparent colour instead).
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# Compression methods Python's zipfile reads (stored, deflate, bzip2, lzma).
READABLE_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


class UndecodablePhoto(Exception):
    """A file that is not a usable picture; the message is the reason we report."""


@dataclass(frozen=True)
class DecodedSet:
    """Which photos decoded (and the row of the pixel array each one is in), which did not."""

    index: pd.DataFrame  # filename, category, row
    rejected: pd.DataFrame  # filename, category, reason


def read_member(archive: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """A member's bytes, at most `limit` of them; a member that cannot be read (encrypted,
    an unknown compression method, a bad CRC, a broken stream) or is bigger than `limit`
    (from its header, or from the stream if the header lies) is an UndecodablePhoto."""
    info = archive.getinfo(name)
    if info.flag_bits & 0x1:
        raise UndecodablePhoto("encrypted zip entry (needs a password)")
    if info.compress_type not in READABLE_METHODS:
        raise UndecodablePhoto(f"unknown zip compression method {info.compress_type}")
    if info.file_size > limit:
        raise UndecodablePhoto(
            f"zip bomb: {info.file_size:,} bytes once inflated (from {info.compress_size:,}), "
            f"over the {limit:,}-byte cap for a photo"
        )
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except zipfile.BadZipFile as error:  # a bad CRC-32, or a bad local header
        raise UndecodablePhoto(f"corrupt zip entry: {error}") from None
    except (zlib.error, EOFError, OSError, ValueError) as error:
        method = READABLE_METHODS[info.compress_type]
        raise UndecodablePhoto(f"broken {method} stream in the zip: {error}") from None
    except (NotImplementedError, RuntimeError) as error:
        raise UndecodablePhoto(f"unreadable zip entry: {error}") from None
    if len(data) > limit:
        raise UndecodablePhoto(f"zip bomb: inflates past the {limit:,}-byte cap for a photo")
    return data


def read_file(path: Path, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them (the cap on an archive's member). A
    named pipe, device, socket or folder, or a bigger file, is an UndecodablePhoto; the file
    is opened without blocking, so a pipe with no writer cannot hang the caller. A file that
    cannot be opened raises the OSError (FileNotFoundError, ELOOP, EACCES...)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UndecodablePhoto(_not_regular(status.st_mode))
        if status.st_size > limit:
            raise UndecodablePhoto(
                f"{status.st_size:,} bytes, over the {limit:,}-byte cap for a photo"
            )
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise UndecodablePhoto(f"grew past the {limit:,}-byte cap for a photo while read")
    return data


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder, not a photo"
    kind = "named pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
    return f"not a regular file (a {kind}); photos are read from regular files only"


def decode_photo(data: bytes, height: int, width: int) -> np.ndarray:
    """Decode image bytes of any container into an RGB uint8 array of (height, width, 3),
    the picture a person sees: EXIF orientation applied, 16-bit grey scaled to 8 bits (its
    high byte, as Pillow reduces 16-bit colour), transparency composited on BACKGROUND
    (white). Decode and `predict` both read photos through this function."""
    if not data:
        raise UndecodablePhoto("empty file (0 bytes)")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise UndecodablePhoto("HTML or XML page, not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise UndecodablePhoto("not an image (unrecognised format)") from None
        except Image.DecompressionBombError as error:
            raise UndecodablePhoto(f"decompression bomb: {error}") from None
        except (OSError, ValueError) as error:
            if "truncat" in str(error).lower():
                raise UndecodablePhoto(f"truncated before the image data: {error}") from None
            raise UndecodablePhoto(f"unreadable header: {error}") from None
        if image.width * image.height > MAX_PIXELS:
            raise UndecodablePhoto(
                f"decompression bomb: {image.width}x{image.height} pixels is over {MAX_PIXELS:,}"
            )
        try:
            if image.format == "JPEG":
                image.draft("RGB", _draft_size(image, height, width))
            rgb = _as_seen(image)
            rgb = rgb.resize((width, height), _filter_for(rgb, height, width))
        except OSError as error:
            reason = "truncated" if "truncated" in str(error) else "corrupt"
            raise UndecodablePhoto(f"{reason} {image.format or 'image'}: {error}") from None
        except (ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise UndecodablePhoto(f"corrupt {image.format or 'image'}: {error}") from None
    return np.asarray(rgb, dtype=np.uint8)


def _draft_size(image: Image.Image, height: int, width: int) -> tuple[int, int]:
    """The target size in the file's own orientation: (width, height), swapped when EXIF
    says the photo is turned a quarter (orientations 5 to 8)."""
    turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def _as_seen(image: Image.Image) -> Image.Image:
    """The RGB picture a viewer shows: turned upright as its EXIF orientation says, 16-bit
    grey scaled to 8 bits, transparent pixels composited on BACKGROUND."""
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in WIDE_GREY_MODES:
        image = _eight_bit_grey(image)
    if image.mode not in ALPHA_MODES and "transparency" not in image.info:
        return image.convert("RGB")
    backdrop = Image.new("RGBA", image.size, (*BACKGROUND, 255))
    return Image.alpha_composite(backdrop, image.convert("RGBA")).convert("RGB")


def _eight_bit_grey(image: Image.Image) -> Image.Image:
    """16-bit grey (0 to 65535) as 8-bit L (its high byte), or LA where a tRNS chunk names
    one 16-bit value transparent."""
    wide = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
    grey = Image.fromarray((wide >> 8).astype(np.uint8))
    key = image.info.get("transparency")
    if not isinstance(key, int):
        return grey
    alpha = Image.fromarray(np.where(wide == key, 0, 255).astype(np.uint8))
    return Image.merge("LA", (grey, alpha))


def _filter_for(image: Image.Image, height: int, width: int) -> Image.Resampling:
    """Area averaging when shrinking (antialiased, and the fastest such filter);
    bilinear when enlarging a small photo."""
    shrinking = image.width >= width and image.height >= height
    return Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR


# Each worker opens the archive and the output file once: re-reading the central
# directory of a 25,000-entry zip for every chunk would cost more than decoding it.
_worker: dict[str, object] = {}


@dataclass(frozen=True)
class _Output:
    """Where row i of the `.npy` array starts: `offset + i * row_bytes`."""

    path: str
    offset: int
    height: int
    width: int

    @property
    def row_bytes(self) -> int:
        return self.height * self.width * 3


def _start_worker(zip_path: str, output: _Output, limit: int) -> None:
    _worker["archive"] = zipfile.ZipFile(zip_path)
    _worker["fd"] = os.open(output.path, os.O_WRONLY)
    _worker["output"] = output
    _worker["limit"] = limit


def _decode_chunk(task: tuple[int, list[str]]) -> list[str | None]:
    """Decode a chunk of members into the array rows from `start` (plain positioned
    writes: cheaper than faulting in a memory map); return each file's failure reason,
    or None where it decoded."""
    start, names = task
    archive, fd, output = _worker["archive"], _worker["fd"], _worker["output"]
    limit = _worker["limit"]
    assert isinstance(archive, zipfile.ZipFile) and isinstance(output, _Output)
    assert isinstance(limit, int) and isinstance(fd, int)
    reasons: list[str | None] = []
    for row, name in enumerate(names, start=start):
        try:
            data = read_member(archive, name, limit)
            pixels = decode_photo(data, output.height, output.width)
            os.pwrite(fd, pixels.data, output.offset + row * output.row_bytes)
            reasons.append(None)
        except UndecodablePhoto as problem:
            reasons.append(str(problem))
    return reasons


NESTED_PREFIX = ".nested-"


@contextlib.contextmanager
def photo_zip(found: PhotoArchive, scratch: Path, limit: int = MAX_NESTED_BYTES) -> Iterator[Path]:
    """The path of the zip holding the photos: the archive itself, or its nested train.zip
    copied (at most `limit` bytes) to a temporary folder inside `scratch`. A copy that a
    killed run left behind is removed first."""
    if found.nested is None:
        yield found.path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    for stale in scratch.glob(f"{NESTED_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=NESTED_PREFIX) as folder:
        inner = Path(folder) / "train.zip"
        _copy_nested(found, inner, limit)
        yield inner


def _copy_nested(found: PhotoArchive, target: Path, limit: int) -> None:
    where = f"{found.path} ({found.nested})"
    with zipfile.ZipFile(found.path) as archive:
        info = archive.getinfo(str(found.nested))
        if info.file_size > limit:
            raise CatdogError(f"{where}: {info.file_size:,} bytes once inflated, over {limit:,}")
        copied = 0
        try:
            with archive.open(info) as source, target.open("wb") as handle:
                while block := source.read(min(1 << 20, limit + 1 - copied)):
                    copied += len(block)
                    if copied > limit:
                        raise CatdogError(f"{where}: inflates past {limit:,} bytes")
                    handle.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
            raise CatdogError(f"{where}: unreadable ({e})") from None


def decode_archive(
    archive_path: Path,
    height: int,
    width: int,
    images_path: Path,
    workers: int | None = None,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> DecodedSet:
    """Decode every labelled photo of the archive, in parallel, into the `.npy` array at
    `images_path` (row i is the archive's photo i; rows of rejected files stay black).

    Workers write straight into the array on disk, so no pixels travel between processes
    and none are copied afterwards. The array appears atomically, when all rows are in.
    """
    found = find_photos(archive_path)
    names = [photo.name for photo in found.photos]
    tasks = [(start, names[start : start + CHUNK]) for start in range(0, len(names), CHUNK)]
    reasons: list[str | None] = []
    with photo_zip(found, images_path.parent) as zip_path, atomic_path(images_path) as temporary:
        array = np.lib.format.open_memmap(
            temporary, mode="w+", dtype=np.uint8, shape=(len(names), height, width, 3)
        )
        output = _Output(str(temporary), array.offset, height, width)
        del array
        with ProcessPoolExecutor(
            workers or os.cpu_count() or 1,
            initializer=_start_worker,
            initargs=(str(zip_path), output, max_member_bytes),
        ) as pool:
            results = pool.map(_decode_chunk, tasks)
            description = f"decoding {len(names)} photos"
            for chunk_reasons in progress(results, len(tasks), description, "chunks"):
                reasons.extend(chunk_reasons)
    table = pd.DataFrame(
        {
            "filename": names,
            "category": [photo.category for photo in found.photos],
            "row": range(len(names)),
            "reason": reasons,
        }
    )
    kept = table["reason"].isna()
    others = pd.DataFrame(
        {
            "filename": [other.name for other in found.others],
            "category": "",
            "reason": [other.reason for other in found.others],
        },
        columns=["filename", "category", "reason"],
    )
    rejected = table.loc[~kept, ["filename", "category", "reason"]]
    return DecodedSet(
        index=table.loc[kept, ["filename", "category", "row"]].reset_index(drop=True),
        rejected=pd.concat([rejected, others], ignore_index=True),
    )


def summarize(decoded: DecodedSet) -> str:
    """One line: photos kept and dropped per class, and the members that are not photos."""
    kept = Counter(decoded.index["category"])
    dropped = Counter(decoded.rejected["category"])
    others = dropped.pop("", 0)
    parts = [
        f"{category}: {kept[category]} kept, {dropped[category]} dropped"
        for category in sorted(set(kept) | set(dropped))
    ]
    return f"decode: {'; '.join(parts)}; {_counted(others, 'other member')} rejected (not photos)"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def write_tables(decoded: DecodedSet, index_path: Path, rejected_path: Path) -> None:
    """Write the index of the pixel rows and the rejected list (with each file's class,
    empty for a member that is not a photo), each atomically."""
    write_csv(index_path, decoded.index)
    write_csv(rejected_path, decoded.rejected[["filename", "category", "reason"]])


@dataclass(frozen=True)
class DecodeInputs:
    """What the stage reads: the download stage's archive."""

    archive: Path


@dataclass(frozen=True)
class DecodeOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    images: Path
    index: Path
    rejected: Path


def run(image: ImageParams, inputs: DecodeInputs, outputs: DecodeOutputs) -> DecodedSet:
    """The stage: clear what a killed run left in the outputs' folders, decode into the
    pixel array, write both tables, print the summary."""
    cleared = clear_stale_temporaries([outputs.images, outputs.index, outputs.rejected])
    if cleared:
        print(
            f"decode: removed what a killed run left ({_counted(len(cleared), 'temporary file')}, "
            f"{sum(cleared.values()):,} bytes): {', '.join(map(str, cleared))}",
            file=sys.stderr,
        )
    decoded = decode_archive(inputs.archive, image.height, image.width, outputs.images)
    write_tables(decoded, outputs.index, outputs.rejected)
    print(summarize(decoded), file=sys.stderr)
    return decoded
