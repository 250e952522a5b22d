"""Warm starts: inside a DVC stage, `catdog` forks its command from a process that has
already imported TensorFlow, Keras and the other heavy libraries.

DVC starts one process per stage, and in a small run most of each process's time went to
imports (TensorFlow's alone about 4 s: benchmarks/README.md, "Pipeline overhead"). Here,
the first stage command starts a server that imports the third-party libraries once; each
later command (the client, which DVC started) hands over its argv, environment, working
folder and standard streams, and the server forks a fresh child that runs it. The client
waits, forwards the signals it gets, and exits with the child's status, so DVC sees one
process that behaved as a cold one would. A killed client (`kill -9`) takes its child
with it.

What stays exact:
- The server never imports the project's modules (only `stages`, `stages.core` and this
  one, whose bytes are in the server's key): a child imports them from disk, so a stage
  runs the code DVC hashed.
- The server's key is this interpreter, its `sys.path`, the environment variables read at
  import time, and the installed packages; any change starts another server.
- A child that needs another Keras backend than the one preloaded runs cold instead.
- The server exits after CATDOG_WARM_IDLE seconds (60) without a command.

Linux only (abstract Unix sockets, pidfds); CATDOG_WARM=0 turns it off. Nothing here may
import beyond the standard library: the client runs before anything else.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import importlib.util
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

SWITCH_ENV = "CATDOG_WARM"
IDLE_ENV = "CATDOG_WARM_IDLE"
CHILD_ENV = "CATDOG_WARM_CHILD"
DEFAULT_IDLE_SECONDS = 60.0
# A server still importing TensorFlow on a busy machine answers within this; after it the
# client runs its command cold (the server never runs a command it has not acknowledged).
READY_SECONDS = 120.0
# The exit status a child uses to ask its client to run the command cold.
COLD_STATUS = 203
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# Environment variables the preloaded libraries read when imported (TensorFlow, Keras,
# JAX, the BLAS and OpenMP pools, matplotlib, Python itself, the loader, the locale).
IMPORT_TIME_ENV = (
    "TF_", "KERAS", "CUDA", "XLA", "JAX", "OMP_", "MKL", "OPENBLAS", "MPL", "PYTHON",
    "LD_", "LANG", "LC_", "HOME", "TMPDIR",
)  # fmt: skip
# Third-party modules the stages import (after Keras, where it is preloaded); a missing
# one is skipped.
PRELOADED = (
    "numpy", "pandas", "scipy.stats", "sklearn.metrics", "sklearn.model_selection",
    "matplotlib.figure", "matplotlib.ticker", "PIL.Image", "PIL.ImageDraw", "PIL.ImageFilter",
    "PIL.ImageOps", "pydantic", "typer", "rich", "ruamel.yaml", "dvclive",
)  # fmt: skip


class ColdStartNeeded(BaseException):
    """Raised in a warm child that cannot run its command as a cold process would (another
    Keras backend than the preloaded one): the client then runs the command itself."""


def in_warm_child() -> bool:
    """Whether this process is a child forked by the warm server."""
    return os.environ.get(CHILD_ENV) == "1"


def main() -> None:
    """The `catdog` console script: hand the command to the warm server where one can run
    it, else run it here."""
    status = None
    if wanted(os.environ):
        if problem := setting_problem(os.environ):
            print(f"catdog: {problem}; this command starts cold", file=sys.stderr)
        else:
            status = hand_over(sys.argv)
    if status is not None and not asks_for_cold_start(status):
        exit_like(status)
    from stages.cli import main as run_cold

    run_cold()


def setting_problem(environ: Mapping[str, str]) -> str | None:
    """What is wrong with CATDOG_WARM or CATDOG_WARM_IDLE, in one line; None if nothing.
    (A bad value costs only speed: the command then starts cold, and nothing fails.)"""
    switch = environ.get(SWITCH_ENV, "1")
    if switch not in ("0", "1"):
        return f"{SWITCH_ENV}: must be 0 or 1 (got {switch[:60]!r})"
    idle = environ.get(IDLE_ENV, str(DEFAULT_IDLE_SECONDS))
    try:
        seconds = float(idle)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        return f"{IDLE_ENV}: must be a number of seconds above 0 (got {idle[:60]!r})"
    return None


def asks_for_cold_start(status: int) -> bool:
    """Whether a child's wait status is its request to run the command cold."""
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == COLD_STATUS


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether to hand this command over: a DVC stage's command, on Linux, not turned off."""
    return (
        bool(environ.get("DVC_STAGE"))
        and environ.get(SWITCH_ENV, "1") != "0"
        and environ.get(CHILD_ENV) != "1"
        and sys.platform == "linux"
        and hasattr(socket, "send_fds")
        and hasattr(os, "pidfd_open")
    )


# --- The key -------------------------------------------------------------------------


