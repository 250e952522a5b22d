"""A deterministic, learnable stand-in for the real photos, in either archive layout.

Cats are drawn with pointed ears and whiskers, dogs with floppy ears and a snout,
on cluttered backgrounds whose clutter includes the same kinds of shapes, at random
sizes, places, colours and tilts. A small CNN needs a few epochs to tell them apart.
Like the real archives, each set carries a few broken files (zero bytes, truncated,
garbage, an HTML error page, a decompression bomb) and odd but valid ones (progressive,
EXIF-only without JFIF, grayscale, CMYK, PNG/GIF/BMP named .jpg, 40 px and 3000 px),
plus the archive's non-photo files.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stages.core.atomic import atomic_path
from stages.core.progress import progress

CATEGORIES = ("cat", "dog")

# Per class: index of the photo -> what is wrong with (or odd about) its file.
# The Microsoft archive's two zero-byte files are Cat/666.jpg and Dog/11702.jpg.
BROKEN_KINDS = ("empty", "truncated", "garbage", "html", "bomb")
ODD_KINDS = (
    "progressive",
    "exif_only",
    "grayscale",
    "cmyk",
    "png",
    "gif",
    "bmp",
    "tiny",
    "large",
)


@dataclass(frozen=True)
class PhotoSpec:
    """Everything needed to draw one photo, so that workers draw it identically."""

    category: str
    index: int
    seed: int
    kind: str  # "photo", one of BROKEN_KINDS or one of ODD_KINDS
    min_side: int
    max_side: int


def special_kinds(per_class: int) -> dict[int, str]:
    """Which indices of each class get a broken or odd file, spread over the range."""
    kinds = (*BROKEN_KINDS, *ODD_KINDS)
    step = max(1, per_class // (len(kinds) + 1))
    return {step * (slot + 1) - 1: kind for slot, kind in enumerate(kinds)}


def photo_specs(count: int, seed: int, min_side: int = 200, max_side: int = 400) -> list[PhotoSpec]:
    """The photos of a set of `count` (half cats, half dogs), in archive order."""
    per_class = count // 2
    specials = special_kinds(per_class)
    return [
        PhotoSpec(category, index, seed, specials.get(index, "photo"), min_side, max_side)
        for category in CATEGORIES
        for index in range(per_class)
    ]


def _rng(spec: PhotoSpec) -> np.random.Generator:
    return np.random.default_rng([spec.seed, CATEGORIES.index(spec.category), spec.index])


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(c) for c in rng.integers(0, 256, size=3))
    return red, green, blue


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Background shapes, including triangles and ellipses like the animals' parts."""
    for _ in range(int(rng.integers(4, 10))):
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        size = rng.uniform(0.05, 0.25) * min(w, h)
        colour = _random_colour(rng)
        shape = rng.integers(0, 4)
        if shape == 0:
            draw.ellipse([x0, y0, x0 + size, y0 + size * rng.uniform(0.4, 1.6)], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x0 + size, y0 + size * rng.uniform(0.4, 1.6)], fill=colour)
        elif shape == 2:
            points = [(x0 + rng.uniform(0, size), y0 + rng.uniform(0, size)) for _ in range(3)]
            draw.polygon(points, fill=colour)
        else:
            draw.line(
                [x0, y0, x0 + rng.uniform(-1, 1) * size * 2, y0 + rng.uniform(-1, 1) * size * 2],
                fill=colour,
                width=int(rng.integers(1, 5)),
            )


def _draw_cat(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    r: float,
    fur: tuple[int, int, int],
) -> None:
    ear_height = r * rng.uniform(0.4, 1.0)
    for side in (-1, 1):
        base_outer = (cx + side * r * 0.95, cy - r * 0.25)
        base_inner = (cx + side * r * 0.2, cy - r * 0.9)
        tip = (cx + side * r * 0.75, cy - r * 0.55 - ear_height)
        draw.polygon([base_outer, base_inner, tip], fill=fur)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
    eye = (int(rng.integers(120, 256)), int(rng.integers(120, 256)), 0)
    whiskers = rng.random() < 0.5
    for side in (-1, 1):
        ex = cx + side * r * 0.4
        draw.ellipse([ex - r * 0.18, cy - r * 0.3, ex + r * 0.18, cy - r * 0.05], fill=eye)
        draw.ellipse([ex - r * 0.04, cy - r * 0.3, ex + r * 0.04, cy - r * 0.05], fill=(0, 0, 0))
        for tilt in (-0.15, 0.0, 0.15) if whiskers else ():
            draw.line(
                [
                    cx + side * r * 0.25,
                    cy + r * 0.25,
                    cx + side * r * 1.5,
                    cy + r * (0.25 + tilt * 2),
                ],
                fill=(240, 240, 240),
                width=max(1, int(r / 30)),
            )
    draw.polygon(
        [(cx - r * 0.1, cy + r * 0.1), (cx + r * 0.1, cy + r * 0.1), (cx, cy + r * 0.22)],
        fill=(230, 120, 140),
    )


