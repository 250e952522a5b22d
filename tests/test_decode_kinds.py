"""Photos decode as a person sees them: upright as their EXIF orientation says, 16-bit grey
scaled rather than clipped to white, transparency shown over white, WebP read; and
`predict` gets the very pixels decode stores, photo kind by photo kind."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from stages.ingest.decode import BACKGROUND, decode_archive, decode_photo
from stages.tools.predict import load_photos
from tests.support.photos import (
    QUADRANTS,
    STORED_AS,
    encoded,
    every_kind,
    grey16,
    hidden_red,
    png16,
    quadrant_colours,
    turned_jpeg,
    upright,
)

WHITE = [BACKGROUND] * 4


def _close(seen: list[tuple[int, ...]], expected, tolerance: int = 12) -> bool:
    """Each colour within `tolerance` of the expected one, channel by channel (JPEG is lossy)."""
    return bool(np.abs(np.array(seen) - np.array(expected)).max() <= tolerance)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright(orientation) -> None:
    pixels = decode_photo(turned_jpeg(orientation), 30, 40)
    assert _close(quadrant_colours(pixels), QUADRANTS), quadrant_colours(pixels)


def test_a_turned_jpeg_is_drafted_at_the_size_it_is_seen() -> None:
    # Seen 240 wide and 960 high, stored 960 wide and 240 high: a draft that covered the
    # target (240 x 60) in the stored orientation would be a quarter, 60 columns for 240.
    exif = Image.Exif()
    exif[0x0112] = 6
    seen_stripes = np.zeros((960, 240, 3), np.uint8)
    seen_stripes[:, ::2] = 255
    stored = Image.fromarray(seen_stripes).transpose(STORED_AS[6])
    data = encoded(stored, "JPEG", quality=95, exif=exif)
    with Image.open(io.BytesIO(data)) as image:
        seen = image.transpose(Image.Transpose.ROTATE_270).convert("RGB")
        expected = np.asarray(seen.resize((240, 60), Image.Resampling.BOX))
    assert np.array_equal(decode_photo(data, 60, 240), expected)


@pytest.mark.parametrize(
    ("mode", "fmt"), [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF"), ("I", "TIFF")]
)
def test_16_bit_grey_is_scaled_to_8_bits_not_clipped_to_white(mode, fmt) -> None:
    values = grey16(40000)
    images = {
        "I;16": lambda: Image.fromarray(values),
        "I;16B": lambda: Image.frombytes(mode, (40, 30), values.astype(">u2").tobytes()),
        "I": lambda: Image.fromarray(values.astype(np.int32)),
    }
    data = encoded(images[mode](), fmt)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == mode
    assert np.all(decode_photo(data, 30, 40) == 40000 >> 8)  # 156, where clipping gave 255


def test_16_bit_grey_looks_like_the_same_16_bit_colour() -> None:
    ramp = np.linspace(0, 65535, 40 * 30).astype(np.uint16).reshape(30, 40)
    grey = decode_photo(png16(ramp, 0), 30, 40)
    colour = decode_photo(png16(np.stack([ramp] * 3, axis=-1), 2), 30, 40)
    assert np.array_equal(grey, colour) and grey.min() == 0 and grey.max() == 255


def test_a_16_bit_grey_transparent_key_shows_the_background() -> None:
    values = grey16(40000)
    values[:, :20] = 1000
    pixels = decode_photo(png16(values, 0, transparent=40000), 30, 40)
    assert np.all(pixels[:, 25:] == BACKGROUND) and np.all(pixels[:, :15] == 1000 >> 8)


@pytest.mark.parametrize(
    ("mode", "fmt", "options"),
    [
        ("RGBA", "PNG", {}),
        ("LA", "PNG", {}),
        ("P", "PNG", {}),
        ("P", "GIF", {"transparency": 0}),
        ("RGBA", "WEBP", {"lossless": True}),
    ],
)
def test_transparent_pixels_show_the_background_not_their_hidden_colour(mode, fmt, options) -> None:
    pixels = decode_photo(encoded(hidden_red(mode), fmt, **options), 30, 40)
    assert np.all(pixels == BACKGROUND), pixels[0, 0]


def test_half_transparent_black_is_grey_over_white() -> None:
    pixels = decode_photo(encoded(Image.new("RGBA", (40, 30), (0, 0, 0, 128)), "PNG"), 30, 40)
    assert np.all(pixels == 127)


def test_webp_decodes() -> None:
    pixels = decode_photo(encoded(upright(), "WEBP", quality=90), 30, 40)
    assert _close(quadrant_colours(pixels), QUADRANTS)


@pytest.fixture(scope="module")
def kinds_archive(tmp_path_factory) -> tuple:
    """An archive with a cat and a dog of every kind, decoded at 30x40."""
    folder = tmp_path_factory.mktemp("kinds")
    path = folder / "kinds.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in every_kind().items():
            for category in ("Cat", "Dog"):
                archive.writestr(f"PetImages/{category}/{name}", data)
    decoded = decode_archive(path, 30, 40, folder / "images.npy", workers=1)
    return path, decoded, np.load(folder / "images.npy")


def test_every_kind_of_photo_is_kept_and_looks_as_seen(kinds_archive) -> None:
    _, decoded, pixels = kinds_archive
    assert decoded.rejected.empty, decoded.rejected.to_dict("records")
    assert len(decoded.index) == 2 * len(every_kind())
    for name, row in zip(decoded.index["filename"], decoded.index["row"], strict=True):
        seen = quadrant_colours(pixels[row])
        kind = name.rsplit("/", 1)[-1]
        if kind.startswith(("transparent", "palette", "grey-alpha", "grey16-keyed")):
            assert seen == WHITE, (name, seen)
        elif kind.startswith(("grey16", "colour16")):
            assert seen == [(156, 156, 156)] * 4, (name, seen)
        elif kind != "grey.jpg":
            assert _close(seen, QUADRANTS), (name, seen)


def test_predict_reads_each_kind_exactly_as_decode_stores_it(kinds_archive, tmp_path) -> None:
    path, decoded, pixels = kinds_archive
    files = []
    with zipfile.ZipFile(path) as archive:
        for name in decoded.index["filename"]:
            file = tmp_path / name.replace("/", "_")
            file.write_bytes(archive.read(name))
            files.append(file)
    good, predicted, failures = load_photos(files, 30, 40)
    assert not failures and good == files
    for row, read in zip(decoded.index["row"], predicted, strict=True):
        assert np.array_equal(pixels[row], read)