def import_time_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment variables that can change what an import does."""
    return {
        name: value for name, value in sorted(environ.items()) if name.startswith(IMPORT_TIME_ENV)
    }


def server_key(environ: dict[str, str], path: Sequence[str]) -> str:
    """A digest of everything a preloaded import depends on, and of the modules the server
    shares with its children."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    own = [package / "__init__.py", package / "core/__init__.py", Path(__file__).resolve()]
    installed = [entry for entry in path if entry.endswith(("site-packages", "dist-packages"))]
    facts = {
        "executable": sys.executable,
        "version": sys.version,
        "path": list(path),
        "environment": import_time_environment(environ),
        "installed": [_mtime(entry) for entry in installed],
        "own": [hashlib.sha256(file.read_bytes()).hexdigest() for file in own],
    }
    digest.update(json.dumps(facts, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _mtime(folder: str) -> int:
    """A folder's modification time in ns (pip changes it when it adds or removes a
    package), or 0 if it is not there."""
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return 0


def server_address(key: str) -> str:
    """The abstract socket (no file to clean up) of this user's server for `key`."""
    return f"\0catdog-warm-{os.getuid()}-{key}"


# --- The client ----------------------------------------------------------------------


def hand_over(argv: Sequence[str]) -> int | None:
    """Run `argv` in a warm child and return its wait status; None if no server could take
    it (then nothing ran)."""
    environ = dict(os.environ)
    address = server_address(server_key(environ, sys.path))
    connection = connect(address) or start_server(address, environ)
    if connection is None:
        return None
    with connection:
        request = {
            "argv": list(argv),
            "environ": environ,
            "cwd": os.getcwd(),
            "path": list(sys.path),
            "umask": _current_umask(),
        }
        try:
            connection.settimeout(READY_SECONDS)
            if _receive(connection) != {"ready": True}:
                return None
            connection.settimeout(None)
            socket.send_fds(connection, [_frame_of(request)], [0, 1, 2])
        except (OSError, ValueError):
            return None
        # From here the command may be running: never run it a second time, cold.
        try:
            started = _receive(connection)
        except (OSError, ValueError):
            started = None
        if started == {"cold": True}:
            return None
        if not started or "pid" not in started:
            print("catdog: the warm server failed (CATDOG_WARM=0 runs cold)", file=sys.stderr)
            return 1 << 8
        return _wait_for_child(connection, started["pid"])


def connect(address: str) -> socket.socket | None:
    """A connection to the server at `address`, or None if none listens there."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except OSError:
        connection.close()
        return None
    return connection


def start_server(address: str, environ: dict[str, str]) -> socket.socket | None:
    """Start a server for `address` in the background, and connect to it once it listens
    (it listens before it imports, so this takes milliseconds)."""
    server_environ = {name: value for name, value in environ.items() if name != "DVC_STAGE"}
    server_environ["CATDOG_WARM_ADDRESS"] = address.removeprefix("\0")
    server_environ["CATDOG_WARM_PATH"] = json.dumps(sys.path)
    bootstrap = (
        "import json, os, sys; sys.path[:] = json.loads(os.environ.pop('CATDOG_WARM_PATH')); "
        "from stages.core.warm import serve; serve()"
    )
    try:
        server = subprocess.Popen(
            [sys.executable, "-c", bootstrap],
            env=server_environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in DVC's process group: Ctrl-C reaches clients only
        )
    except OSError:
        return None
    for _ in range(500):  # up to 10 s for the interpreter to start and bind
        if (connection := connect(address)) is not None:
            return connection
        if server.poll() is not None:  # it exited: another client's server won the
            return connect(address)  # address (bind failed), or it could not start
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(0.02)
    return None


def _wait_for_child(connection: socket.socket, pid: int) -> int:
    """Forward this process's signals to the child until the server reports its status."""

    def forward(signum: int, _stack: object) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(_frame_of({"signal": signum}))

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    try:
        reply = _receive(connection)
    except (OSError, ValueError):
        reply = None
    if reply and "status" in reply:
        return int(reply["status"])
    print(f"catdog: the warm server lost child {pid} (CATDOG_WARM=0 runs cold)", file=sys.stderr)
    return 1 << 8


def exit_like(status: int) -> None:
    """End this process as the child ended: the same exit code, or the same signal."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- Messages: one JSON object per line ----------------------------------------------


def _frame_of(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _receive(connection: socket.socket) -> dict | None:
    """The next message, or None at the end of the stream."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = connection.recv(1)
        if not chunk:
            return None
        line += chunk
    return json.loads(line)


# --- The server ----------------------------------------------------------------------


def serve() -> None:
    """Listen, preload, then fork a monitor per client until idle for CATDOG_WARM_IDLE s."""
    address = "\0" + os.environ.pop("CATDOG_WARM_ADDRESS")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
    except OSError:
        os._exit(0)  # another server has it
    listener.listen(64)
    try:  # a kernel without pidfds (before Linux 5.3): clients then run cold
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        os._exit(0)
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    listener.settimeout(float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_SECONDS)))
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            os._exit(0)
        if _same_user(connection) and os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _monitor(connection)  # never returns
        connection.close()


