"""Outputs appear atomically: an error or a crash mid-write leaves the old bytes (or no
file), never a half-written output that DVC would accept."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from stages.core import atomic
from stages.core.atomic import atomic_path, sha256_of, write_csv, write_json, write_text

OLD = b"the old, complete output\n"


def test_the_temporary_file_is_a_hidden_sibling_never_the_target(tmp_path) -> None:
    target = tmp_path / "out" / "metrics.json"
    with atomic_path(target) as temporary:
        assert temporary != target
        assert temporary.parent == target.parent  # same filesystem: the rename is atomic
        assert temporary.name.startswith(".metrics.") and temporary.name.endswith(".json")
        temporary.write_text("new")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["metrics.json"]


def test_an_exception_inside_the_block_leaves_the_old_bytes_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "model.keras"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="training blew up"), atomic_path(target) as temporary:
        temporary.write_bytes(b"half of a new mod")
        raise RuntimeError("training blew up")
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["model.keras"]


def test_an_exception_with_no_old_output_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "plots" / "roc.csv"
    with pytest.raises(KeyError), atomic_path(target) as temporary:
        temporary.write_text("fpr,tpr\n0,")
        raise KeyError("tpr")
    assert not target.exists()
    assert os.listdir(target.parent) == []


def _half_write_text(self: Path, text: str, *args: object, **kwargs: object) -> int:
    with open(self, "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) // 2])
    raise OSError(28, "No space left on device")


def _half_to_csv(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("filename,category\ncat.1.jpg,c")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("writer", "payload"),
    [
        (write_text, "a whole new text\n" * 100),
        (write_json, {"accuracy": 0.9, "loss": 0.2}),
        (write_csv, pd.DataFrame({"filename": ["cat.1.jpg"], "category": ["cat"]})),
    ],
    ids=["write_text", "write_json", "write_csv"],
)
def test_a_disk_full_mid_write_leaves_the_old_output(tmp_path, monkeypatch, writer, payload):
    monkeypatch.setattr(Path, "write_text", _half_write_text)
    monkeypatch.setattr(pd.DataFrame, "to_csv", _half_to_csv)
    target = tmp_path / "output"
    target.write_bytes(OLD)
    with pytest.raises(OSError, match="No space left"):
        writer(target, payload)
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["output"]


# The child starts a real write, says so, and stalls mid-write until it is killed.
CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from stages.core.atomic import atomic_path, write_csv

    target, how = sys.argv[1], sys.argv[2]

    class Stall:
        # A cell whose text is asked for after earlier rows: the write stops there.
        def __str__(self):
            print("mid-write", flush=True)
            time.sleep(600)
            return "never"

    if how == "atomic_path":
        with atomic_path(target) as temporary, open(temporary, "w") as handle:
            handle.write("half of the new out")
            handle.flush()
            print("mid-write", flush=True)
            time.sleep(600)
    else:
        rows = ["cat.%d.jpg" % i for i in range(20000)]
        write_csv(target, pd.DataFrame({"filename": [*rows, Stall()]}))
    """
)


@pytest.mark.parametrize("how", ["atomic_path", "write_csv"])
@pytest.mark.parametrize("existed", [True, False], ids=["over an old output", "no old output"])
def test_sigkill_mid_write_never_leaves_a_partial_output(tmp_path, repo, how, existed) -> None:
    target = tmp_path / "data" / "split" / "train.csv"
    target.parent.mkdir(parents=True)
    if existed:
        target.write_bytes(OLD)
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(target), how],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "mid-write\n"
        # The new bytes are on disk somewhere, but not at the target.
        assert any(path.stat().st_size > 0 for path in target.parent.iterdir() if path != target)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    if existed:
        assert target.read_bytes() == OLD
    else:
        assert not target.exists()
    # A killed writer may leave its hidden temporary behind, never anything at the target.
    assert all(
        path.name.startswith(".train.") for path in target.parent.iterdir() if path != target
    )


def test_outputs_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path) -> None:
    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_json_and_csv_bytes_are_stable(tmp_path) -> None:
    write_json(tmp_path / "m.json", {"loss": 0.25, "accuracy": 0.5, "confusion": {"tp": 1}})
    assert (tmp_path / "m.json").read_text() == (
        '{\n  "accuracy": 0.5,\n  "confusion": {\n    "tp": 1\n  },\n  "loss": 0.25\n}\n'
    )
    write_csv(tmp_path / "t.csv", pd.DataFrame({"b": [1, 2], "a": ["x", "y"]}, index=[7, 8]))
    assert (tmp_path / "t.csv").read_bytes() == b"b,a\n1,x\n2,y\n"


@pytest.mark.parametrize("size", [0, 3, atomic.BLOCK, atomic.BLOCK * 2 + 5])
def test_sha256_of_reads_every_block(tmp_path, size) -> None:
    data = b"abc" if size == 3 else (bytes(range(256)) * (size // 256 + 1))[:size]
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
    if size == 3:
        assert sha256_of(path) == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
        )
