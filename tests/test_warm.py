"""Warm starts (stages/core/warm.py): a stage command forked from a warm server behaves as
the cold process would, in its output, exit status, signals and death, and runs the
project's code from disk.

Each test runs the real `catdog` console script under DVC_STAGE, with a sitecustomize hook
on PYTHONPATH that records every process it starts in (a warm child runs it again, as a
cold start would). KERAS_BACKEND=jax keeps TensorFlow out of these servers' preload: they
start in a second or two; the pipeline tests run the TensorFlow preload.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stages.core import warm
from stages.core.backend import use_backend
from stages.core.errors import CatdogError
from tests.support.workspace import tool_environment

HOOK = """
import atexit, json, os, sys, time

def _record(event, **fields):
    with open(os.environ["WARM_TEST_LOG"], "a") as log:
        child = os.environ.get("CATDOG_WARM_CHILD") == "1"
        record = {"event": event, "pid": os.getpid(), "child": child, **fields}
        log.write(json.dumps(record) + "\\n")

if os.environ.get("DVC_STAGE") and os.environ.get("WARM_TEST_LOG"):
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "stages")
    server = None
    if os.environ.get("CATDOG_WARM_CHILD"):  # its parent is a monitor, forked by the server
        with open(f"/proc/{os.getppid()}/stat") as monitor:
            server = int(monitor.read().rsplit(")", 1)[1].split()[1])
    _record("start", stages=loaded, cwd=os.getcwd(), stage=os.environ["DVC_STAGE"], server=server)
    atexit.register(lambda: _record("exit", ran_cli="stages.cli" in sys.modules))
    runs_command = os.environ.get("CATDOG_WARM") == "0" or os.environ.get("CATDOG_WARM_CHILD")
    if runs_command and os.environ.get("WARM_TEST_COLD"):
        from stages.core.warm import ColdStartNeeded
        raise ColdStartNeeded
    if runs_command and os.environ.get("WARM_TEST_SLEEP"):
        time.sleep(float(os.environ["WARM_TEST_SLEEP"]))
"""


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> Path:
    """The recording hook's folder: on PYTHONPATH, it is part of the server's key, so this
    module's tests share one server and no other test's server answers them."""
    folder = tmp_path_factory.mktemp("hook")
    (folder / "sitecustomize.py").write_text(HOOK)
    return folder


@pytest.fixture
def hooked(hook, tmp_path) -> dict[str, str]:
    """An environment for `catdog` as a DVC stage's command, with the recording hook."""
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    return tool_environment(
        {
            "PYTHONPATH": path,
            "DVC_STAGE": "warm-test",
            "WARM_TEST_LOG": str(tmp_path / "log.jsonl"),
            "KERAS_BACKEND": "jax",
            "CATDOG_WARM_IDLE": "20",
        }
    )


def records(environ: dict[str, str]) -> list[dict]:
    log = Path(environ["WARM_TEST_LOG"])
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def catdog(environ: dict[str, str], *arguments: str, cwd: Path, **changes: str):
    return subprocess.run(
        ["catdog", *arguments],  # found on the environment's PATH
        cwd=cwd,
        env={**environ, **changes},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_stage_command_runs_in_a_warm_child_as_it_would_cold(hooked, tmp_path) -> None:
    (tmp_path / "params.yaml").write_text("data: [not, a, mapping]\n")
    for arguments in (["--help"], ["validate", "--out", "ok"]):
        cold = catdog(hooked, *arguments, cwd=tmp_path, CATDOG_WARM="0")
        first = catdog(hooked, *arguments, cwd=tmp_path)  # may start this module's server
        second = catdog(hooked, *arguments, cwd=tmp_path)
        for run in (first, second):
            assert (run.returncode, run.stdout, run.stderr) == (
                cold.returncode,
                cold.stdout,
                cold.stderr,
            )
    assert cold.returncode == 2 and cold.stderr.startswith("error: ")
    children = [r for r in records(hooked) if r["child"] and r["event"] == "start"]
    assert len(children) == 4
    for child in children:
        # Its own folder and stage; of the project, only what the console script loads.
        assert child["cwd"] == str(tmp_path) and child["stage"] == "warm-test"
        assert child["stages"] == ["stages", "stages.core", "stages.core.warm"]
    clients = [r for r in records(hooked) if not r["child"] and r["event"] == "exit"]
    assert [client["ran_cli"] for client in clients] == [True, False, False] * 2


def test_a_child_that_needs_a_cold_start_gets_one(hooked, tmp_path) -> None:
    run = catdog(hooked, "--help", cwd=tmp_path, WARM_TEST_COLD="1")
    assert run.returncode == 0 and run.stdout.count("Usage: catdog") == 1
    exits = [r for r in records(hooked) if r["event"] == "exit"]
    assert [(r["child"], r["ran_cli"]) for r in exits] == [(False, True)]  # the client ran it


def test_a_warm_child_on_another_backend_asks_for_a_cold_start(monkeypatch) -> None:
    """Keras is imported here, as in a server that preloaded it: a cold process is refused
    another backend; a warm child asks its client to start cold instead."""
    import keras

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    monkeypatch.delenv("CATDOG_WARM_CHILD", raising=False)
    with pytest.raises(CatdogError, match="already loaded"):
        use_backend(other)
    monkeypatch.setenv("CATDOG_WARM_CHILD", "1")
    with pytest.raises(warm.ColdStartNeeded):
        use_backend(other)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("CATDOG_WARM", "off", "CATDOG_WARM: must be 0 or 1 (got 'off')"),
        ("CATDOG_WARM_IDLE", "a minute", "CATDOG_WARM_IDLE: must be a number of seconds"),
        ("CATDOG_WARM_IDLE", "0", "CATDOG_WARM_IDLE: must be a number of seconds"),
        ("CATDOG_WARM_IDLE", "inf", "CATDOG_WARM_IDLE: must be a number of seconds"),
    ],
)
def test_a_bad_warm_setting_is_named_and_the_command_starts_cold(
    hooked, tmp_path, name, value, problem
) -> None:
    run = catdog(hooked, "--help", cwd=tmp_path, **{name: value})
    assert run.returncode == 0 and "Usage: catdog" in run.stdout
    assert run.stderr.startswith(f"catdog: {problem}") and run.stderr.count("\n") == 1
    assert not any(record["child"] for record in records(hooked))


