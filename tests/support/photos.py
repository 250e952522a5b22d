"""Photos of the kinds a person's camera, phone or browser writes, and how each must look
once decoded: the test material for decode and predict."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

# The four quadrants of an upright test picture, clockwise from the top left.
QUADRANTS = ((220, 30, 30), (30, 200, 30), (30, 30, 220), (240, 240, 240))
# What each EXIF orientation makes a viewer do, undone: how a camera stores an upright
# picture under that tag (Pillow's transposes; 6 and 8 are each other's inverse).
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def upright(width: int = 300, height: int = 200) -> Image.Image:
    """A picture whose four quadrants have the colours of QUADRANTS."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    clockwise = ((0, 0), (half_w, 0), (half_w, half_h), (0, half_h))
    for (left, top), colour in zip(clockwise, QUADRANTS, strict=True):
        image.paste(colour, (left, top, left + half_w, top + half_h))
    return image


def quadrant_colours(pixels: np.ndarray) -> list[tuple[int, ...]]:
    """The colour at the centre of each quadrant, clockwise from the top left."""
    height, width = pixels.shape[:2]
    rows, cols = (height // 4, 3 * height // 4), (width // 4, 3 * width // 4)
    corners = ((rows[0], cols[0]), (rows[0], cols[1]), (rows[1], cols[1]), (rows[1], cols[0]))
    return [tuple(int(v) for v in pixels[r, c]) for r, c in corners]


def turned_jpeg(orientation: int, width: int = 300, height: int = 200) -> bytes:
    """An upright picture stored as a camera turned `orientation` stores it, with the tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright(width, height)
    if orientation in STORED_AS:
        stored = stored.transpose(STORED_AS[orientation])
    return encoded(stored, "JPEG", quality=95, exif=exif)


def png16(values: np.ndarray, colour_type: int, transparent: int | None = None) -> bytes:
    """A 16-bit PNG (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA) of `values`, written
    by hand: Pillow writes 16-bit grey but not 16-bit colour."""
    height, width = values.shape[:2]

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    depth_and_type = bytes([16, colour_type, 0, 0, 0])
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + depth_and_type
    rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(height))
    key = b"" if transparent is None else chunk(b"tRNS", transparent.to_bytes(2, "big"))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + key
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def grey16(value: int = 40000, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    return np.full((size[1], size[0]), value, np.uint16)


def hidden_red(mode: str = "RGBA", size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A fully transparent picture whose hidden colour is red."""
    if mode == "LA":
        return Image.new("LA", size, (200, 0))
    if mode == "P":
        image = Image.new("P", size, 0)
        image.putpalette([255, 0, 0] + [0, 0, 0] * 255)
        image.info["transparency"] = 0
        return image
    return Image.new("RGBA", size, (255, 0, 0, 0))


def every_kind() -> dict[str, bytes]:
    """One photo of each kind, by the file name it would have, each 300x200 as seen."""
    photo = upright()
    return {
        "plain.jpg": encoded(photo, "JPEG", quality=90),
        "turned.jpg": turned_jpeg(6),
        "mirrored.jpg": turned_jpeg(7),
        "grey16.png": encoded(Image.fromarray(grey16(40000, (300, 200))), "PNG"),
        "colour16.png": png16(np.full((200, 300, 3), 40000, np.uint16), 2),
        "grey16-keyed.png": png16(grey16(40000, (300, 200)), 0, transparent=40000),
        "transparent.png": encoded(hidden_red("RGBA", (300, 200)), "PNG"),
        "grey-alpha.png": encoded(hidden_red("LA", (300, 200)), "PNG"),
        "palette.png": encoded(hidden_red("P", (300, 200)), "PNG"),
        "palette.gif": encoded(hidden_red("P", (300, 200)), "GIF", transparency=0),
        "photo.webp": encoded(photo, "WEBP", quality=90),
        "transparent.webp": encoded(hidden_red("RGBA", (300, 200)), "WEBP", lossless=True),
        "cmyk.jpg": encoded(photo.convert("CMYK"), "JPEG"),
        "grey.jpg": encoded(photo.convert("L"), "JPEG"),
        "photo.bmp": encoded(photo, "BMP"),
    }
