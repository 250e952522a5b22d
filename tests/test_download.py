"""The real download code against a local HTTP server: Range resume, retries, checksums."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from stages.core.config import DataParams
from stages.core.errors import CatdogError
from stages.ingest.download import download, fetch
from tests.support.servers import (
    DIGEST,
    PAYLOAD,
    Behaviour,
    Handler,
    scripted_serving,
    serving,
)


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    with serving(Handler) as served:
        yield served


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
    with pytest.raises(CatdogError, match="manifest says size"):
        download(url, tmp_path / "photos.zip", len(PAYLOAD) - 10, DIGEST, retries=0, timeout=5)
    assert not any(tmp_path.iterdir())


REPO_KAGGLE = Path(__file__).resolve().parents[1] / "sources" / "kaggle.yaml"


def _data(source: str) -> DataParams:
    return DataParams(source=source)


def _synthetic_manifest(folder: Path) -> str:
    manifest = folder / "synthetic.yaml"
    manifest.write_text("kind: synthetic\ncount: 40\nseed: 0\nlayout: microsoft\n")
    return str(manifest)


def test_local_zip_source_is_checked_and_copied(microsoft_zip, tmp_path) -> None:
    target = tmp_path / "raw" / "photos.zip"
    fetch(_data(str(microsoft_zip)), target)
    assert target.read_bytes() == microsoft_zip.read_bytes()


def test_a_missing_local_zip_is_named(tmp_path) -> None:
    with pytest.raises(CatdogError, match=r"data.source: .*absent.zip: no such file"):
        fetch(_data(str(tmp_path / "absent.zip")), tmp_path / "photos.zip")


def test_synthetic_source_is_deterministic(tmp_path) -> None:
    manifest = _synthetic_manifest(tmp_path)
    fetch(_data(manifest), tmp_path / "a.zip")
    fetch(_data(manifest), tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_kaggle_without_credentials_says_where_they_go(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path))
    with pytest.raises(CatdogError, match=r"no credentials; put kaggle\.json in ~/\.kaggle"):
        fetch(_data(str(REPO_KAGGLE)), tmp_path / "photos.zip")


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
        fetch(_data(str(REPO_KAGGLE)), tmp_path / "raw" / "photos.zip")
    assert not (tmp_path / "raw" / "photos.zip").exists()
    assert list((tmp_path / "raw").iterdir()) == []


def test_kaggle_download_lands_at_the_target(
    fake_kaggle, tmp_path, kaggle_zip, monkeypatch
) -> None:
    monkeypatch.setattr(fake_kaggle, "archive", kaggle_zip)
    target = tmp_path / "raw" / "photos.zip"
    fetch(_data(str(REPO_KAGGLE)), target)
    assert target.read_bytes() == kaggle_zip.read_bytes()
    assert list((tmp_path / "raw").iterdir()) == [target]


# --- A server that answers with the wrong thing --------------------------------------

PAGE = b"<!DOCTYPE html><html><body>Down for maintenance</body></html>"


@pytest.fixture
def scripted() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    with scripted_serving() as served:
        yield served


def _part(target: Path) -> Path:
    return target.with_name(f"{target.name}.{DIGEST[:12]}.part")


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/html; charset=utf-8"}, {"Content-Type": None}],
)
def test_a_web_page_served_with_200_is_named_and_never_kept(scripted, tmp_path, headers) -> None:
    url, server = scripted
    server.script = [(200, headers, PAGE)] * 2
    target = tmp_path / "photos.zip"
    with pytest.raises(CatdogError, match=r"gave up after 2 tries \(the server sent a web page"):
        download(url, target, len(PAYLOAD), DIGEST, retries=1, backoff=0.01, timeout=5)
    assert not _part(target).exists() or _part(target).read_bytes() == b""
    download(url, target, len(PAYLOAD), DIGEST, retries=0, timeout=5)  # the server is back
    assert target.read_bytes() == PAYLOAD
    assert server.ranges == [None, None, None], "one clean download, no resume onto HTML"


def test_a_partial_file_that_does_not_start_like_a_zip_is_not_resumed(scripted, tmp_path):
    url, server = scripted
    target = tmp_path / "photos.zip"
    _part(target).write_bytes(PAGE)
    download(url, target, len(PAYLOAD), DIGEST, retries=0, timeout=5)
    assert target.read_bytes() == PAYLOAD and server.ranges == [None]


@pytest.mark.parametrize("length", ["stated", "unstated"])
def test_a_body_longer_than_data_size_stops_at_data_size(
    scripted, tmp_path, length, monkeypatch
) -> None:
    url, server = scripted
    longer = PAYLOAD + bytes(5 * len(PAYLOAD))
    server.script = [(200, {"Content-Length": None} if length == "unstated" else {}, longer)]
    target = tmp_path / "photos.zip"
    removed: dict[str, int] = {}
    unlink = Path.unlink

    def recording_unlink(self: Path, missing_ok: bool = False) -> None:
        if self.exists():
            removed[self.name] = self.stat().st_size
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", recording_unlink)
    with pytest.raises(CatdogError, match=r"source manifest('s| says) size"):
        download(url, target, len(PAYLOAD), DIGEST, retries=0, timeout=5)
    assert not any(tmp_path.iterdir())
    assert all(size <= len(PAYLOAD) for size in removed.values())
    assert len(server.ranges) == 1


def test_a_data_size_larger_than_the_archive_is_named_after_one_request(scripted, tmp_path):
    url, server = scripted
    target = tmp_path / "photos.zip"
    with pytest.raises(CatdogError, match=r"1,048,580 bytes, but the source manifest says"):
        download(url, target, len(PAYLOAD) + 1000, DIGEST, retries=3, backoff=0.01, timeout=5)
    assert server.ranges == [None] and not any(tmp_path.iterdir())


def test_without_a_length_a_too_large_data_size_is_named_at_the_416(scripted, tmp_path):
    url, server = scripted
    server.script = [(200, {"Content-Length": None}, PAYLOAD)]
    target = tmp_path / "photos.zip"
    with pytest.raises(CatdogError, match=r"1,048,580 bytes, but the source manifest says"):
        download(url, target, len(PAYLOAD) + 1000, DIGEST, retries=3, backoff=0.01, timeout=5)
    assert server.ranges == [None, f"bytes={len(PAYLOAD)}-"]
    assert sum(server.sent) == len(PAYLOAD), "one download, not three"
