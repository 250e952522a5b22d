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
from stages.ingest.synthetic import write_synthetic_archive
from stages.ingest.validate import check_kaggle_credentials, check_local_archive

KAGGLE_RULES = "https://www.kaggle.com/competitions/{competition}/rules"


def _fetch_once(url: str, partial: Path, size: int, timeout: float) -> None:
    """Fetch the rest of `url` into `partial`, resuming from its length with HTTP Range."""
    offset = partial.stat().st_size if partial.exists() else 0
    if offset >= size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if offset and response.status != 206:
            offset = 0  # the server ignored Range: start over
        mode = "ab" if offset else "wb"
        with partial.open(mode) as handle, progress_bar(size, "download", "B", offset) as bar:
            while block := response.read(BLOCK):
                handle.write(block)
                bar.update(len(block))
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
            if error.code == 416:  # our partial file is longer than the archive
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
    if data.source == "microsoft":
        download(data.url, target, data.size, data.sha256)
    elif data.source == "kaggle":
        fetch_kaggle(data.kaggle_competition, target)
    elif data.source == "synthetic":
        synthetic = data.synthetic
        write_synthetic_archive(target, synthetic.count, synthetic.seed, synthetic.layout)
    else:
        copy_local(data.source, target)
    print(f"download: {data.source} -> {target} ({target.stat().st_size:,} bytes)", file=sys.stderr)
