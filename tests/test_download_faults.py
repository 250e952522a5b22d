"""The download under the answers a busy or broken server gives: 429 (retried), 416 (the
partial file is discarded and fetched again) and a read that times out (resumed)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from stages.core.errors import CatdogError
from stages.ingest.download import download
from tests.support.servers import DIGEST, PAYLOAD, Behaviour, Handler, serving

STALL_AT = 400_000  # bytes sent before a stalling response goes quiet


class StallingHandler(Handler):
    """Handler, plus: for each entry of `behaviour.stalls`, one response that sends its
    headers and STALL_AT bytes, then goes quiet for that many seconds."""

    def do_GET(self) -> None:
        behaviour = self.server.behaviour  # type: ignore[attr-defined]
        stalls = getattr(behaviour, "stalls", [])
        if not stalls or behaviour.errors:
            super().do_GET()
            return
        behaviour.ranges.append(self.headers.get("Range"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[:STALL_AT])
        self.wfile.flush()
        time.sleep(stalls.pop(0))
        self.close_connection = True


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    with serving(StallingHandler) as served:
        yield served


def _download(url, target, retries: int = 3, timeout: float = 5) -> None:
    download(url, target, len(PAYLOAD), DIGEST, retries=retries, backoff=0.01, timeout=timeout)


def test_429_too_many_requests_is_retried(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [429, 429]
    target = tmp_path / "photos.zip"
    _download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None, None, None]


def test_429_forever_gives_up_naming_it(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [429] * 10
    with pytest.raises(CatdogError, match=r"gave up after 3 tries \(HTTP 429\)"):
        _download(url, tmp_path / "photos.zip", retries=2)
    assert len(behaviour.ranges) == 3


@pytest.mark.parametrize("status", [400, 403, 410])
def test_other_client_errors_stop_at_once(server, tmp_path, status) -> None:
    url, behaviour = server
    behaviour.errors = [status]
    with pytest.raises(CatdogError, match=rf"HTTP {status} "):
        _download(url, tmp_path / "photos.zip")
    assert len(behaviour.ranges) == 1


def test_416_discards_the_partial_file_and_starts_over(server, tmp_path) -> None:
    url, behaviour = server
    target = tmp_path / "photos.zip"
    partial = target.with_name(f"photos.zip.{DIGEST[:12]}.part")
    # Starts like a zip (so it is resumed), but is longer than the archive: HTTP 416.
    partial.write_bytes(b"PK\x03\x04" + b"not the archive's bytes" * 126)
    behaviour.errors = [416]
    _download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == ["bytes=2902-", None]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photos.zip"]


def test_a_read_timeout_is_retried(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.stalls = [2.0]  # type: ignore[attr-defined]
    target = tmp_path / "photos.zip"
    started = time.monotonic()
    _download(url, target, timeout=0.5)
    assert time.monotonic() - started < 2.0, "the client waited out the stall"
    assert target.read_bytes() == PAYLOAD
    # The stall came inside the first block (download.BLOCK, 1 MiB): nothing of it was
    # written, so the retry starts over; a stall later on resumes from the last whole block.
    assert behaviour.ranges == [None, None]


def test_read_timeouts_every_time_give_up(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.stalls = [1.0, 1.0]  # type: ignore[attr-defined]
    with pytest.raises(CatdogError, match=r"gave up after 2 tries \(.*timed out"):
        _download(url, tmp_path / "photos.zip", retries=1, timeout=0.3)
    assert not (tmp_path / "photos.zip").exists()
    # Whatever part stays for the next run to resume is a prefix of the archive.
    for partial in tmp_path.glob(f"photos.zip.{DIGEST[:12]}.part"):
        assert PAYLOAD.startswith(partial.read_bytes())


def test_a_complete_partial_file_is_verified_without_a_request(server, tmp_path) -> None:
    url, behaviour = server
    target = tmp_path / "photos.zip"
    target.with_name(f"photos.zip.{DIGEST[:12]}.part").write_bytes(PAYLOAD)
    _download(url, target)
    assert target.read_bytes() == PAYLOAD
    assert behaviour.ranges == []


def test_a_resumed_download_reports_its_progress_from_the_resume_point(
    server, tmp_path, capsys
) -> None:
    url, _ = server
    target = tmp_path / "photos.zip"
    target.with_name(f"photos.zip.{DIGEST[:12]}.part").write_bytes(PAYLOAD[:123_456])
    _download(url, target)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"download: {len(PAYLOAD):,}/{len(PAYLOAD):,} B (100%")


def test_retries_back_off_exponentially_and_say_so(server, tmp_path, monkeypatch, capsys) -> None:
    url, behaviour = server
    waits: list[float] = []
    monkeypatch.setattr("stages.ingest.download.time.sleep", waits.append)
    target = tmp_path / "new" / "raw" / "photos.zip"  # folders that do not exist yet
    download(url, target, len(PAYLOAD), DIGEST)  # the defaults: 5 retries, 1 s doubling
    assert waits == [] and target.read_bytes() == PAYLOAD
    behaviour.errors = [503] * 10
    target.unlink()
    with pytest.raises(CatdogError) as caught:
        download(url, target, len(PAYLOAD), DIGEST)
    assert str(caught.value) == f"download {url}: gave up after 6 tries (HTTP 503)"
    assert waits == [1, 2, 4, 8, 16]
    err = capsys.readouterr().err
    assert "download: HTTP 503; retrying in 1 s\n" in err
    assert "download: HTTP 503; retrying in 16 s\n" in err


def test_a_connection_cut_every_time_is_named(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.cut_after = [300_000, 0]
    with pytest.raises(CatdogError) as caught:
        _download(url, tmp_path / "photos.zip", retries=1)
    assert str(caught.value) == (
        f"download {url}: gave up after 2 tries "
        f"(connection closed at 300000 of {len(PAYLOAD)} bytes)"
    )


def test_a_416_on_a_fresh_start_is_retried(server, tmp_path) -> None:
    url, behaviour = server
    behaviour.errors = [416]
    _download(url, tmp_path / "photos.zip")
    assert behaviour.ranges == [None, None]


def test_a_wrong_size_names_the_url_and_both_sizes(server, tmp_path) -> None:
    url, _ = server
    with pytest.raises(CatdogError) as caught:
        download(url, tmp_path / "photos.zip", len(PAYLOAD) - 10, DIGEST, retries=0, timeout=5)
    assert str(caught.value) == (
        f"download {url}: the server's archive is {len(PAYLOAD):,} bytes, but the source "
        f"manifest says size {len(PAYLOAD) - 10:,}; check its size (and sha256)"
    )