def test_clients_that_start_at_once_share_one_new_server(hooked, tmp_path) -> None:
    fresh = {**hooked, "PYTHON_WARM_TEST": str(tmp_path)}  # read at import: a key of its own
    clients = [
        subprocess.Popen(["catdog", "--help"], cwd=tmp_path, env=fresh, stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [client.communicate(timeout=180)[0] for client in clients]
    assert [client.returncode for client in clients] == [0, 0, 0]
    assert len(set(outputs)) == 1 and b"Usage: catdog" in outputs[0]
    children = [r for r in records(hooked) if r["child"] and r["event"] == "start"]
    assert len(children) == 3 and len({child["server"] for child in children}) == 1


def started_child(environ: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """A client whose warm child sleeps in its start-up hook, and that child's pid."""
    client = subprocess.Popen(
        ["catdog", "--help"],
        cwd=cwd,
        env={**environ, "WARM_TEST_SLEEP": "120"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = [r for r in records(environ) if r["child"] and r["event"] == "start"]
        if children:
            return client, children[0]["pid"]
        time.sleep(0.05)
    client.kill()
    raise AssertionError("no warm child started")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_reaches_the_child_and_ends_the_client_as_it_ended_the_child(
    hooked, tmp_path
) -> None:
    client, child = started_child(hooked, tmp_path)
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in stderr
    assert not alive(child)


def test_a_killed_client_takes_its_child_with_it(hooked, tmp_path) -> None:
    client, child = started_child(hooked, tmp_path)
    client.kill()  # SIGKILL: nothing of the client runs
    client.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_warm_starts_only_where_a_dvc_stage_runs() -> None:
    stage = {"DVC_STAGE": "train@v4-42"}
    assert warm.wanted(stage) == (sys.platform == "linux")
    assert not warm.wanted({})  # `catdog predict` typed by a person starts cold
    assert not warm.wanted({**stage, "CATDOG_WARM": "0"})
    assert not warm.wanted({**stage, "CATDOG_WARM_CHILD": "1"})


def test_the_server_key_follows_what_imports_read_and_nothing_else() -> None:
    environ = {"HOME": "/home/a", "DVC_STAGE": "train@v1-42", "KERAS_BACKEND": "tensorflow"}
    path = ["/venv/bin", "/venv/lib/python3.11/site-packages"]
    key = warm.server_key(environ, path)
    assert warm.server_key({**environ, "DVC_STAGE": "evaluate@v1-42"}, path) == key
    assert warm.server_key({**environ, "DVC_ROOT": "/tmp/exp"}, path) == key
    assert warm.server_key({**environ, "KERAS_BACKEND": "jax"}, path) != key
    assert warm.server_key({**environ, "TF_ENABLE_ONEDNN_OPTS": "0"}, path) != key
    assert warm.server_key({**environ, "PYTHONHASHSEED": "0"}, path) != key
    assert warm.server_key(environ, ["/probe", *path]) != key