def _draw_dog(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    r: float,
    fur: tuple[int, int, int],
) -> None:
    ear = tuple(max(0, c - int(rng.integers(40, 100))) for c in fur)
    ear_length = r * rng.uniform(1.0, 1.4)
    for side in (-1, 1):
        ex = cx + side * r * 0.95
        draw.ellipse(
            [ex - r * 0.3, cy - r * 0.7, ex + r * 0.3, cy - r * 0.7 + ear_length * 1.3], fill=ear
        )
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
    if rng.random() < 0.6:
        muzzle = tuple(min(255, c + 60) for c in fur)
        draw.ellipse([cx - r * 0.45, cy + r * 0.05, cx + r * 0.45, cy + r * 0.75], fill=muzzle)
    draw.ellipse([cx - r * 0.17, cy + r * 0.1, cx + r * 0.17, cy + r * 0.32], fill=(10, 10, 10))
    for side in (-1, 1):
        ex = cx + side * r * 0.4
        draw.ellipse(
            [ex - r * 0.12, cy - r * 0.35, ex + r * 0.12, cy - r * 0.11], fill=(40, 25, 10)
        )
    draw.line([cx, cy + r * 0.32, cx, cy + r * 0.55], fill=(10, 10, 10), width=max(1, int(r / 25)))


def draw_photo(spec: PhotoSpec) -> Image.Image:
    """Draw one cat or dog photo, fully determined by its spec."""
    rng = _rng(spec)
    width = int(rng.integers(spec.min_side, spec.max_side + 1))
    height = int(rng.integers(spec.min_side, spec.max_side + 1))
    top, bottom = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    image = Image.fromarray(np.broadcast_to(background, (height, width, 3)).copy())
    _draw_clutter(ImageDraw.Draw(image), rng, width, height)

    side = min(width, height)
    r = side * rng.uniform(0.12, 0.24)
    layer = Image.new("RGBA", (int(r * 4), int(r * 4)), (0, 0, 0, 0))
    draw_animal = _draw_cat if spec.category == "cat" else _draw_dog
    draw_animal(ImageDraw.Draw(layer), rng, r * 2, r * 2, r, _random_colour(rng))
    layer = layer.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BILINEAR)
    x = int(rng.uniform(0, max(1, width - layer.width)))
    y = int(rng.uniform(0, max(1, height - layer.height)))
    image.paste(layer, (x, y), layer)

    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + rng.normal(0, 18, size=pixels.shape).astype(np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0, 1.2))))


