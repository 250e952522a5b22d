"""The real download code against a local HTTP server: Range resume, retries, checksums."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stages.core.config import DataParams, SyntheticParams
from stages.core.errors import CatdogError
from stages.ingest.download import download, fetch

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Behaviour:
    """What the server does; tests change it and read what it saw."""

    cut_after: list[int] = field(default_factory=list)  # per request: bytes, then hang up
    errors: list[int] = field(default_factory=list)  # per request: an HTTP error status
    corrupt: bool = False
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        return None

    def do_GET(self) -> None:
        behaviour = self.server.behaviour  # type: ignore[attr-defined]
        requested = self.headers.get("Range")
        behaviour.ranges.append(requested)
        if behaviour.errors:
            self.send_error(behaviour.errors.pop(0))
            return
        body = bytearray(PAYLOAD)
        if behaviour.corrupt:
            body[1000] ^= 0xFF
        start = 0
        if requested and behaviour.honour_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        limit = behaviour.cut_after.pop(0) if behaviour.cut_after else None
        chunk = bytes(body[start:] if limit is None else body[start : start + limit])
        self.wfile.write(chunk)
        if limit is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/archive.zip", httpd.behaviour  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def fast_download(url: str, target: Path) -> None:
    download(url, target, len(PAYLOAD), DIGEST, retries=3, backoff=0.01, timeout=5)


def test_plain_download_is_verified_and_renamed_into_place(server, tmp_path) -> None:
    url, behaviour = server
    target = tmp_path / "raw" / "photos.zip"
    fast_download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None]
    assert sorted(p.name for p in target.parent.iterdir()) == ["photos.zip"]


def test_a_cut_connection_is_resumed_with_range(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.cut_after = [300_000, 300_000]
    target = tmp_path / "photos.zip"
    fast_download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_a_partial_file_from_an_earlier_run_is_resumed(server, tmp_path) -> None:
    url, behaviour = server
    target = tmp_path / "photos.zip"
    target.with_name(f"photos.zip.{DIGEST[:12]}.part").write_bytes(PAYLOAD[:123_456])
    fast_download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == ["bytes=123456-"]


def test_a_partial_file_for_another_checksum_is_not_resumed(server, tmp_path) -> None:
    url, behaviour = server
    target = tmp_path / "photos.zip"
    stale = target.with_name("photos.zip.000000000000.part")
    stale.write_bytes(b"x" * 5000)
    fast_download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None]


def test_a_server_ignoring_range_restarts_cleanly(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.honour_range = False
    target = tmp_path / "photos.zip"
    target.with_name(f"photos.zip.{DIGEST[:12]}.part").write_bytes(PAYLOAD[:5000])
    fast_download(url, target)
    assert target.read_bytes() == PAYLOAD


def test_server_errors_are_retried(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [503, 500]
    fast_download(url, tmp_path / "photos.zip")
    assert len(behaviour.ranges) == 3


def test_client_errors_are_not_retried(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [404]
    with pytest.raises(CatdogError, match="HTTP 404"):
        fast_download(url, tmp_path / "photos.zip")
    assert len(behaviour.ranges) == 1


def test_giving_up_names_the_url(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [503] * 10
    with pytest.raises(CatdogError, match=r"gave up after 4 tries \(HTTP 503\)"):
        fast_download(url, tmp_path / "photos.zip")
    assert not any(tmp_path.iterdir())


def test_a_checksum_mismatch_leaves_nothing_behind(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.corrupt = True
    with pytest.raises(CatdogError, match=r"sha256 .* does not match"):
        fast_download(url, tmp_path / "photos.zip")
    assert not any(tmp_path.iterdir())


def test_a_wrong_size_is_refused(server, tmp_path) -> None:
    url, _ = server
    with pytest.raises(CatdogError, match="expected"):
        download(url, tmp_path / "photos.zip", len(PAYLOAD) - 10, DIGEST, retries=0, timeout=5)
    assert not any(tmp_path.iterdir())


def _data(source: str) -> DataParams:
    return DataParams(
        source=source,
        url="http://127.0.0.1:9/none",
        size=1,
        sha256="0" * 64,
        kaggle_competition="dogs-vs-cats",
        synthetic=SyntheticParams(count=40, seed=0, layout="microsoft"),
    )


def test_local_zip_source_is_checked_and_copied(microsoft_zip, tmp_path) -> None:
    target = tmp_path / "raw" / "photos.zip"
    fetch(_data(str(microsoft_zip)), target)
    assert target.read_bytes() == microsoft_zip.read_bytes()


def test_a_missing_local_zip_is_named(tmp_path) -> None:
    with pytest.raises(CatdogError, match=r"data.source: .*absent.zip: no such file"):
        fetch(_data(str(tmp_path / "absent.zip")), tmp_path / "photos.zip")


def test_synthetic_source_is_deterministic(tmp_path) -> None:
    fetch(_data("synthetic"), tmp_path / "a.zip")
    fetch(_data("synthetic"), tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_kaggle_without_credentials_says_where_they_go(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path))
    with pytest.raises(CatdogError, match=r"no credentials; put kaggle\.json in ~/\.kaggle"):
        fetch(_data("kaggle"), tmp_path / "photos.zip")


class FakeKaggleApi:
    """Stands in for the kaggle client (its service is not reachable from here)."""

    answer: Exception | None = None
    archive: Path | None = None

    def authenticate(self) -> None:
        return None

    def competition_download_files(self, competition: str, path: str, quiet: bool) -> None:
        if self.answer is not None:
            raise self.answer
        assert self.archive is not None
        (Path(path) / f"{competition}.zip").write_bytes(self.archive.read_bytes())


@pytest.fixture
def fake_kaggle(monkeypatch, tmp_path):
    import sys
    import types

    module = types.ModuleType("kaggle.api.kaggle_api_extended")
    module.KaggleApi = FakeKaggleApi
    for name in ("kaggle", "kaggle.api"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", module)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    monkeypatch.setattr(FakeKaggleApi, "answer", None)
    return FakeKaggleApi


def test_kaggle_403_explains_the_rules(fake_kaggle, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fake_kaggle, "answer", Exception("(403)\nReason: Forbidden"))
    with pytest.raises(
        CatdogError,
        match=r"403 Forbidden: accept the competition's rules at "
        r"https://www.kaggle.com/competitions/dogs-vs-cats/rules",
    ):
        fetch(_data("kaggle"), tmp_path / "raw" / "photos.zip")
    assert not (tmp_path / "raw" / "photos.zip").exists()
    assert list((tmp_path / "raw").iterdir()) == []


def test_kaggle_download_lands_at_the_target(
    fake_kaggle, tmp_path, kaggle_zip, monkeypatch
) -> None:
    monkeypatch.setattr(fake_kaggle, "archive", kaggle_zip)
    target = tmp_path / "raw" / "photos.zip"
    fetch(_data("kaggle"), target)
    assert target.read_bytes() == kaggle_zip.read_bytes()
    assert list((tmp_path / "raw").iterdir()) == [target]
