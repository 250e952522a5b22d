"""Stage `decode`: decode every photo once, into one uint8 array all variations share.

Each photo is read straight from the archive, decoded (JPEGs in draft mode, i.e. at
a reduced scale, when that still covers the target size), converted to RGB and
resized. Files that do not decode to a picture are dropped and reported with their
reason. The work is spread over every core.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from stages.archive import PhotoArchive, find_photos
from stages.atomic import atomic_path, write_csv
from stages.progress import progress

# Refuse to decode anything larger: a decompression bomb must never reach memory.
MAX_PIXELS = 60_000_000
CHUNK = 128


class UndecodablePhoto(Exception):
    """A file that is not a usable picture; the message is the reason we report."""


@dataclass(frozen=True)
class DecodedSet:
    """The photos that decoded (pixels and labels, in the same order) and those that did not."""

    images: np.ndarray
    index: pd.DataFrame  # filename, category
    rejected: pd.DataFrame  # filename, category, reason


def decode_photo(data: bytes, height: int, width: int) -> np.ndarray:
    """Decode image bytes of any container into an RGB uint8 array of (height, width, 3)."""
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
        if image.format == "JPEG":
            image.draft("RGB", (width, height))
        try:
            rgb = image.convert("RGB").resize((width, height), Image.BILINEAR)
        except OSError as error:
            reason = "truncated" if "truncated" in str(error) else "corrupt"
            raise UndecodablePhoto(f"{reason} {image.format or 'image'}: {error}") from None
        except (ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise UndecodablePhoto(f"corrupt {image.format or 'image'}: {error}") from None
    return np.asarray(rgb, dtype=np.uint8)


def _decode_chunk(task: tuple[str, list[str], int, int]) -> tuple[np.ndarray, list[str | None]]:
    """Decode a chunk of members of one zip; return their pixels and per-file failure reasons."""
    zip_path, names, height, width = task
    pixels = np.zeros((len(names), height, width, 3), dtype=np.uint8)
    reasons: list[str | None] = []
    with zipfile.ZipFile(zip_path) as archive:
        for row, name in enumerate(names):
            try:
                pixels[row] = decode_photo(archive.read(name), height, width)
                reasons.append(None)
            except UndecodablePhoto as problem:
                reasons.append(str(problem))
    return pixels, reasons


@contextlib.contextmanager
def photo_zip(found: PhotoArchive, scratch: Path) -> Iterator[Path]:
    """The path of the zip holding the photos: the archive itself, or its nested train.zip
    copied to a temporary file inside `scratch`."""
    if found.nested is None:
        yield found.path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".nested-") as folder:
        inner = Path(folder) / "train.zip"
        with (
            zipfile.ZipFile(found.path) as archive,
            archive.open(found.nested) as source,
            inner.open("wb") as target,
        ):
            shutil.copyfileobj(source, target, length=1 << 20)
        yield inner


def decode_archive(
    archive_path: Path, height: int, width: int, scratch: Path, workers: int | None = None
) -> DecodedSet:
    """Decode every labelled photo of the archive, in parallel, keeping archive order."""
    found = find_photos(archive_path)
    names = [photo.name for photo in found.photos]
    categories = [photo.category for photo in found.photos]
    chunks = [names[i : i + CHUNK] for i in range(0, len(names), CHUNK)]
    workers = workers or os.cpu_count() or 1
    pixels: list[np.ndarray] = []
    reasons: list[str | None] = []
    with photo_zip(found, scratch) as zip_path, ProcessPoolExecutor(workers) as pool:
        tasks = [(str(zip_path), chunk, height, width) for chunk in chunks]
        for chunk_pixels, chunk_reasons in progress(
            pool.map(_decode_chunk, tasks),
            total=len(tasks),
            description=f"decoding {len(names)} photos",
            unit="chunks",
        ):
            pixels.append(chunk_pixels)
            reasons.extend(chunk_reasons)
    kept = np.array([reason is None for reason in reasons], dtype=bool)
    images = np.concatenate(pixels)[kept] if pixels else np.zeros((0, height, width, 3), np.uint8)
    table = pd.DataFrame({"filename": names, "category": categories, "reason": reasons})
    return DecodedSet(
        images=images,
        index=table.loc[kept, ["filename", "category"]].reset_index(drop=True),
        rejected=table.loc[~kept].reset_index(drop=True),
    )


def summarize(decoded: DecodedSet) -> str:
    """One line: photos kept and dropped per class."""
    kept = Counter(decoded.index["category"])
    dropped = Counter(decoded.rejected["category"])
    parts = [
        f"{category}: {kept[category]} kept, {dropped[category]} dropped"
        for category in sorted(set(kept) | set(dropped))
    ]
    return "decode: " + "; ".join(parts)


def write_decoded(
    decoded: DecodedSet, images_path: Path, index_path: Path, rejected_path: Path
) -> None:
    """Write the pixel cache, its index and the rejected list, each atomically."""
    with atomic_path(images_path) as temporary:
        np.save(temporary, decoded.images, allow_pickle=False)
    write_csv(index_path, decoded.index)
    write_csv(rejected_path, decoded.rejected[["filename", "reason"]])


def run(
    archive_path: Path,
    height: int,
    width: int,
    images_path: Path,
    index_path: Path,
    rejected_path: Path,
) -> DecodedSet:
    """The stage: decode, write the three outputs, print the summary."""
    decoded = decode_archive(archive_path, height, width, scratch=images_path.parent)
    write_decoded(decoded, images_path, index_path, rejected_path)
    print(summarize(decoded), file=sys.stderr)
    return decoded