def _jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _saved(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _first_half(data: bytes) -> bytes:
    """A file cut off mid-stream, as an interrupted copy leaves it."""
    return data[: len(data) // 2]


def _without_jfif(jpeg: bytes) -> bytes:
    """Drop the JFIF APP0 segment, as cameras that write only EXIF do."""
    assert jpeg[2:4] == b"\xff\xe0", "expected a JFIF APP0 segment after SOI"
    length = int.from_bytes(jpeg[4:6], "big")
    return jpeg[:2] + jpeg[4 + length :]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    rows = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def encode_photo(spec: PhotoSpec) -> bytes:
    """The file bytes for one spec: a JPEG, or a deliberately broken or odd file."""
    rng = _rng(spec)
    if spec.kind == "empty":
        return b""
    if spec.kind == "garbage":
        return rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    if spec.kind == "html":
        return (
            b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
            b"<body><h1>Not Found</h1></body></html>\n"
        )
    if spec.kind == "bomb":
        return _png_header_only(20_000, 20_000)
    image = draw_photo(spec)
    quality = int(rng.integers(70, 95))
    encoders = {
        "photo": lambda: _jpeg(image, quality=quality),
        "truncated": lambda: _first_half(_jpeg(image, quality=quality)),
        "progressive": lambda: _jpeg(image, quality=quality, progressive=True),
        "exif_only": lambda: _without_jfif(_jpeg(image, quality=quality, exif=_camera_exif())),
        "grayscale": lambda: _jpeg(image.convert("L"), quality=quality),
        "cmyk": lambda: _jpeg(image.convert("CMYK"), quality=quality),
        "png": lambda: _saved(image, "PNG"),
        "gif": lambda: _saved(image.convert("P"), "GIF"),
        "bmp": lambda: _saved(image, "BMP"),
        "tiny": lambda: _jpeg(image.resize((40, 40 * image.height // image.width or 1))),
        "large": lambda: _jpeg(image.resize((3000, 3000 * image.height // image.width))),
    }
    return encoders[spec.kind]()


def _camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Synthetic Camera Co."  # Make
    exif[0x0110] = "Model S"  # Model
    return exif


def _encode_chunk(specs: list[PhotoSpec]) -> list[bytes]:
    return [encode_photo(spec) for spec in specs]


def _encoded(specs: list[PhotoSpec], workers: int | None) -> Iterator[bytes]:
    """Encode specs in parallel, yielding bytes in spec order."""
    chunks = [specs[i : i + 64] for i in range(0, len(specs), 64)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for chunk in progress(
            pool.map(_encode_chunk, chunks),
            total=len(chunks),
            description="drawing synthetic photos",
            unit="chunks",
        ):
            yield from chunk


def _add(archive: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    """Add a member with a fixed timestamp, so that the same seed gives the same bytes."""
    archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)


def _microsoft_name(spec: PhotoSpec) -> str:
    return f"PetImages/{spec.category.capitalize()}/{spec.index}.jpg"


def _kaggle_name(spec: PhotoSpec) -> str:
    return f"train/{spec.category}.{spec.index}.jpg"


def write_synthetic_archive(
    target: Path,
    count: int,
    seed: int,
    layout: str = "microsoft",
    workers: int | None = None,
    min_side: int = 200,
    max_side: int = 400,
) -> None:
    """Write a synthetic archive of `count` photos in the Microsoft or Kaggle layout."""
    specs = photo_specs(count, seed, min_side, max_side)
    with atomic_path(target) as temporary:
        if layout == "microsoft":
            _write_microsoft(temporary, specs, workers)
        elif layout == "kaggle":
            _write_kaggle(temporary, specs, workers)
        else:
            raise ValueError(f"unknown layout {layout!r}")


def _write_microsoft(path: Path, specs: list[PhotoSpec], workers: int | None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for spec, data in zip(specs, _encoded(specs, workers), strict=True):
            _add(archive, _microsoft_name(spec), data)
        for folder in ("Cat", "Dog"):
            _add(archive, f"PetImages/{folder}/Thumbs.db", b"\xd0\xcf\x11\xe0" + b"\0" * 508)
        _add(archive, "readme[1].txt", "Synthetic stand-in for the Microsoft Cats vs Dogs set.\n")
        _add(archive, "CDLA-Permissive-2.0.pdf", b"%PDF-1.4\n%%EOF\n")


def _write_kaggle(path: Path, specs: list[PhotoSpec], workers: int | None) -> None:
    train = io.BytesIO()
    with zipfile.ZipFile(train, "w", zipfile.ZIP_STORED) as inner:
        for spec, data in zip(specs, _encoded(specs, workers), strict=True):
            _add(inner, _kaggle_name(spec), data)
    unlabelled = io.BytesIO()
    test_count = max(1, len(specs) // 20)
    with zipfile.ZipFile(unlabelled, "w", zipfile.ZIP_STORED) as inner:
        for index in range(test_count):
            spec = PhotoSpec(
                CATEGORIES[index % 2],
                10**6 + index,
                specs[0].seed,
                "photo",
                specs[0].min_side,
                specs[0].max_side,
            )
            _add(inner, f"test1/{index + 1}.jpg", encode_photo(spec))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        _add(archive, "train.zip", train.getvalue())
        _add(archive, "test1.zip", unlabelled.getvalue())
        rows = "".join(f"{index + 1},0\n" for index in range(test_count))
        _add(archive, "sampleSubmission.csv", "id,label\n" + rows)
