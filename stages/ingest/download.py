"""Stage `download`: put the photo archive named by `data.source` at one path, packed.

Sources: Microsoft's archive (resumable, retried, size- and sha256-checked), the Kaggle
competition (through the `kaggle` package), our synthetic set, or a local `.zip`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from stages.core.atomic import BLOCK, atomic_path, sha256_of
from stages.core.config import DataParams
from stages.core.errors import CatdogError
from stages.core.progress import progress_bar
from stages.ingest.source import (
    Kaggle,
    LocalArchive,
    Microsoft,
    Synthetic,
    check_kaggle_credentials,
    check_local_archive,
    source_of,
)
from stages.ingest.synthetic import write_synthetic_archive

KAGGLE_RULES = "https://www.kaggle.com/competitions/{competition}/rules"
# Every zip archive starts with a local file header.
ZIP_MAGIC = b"PK\x03\x04"


class NotTheArchive(ConnectionError):
    """The server answered with something else (a web page, say): retried, never kept."""


def _size_mismatch(url: str, total: int, size: int) -> CatdogError:
    return CatdogError(
        f"download {url}: the server's archive is {total:,} bytes, but the source manifest "
        f"says size {size:,}; check its size (and sha256)"
    )


def _total_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The whole archive's size as the response states it (Content-Range, or Content-Length
    of a full answer), if it does."""
    content_range = response.headers.get("Content-Range", "")
    if offset and "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length", "")
    return offset + int(length) if length.strip().isdigit() else None


def _not_a_zip(first: bytes) -> NotTheArchive:
    head = first[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml", b"<body")):
        return NotTheArchive("the server sent a web page, not the zip archive")
    return NotTheArchive(f"the server sent something that is not a zip (it starts {first[:8]!r})")


def _starts_like_a_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC


def _fetch_once(url: str, partial: Path, size: int, timeout: float) -> None:
    """Fetch the rest of `url` into `partial`, resuming from its length with HTTP Range; at
    most `size` bytes in all, and only what starts like a zip."""
    offset = partial.stat().st_size if partial.exists() else 0
    if offset and not _starts_like_a_zip(partial):
        print(f"download: {partial.name} does not start like a zip; starting over", file=sys.stderr)
        partial.unlink()
        offset = 0
    if offset >= size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if offset and response.status != 206:
            offset = 0  # the server ignored Range: start over
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            raise NotTheArchive(f"the server sent a web page ({content_type}), not the zip archive")
        first = response.read(min(BLOCK, size - offset))
        if not offset and not first.startswith(ZIP_MAGIC[: len(first)]):
            raise _not_a_zip(first)
        total = _total_size(response, offset)
        if total is not None and total != size:
            raise _size_mismatch(url, total, size)
        mode = "ab" if offset else "wb"
        with partial.open(mode) as handle, progress_bar(size, "download", "B", offset) as bar:
            block, written = first, offset
            while block:
                handle.write(block)
                bar.update(len(block))
                written += len(block)
                block = response.read(min(BLOCK, size - written)) if written < size else b""
        if written >= size and response.read(1):
            partial.unlink()
            raise CatdogError(
                f"download {url}: the server sends more than the source manifest's size "
                f"({size:,} bytes); check its size (and sha256)"
            )
    if partial.stat().st_size < size:
        raise ConnectionError(f"connection closed at {partial.stat().st_size} of {size} bytes")


def download(
    url: str,
    target: Path,
    size: int,
    sha256: str,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> None:
    """Download `url` to `target`: resume, retry with backoff, verify, rename into place.

    The partial file `<target>.<sha256 prefix>.part` survives an interruption (DVC deletes `target`
    itself before the stage reruns) so the next run resumes it. A size or checksum
    mismatch deletes it and leaves no output.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named after the expected checksum, so a changed URL never resumes a stale file.
    partial = target.with_name(f"{target.name}.{sha256[:12]}.part")
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, partial, size, timeout)
            break
        except urllib.error.HTTPError as error:
            if error.code == 416:  # we asked past the archive's end
                headers = error.headers
                stated = headers.get("Content-Range", "") if headers else ""  # bytes */<total>
                total = stated.rsplit("/", 1)[-1].strip()
                if total.isdigit() and int(total) != size:
                    raise _size_mismatch(url, int(total), size) from None
                partial.unlink(missing_ok=True)
            elif error.code < 500 and error.code != 429:
                raise CatdogError(f"download {url}: HTTP {error.code} {error.reason}") from None
            failure = f"HTTP {error.code}"
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            OSError,
        ) as error:
            failure = str(error)
        if attempt == retries:
            raise CatdogError(f"download {url}: gave up after {retries + 1} tries ({failure})")
        wait = backoff * 2**attempt
        print(f"download: {failure}; retrying in {wait:.0f} s", file=sys.stderr)
        time.sleep(wait)
    _verify(partial, size, sha256, url)
    os.replace(partial, target)


def _verify(partial: Path, size: int, sha256: str, url: str) -> None:
    actual_size = partial.stat().st_size
    if actual_size != size:
        partial.unlink()
        raise CatdogError(f"download {url}: got {actual_size} bytes, expected {size}")
    actual = sha256_of(partial)
    if actual != sha256:
        partial.unlink()
        raise CatdogError(f"download {url}: sha256 {actual} does not match the pinned {sha256}")


def fetch_kaggle(competition: str, target: Path) -> None:
    """Download the competition's zip through the kaggle package."""
    check_kaggle_credentials()
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise CatdogError(
            "data.source kaggle needs the kaggle package: pip install -e '.[kaggle]'"
        ) from None
    api = KaggleApi()
    api.authenticate()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".kaggle-") as folder:
        try:
            api.competition_download_files(competition, path=folder, quiet=False)
        except Exception as error:  # the kaggle client raises several unrelated types
            if "403" in str(error):
                raise CatdogError(
                    f"Kaggle answered 403 Forbidden: accept the competition's rules at "
                    f"{KAGGLE_RULES.format(competition=competition)} while logged in, then "
                    f"rerun"
                ) from None
            raise CatdogError(f"Kaggle download of {competition!r} failed: {error}") from None
        os.replace(Path(folder) / f"{competition}.zip", target)


def copy_local(source: str, target: Path) -> None:
    """Copy a local archive into place after checking that it holds photos of both classes."""
    path = check_local_archive(source)
    with atomic_path(target) as temporary:
        shutil.copyfile(path, temporary)


def fetch(data: DataParams, target: Path) -> None:
    """Put the archive that `data.source` names at `target`."""
    match source_of(data):
        case Microsoft(url=url, size=size, sha256=sha256):
            download(url, target, size, sha256)
        case Kaggle(competition=competition):
            fetch_kaggle(competition, target)
        case Synthetic(count=count, seed=seed, layout=layout):
            write_synthetic_archive(target, count, seed, layout)
        case LocalArchive(path=path):
            copy_local(path, target)
    print(f"download: {data.source} -> {target} ({target.stat().st_size:,} bytes)", file=sys.stderr)