def preload() -> None:
    """Import the heavy third-party modules; Keras where TensorFlow is installed and
    KERAS_BACKEND asks for no other backend (a child that resolves another one, such as
    JAX where JAX sees a GPU, runs cold)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as `catdog` sets it before Keras
    modules = list(PRELOADED)
    tensorflow = importlib.util.find_spec("tensorflow") is not None
    if tensorflow and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        modules.insert(0, "keras")
    for module in modules:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            continue
        with contextlib.suppress(Exception):
            importlib.import_module(module)


def _same_user(connection: socket.socket) -> bool:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid == os.getuid()


def _monitor(connection: socket.socket) -> None:
    """One client's command: read it, fork the child that runs it, and supervise it."""
    try:
        connection.sendall(_frame_of({"ready": True}))
        payload, fds, _flags, _address = socket.recv_fds(connection, 1 << 20, 3)
        while not payload.endswith(b"\n"):
            chunk = connection.recv(1 << 20)
            if not chunk:
                raise ValueError("the request ended early")
            payload += chunk
        request = json.loads(payload)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            connection.sendall(_frame_of({"cold": True}))  # nothing ran: the client may
        os._exit(0)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run_child(request, fds)
    reaped = False
    try:
        reaped = _supervise(connection, pid, fds)
    finally:  # a child its client can no longer hear of must not run on
        if not reaped:  # (until it is reaped, its pid cannot name another process)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        os._exit(0)


def _supervise(connection: socket.socket, pid: int, fds: list[int]) -> bool:
    """Tell the client the child's pid, forward its signals, and report how the child
    ended: True once it is reaped; False if the client went away first."""
    for fd in fds:
        os.close(fd)
    child = os.pidfd_open(pid)
    with contextlib.suppress(OSError):
        connection.sendall(_frame_of({"pid": pid}))
    pending = b""
    while True:
        readable, _, _ = select.select([connection.fileno(), child], [], [])
        if child in readable:
            _, status = os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                connection.sendall(_frame_of({"status": status}))
            return True
        chunk = b""
        with contextlib.suppress(OSError):
            chunk = connection.recv(4096)
        if not chunk:  # the client died: so does its command
            return False
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            with contextlib.suppress(OSError, ValueError, KeyError):
                os.kill(pid, int(json.loads(line)["signal"]))


def _run_child(request: dict, fds: list[int]) -> None:
    """Become the process the client would have been, run its command, and exit."""
    status = 1
    try:
        _become_client(request, fds)
        status = _run_command()
    finally:
        os._exit(status)


def _become_client(request: dict, fds: list[int]) -> None:
    """Take the client's streams, signals' defaults, folder, umask, environment and argv."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["environ"])
    os.environ[CHILD_ENV] = "1"
    sys.argv = request["argv"]
    sys.path[:] = request["path"]
    _reopen_standard_streams()
    _reseed()


def _reopen_standard_streams() -> None:
    """Text streams over the client's descriptors, buffered as a fresh interpreter's are."""
    encoding = sys.stdout.encoding
    sys.stdin = os.fdopen(0, "r", encoding=encoding, closefd=False)
    sys.stdout = os.fdopen(
        1, "w", buffering=1 if os.isatty(1) else -1, encoding=encoding, closefd=False
    )
    sys.stderr = os.fdopen(
        2, "w", buffering=1, encoding=encoding, errors="backslashreplace", closefd=False
    )


def _reseed() -> None:
    """Fresh unseeded random states, as each cold process has (the stages seed their own)."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _rerun_site_customization() -> None:
    """Run `sitecustomize` again, with the command's environment, as a cold start would
    (the import probe of tests/ and the stage clock of benchmarks/ are such hooks). It
    failing is reported as a cold start reports it, and the command still runs."""
    if "sitecustomize" in sys.modules:
        try:
            importlib.reload(sys.modules["sitecustomize"])
        except Exception as error:
            print("Error in sitecustomize; set PYTHONVERBOSE for traceback:", file=sys.stderr)
            print(f"{type(error).__name__}: {error}", file=sys.stderr)


def _run_command() -> int:
    """Run `catdog` with sys.argv; the exit code a cold interpreter would end with."""
    code = 0
    try:
        _rerun_site_customization()
        from stages.cli import main as run_cold

        run_cold()
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except ColdStartNeeded:
        return COLD_STATUS
    except KeyboardInterrupt:
        traceback.print_exc()
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _finish()
    return code


def _exit_code(code: object) -> int:
    """What the interpreter makes of SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish() -> None:
    """What an interpreter does on its way out: the atexit handlers, then the buffers."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
