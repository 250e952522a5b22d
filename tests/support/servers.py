"""Local HTTP servers for the real download code: one that serves an archive the way a
flaky server does (cut connections, HTTP errors, a corrupt byte, Range ignored), one that
answers with scripted replies; both record the Range of every request."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAYLOAD = b"PK\x03\x04" + bytes(range(256)) * 4096  # 1 MiB, and starts like a zip
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


@contextlib.contextmanager
def _running(httpd: ThreadingHTTPServer) -> Iterator[str]:
    """Serve on a thread until the block ends: the archive's URL."""
    # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/archive.zip"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[tuple[str, Behaviour]]:
    """A local HTTP server with `handler` on a free port: (the archive's URL, its behaviour)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    with _running(httpd) as url:
        yield url, httpd.behaviour  # type: ignore[attr-defined]


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each request with the next scripted reply, then with PAYLOAD (honouring
    Range, and 416 with the true size past its end). A reply: (status, headers, body);
    a None header value leaves Content-Length out (the body then ends when the
    connection closes)."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        server = self.server
        requested = self.headers.get("Range")
        server.ranges.append(requested)  # type: ignore[attr-defined]
        script = server.script  # type: ignore[attr-defined]
        if script:
            status, headers, body = script.pop(0)
        else:
            start = int(requested.removeprefix("bytes=").split("-")[0]) if requested else 0
            if start >= len(PAYLOAD):
                status, headers, body = 416, {"Content-Range": f"bytes */{len(PAYLOAD)}"}, b""
            elif start:
                status, body = 206, PAYLOAD[start:]
                headers = {"Content-Range": f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"}
            else:
                status, headers, body = 200, {}, PAYLOAD
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for name, value in headers.items():
            if value is not None:
                self.send_header(name, value)
        self.end_headers()
        server.sent.append(len(body))  # type: ignore[attr-defined]
        self.wfile.write(body)


@contextlib.contextmanager
def scripted_serving() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """A local HTTP server with ScriptedHandler on a free port: (the archive's URL, the
    server, whose `script` a test fills and whose `ranges` and `sent` it reads)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    httpd.script, httpd.ranges, httpd.sent = [], [], []  # type: ignore[attr-defined]
    with _running(httpd) as url:
        yield url, httpd
