"""A kill -9 during decode (or while DVC restores its outputs) leaves a temporary beside
the output; the next decode removes it, and only such temporaries, never other files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from stages.core.atomic import clear_stale_temporaries
from stages.core.config import ImageParams
from stages.ingest.decode import DecodeInputs, DecodeOutputs, run

# The child runs the real decode and stalls once its workers are filling the array.
STALLING_DECODE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from stages.ingest import decode

    def stall(*args, **kwargs):
        print("mid-decode", flush=True)
        time.sleep(600)

    decode.progress = stall
    decode.decode_archive(Path(sys.argv[1]), 32, 32, Path(sys.argv[2]), workers=2)
    """
)
# The child copies a file as DVC restores an output from its cache, killed before the rename.
KILLED_DVC_COPY = textwrap.dedent(
    """
    import os, signal, sys
    from dvc_objects.fs.local import LocalFileSystem

    os.rename = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    LocalFileSystem().copy(sys.argv[1], sys.argv[2])
    """
)


def _outputs(root: Path) -> DecodeOutputs:
    cache = root / "data" / "cache"
    return DecodeOutputs(cache / "images.npy", cache / "index.csv", root / "data" / "rejected.csv")


def _child(repo: Path, code: str, *args: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the decode workers die with it
    )


def _kill_group(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def test_what_a_killed_decode_and_a_killed_dvc_copy_leave_the_next_decode_removes(
    tmp_path, repo, microsoft_zip, capsys
) -> None:
    outputs = _outputs(tmp_path)
    outputs.images.parent.mkdir(parents=True)
    decoding = _child(repo, STALLING_DECODE, microsoft_zip, outputs.images)
    try:
        assert decoding.stdout is not None and decoding.stdout.readline() == "mid-decode\n"
    finally:
        _kill_group(decoding)
    assert decoding.returncode == -signal.SIGKILL
    (left,) = outputs.images.parent.glob(".images.*.tmp.npy")
    assert left.stat().st_size > 200 * 32 * 32 * 3  # the whole array, as in the 98 MB case
    cached = tmp_path / "cache-copy-of-rejected.csv"
    cached.write_text("filename,category,reason\n")
    copying = _child(repo, KILLED_DVC_COPY, cached, outputs.rejected)
    copying.wait()
    assert copying.returncode == -signal.SIGKILL
    (dvc_left,) = outputs.rejected.parent.glob(".*.tmp")

    run(ImageParams(height=32, width=32), DecodeInputs(microsoft_zip), outputs)

    assert not left.exists() and not dvc_left.exists()
    assert sorted(p.name for p in outputs.images.parent.iterdir()) == ["images.npy", "index.csv"]
    assert np.load(outputs.images).shape == (200, 32, 32, 3)
    message = capsys.readouterr().err
    assert "decode: removed what a killed run left (2 temporary files" in message
    assert left.name in message and dvc_left.name in message


def test_only_the_temporaries_of_the_outputs_are_removed(tmp_path) -> None:
    from dvc_objects.fs.utils import tmp_fname

    outputs = _outputs(tmp_path)
    cache, data = outputs.images.parent, outputs.rejected.parent
    cache.mkdir(parents=True)
    stale = [
        cache / ".images.a1b2c3d_.tmp.npy",  # atomic_path's, as mkstemp names it
        cache / ".index.zz9zz9zz.tmp.csv",
        data / ".rejected.k0k0k0k0.tmp.csv",
        cache / Path(tmp_fname()).name,  # DVC's copy into the folder
        Path(tmp_fname(str(outputs.images))),  # DVC's move onto the output
    ]
    outside = tmp_path / "elsewhere.npy"
    kept = [
        cache / "images.npy",
        cache / "keep.npy",
        cache / ".images.npy",
        cache / ".images.short.tmp.npy",  # not mkstemp's eight characters
        cache / ".other.a1b2c3d4.tmp.npy",  # another output's temporary
        cache / "notes.tmp",
        data / ".images.a1b2c3d4.tmp.npy",  # images.npy is not in data/
        data / "split" / ".train.a1b2c3d4.tmp.csv",  # a subfolder: another stage's
        tmp_path / ".rejected.a1b2c3d4.tmp.csv",  # above the outputs' folders
        outside,
    ]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    link = cache / ".images.l1nk0000.tmp.npy"
    link.symlink_to(outside)  # not a regular file: left alone, and so is its target
    folder = cache / Path(tmp_fname()).name
    folder.mkdir()

    removed = clear_stale_temporaries([outputs.images, outputs.index, outputs.rejected])

    assert sorted(removed) == sorted(stale) and set(removed.values()) == {10}
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in [*kept, link, folder])


@pytest.mark.parametrize("name", ["images.npy", ".images.npy"])
def test_no_folder_no_temporaries_and_no_error(tmp_path, name) -> None:
    assert clear_stale_temporaries([tmp_path / "absent" / name]) == {}
