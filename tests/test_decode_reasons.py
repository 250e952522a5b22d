"""decode's reject logic, reason by reason: each kind of broken file gets its own exact
reason, and a good photo decodes to the same pixels PIL gives (JPEGs in draft mode)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stages.ingest.decode import UndecodablePhoto, decode_photo


def _image(fmt: str = "JPEG", size=(64, 48), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    picture = Image.new(mode, size)
    picture.putdata(
        [(x * 4 % 256, y * 5 % 256, (x + y) % 256) for y in range(size[1]) for x in range(size[0])]
    )
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def _reason(data: bytes) -> str:
    with pytest.raises(UndecodablePhoto) as caught:
        decode_photo(data, 30, 40)
    return str(caught.value)


@pytest.mark.parametrize(
    "page",
    [
        b"<!DOCTYPE html><html></html>",
        b"  \n<HTML><body>Forbidden</body></HTML>",
        b"<?xml version='1.0'?><Error>AccessDenied</Error>",
        b"<head><title>404</title></head>",
    ],
)
def test_an_html_or_xml_page_is_named_as_such(page) -> None:
    assert _reason(page) == "HTML or XML page, not an image"


def test_the_reasons_for_empty_and_unrecognised_files_are_exact() -> None:
    assert _reason(b"") == "empty file (0 bytes)"
    assert _reason(bytes(range(256)) * 8) == "not an image (unrecognised format)"


def test_a_truncated_jpeg_is_named_with_its_format() -> None:
    whole = _image(size=(300, 200))
    reason = _reason(whole[: len(whole) // 2])
    assert reason.startswith("truncated JPEG: ")


def test_a_corrupt_png_is_named_with_its_format() -> None:
    whole = bytearray(_image("PNG", size=(120, 80)))
    whole[60:200] = bytes(140)  # zeroes over the compressed image data
    reason = _reason(bytes(whole))
    assert reason.startswith(("corrupt PNG: ", "truncated PNG: ")), reason


def test_jpegs_decode_in_draft_mode_to_uint8_rgb() -> None:
    data = _image(size=(400, 300))
    pixels = decode_photo(data, 30, 40)
    assert pixels.dtype == np.uint8 and pixels.shape == (30, 40, 3)
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (40, 30))
        assert image.size == (50, 38)  # a reduced scale (1/8) that still covers 40x30
        expected = np.asarray(image.convert("RGB").resize((40, 30), Image.Resampling.BOX))
    assert np.array_equal(pixels, expected)


def test_a_small_photo_is_enlarged_bilinearly() -> None:
    data = _image("PNG", size=(20, 15))
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(image.convert("RGB").resize((40, 30), Image.Resampling.BILINEAR))
    assert np.array_equal(decode_photo(data, 30, 40), expected)
