"""`catdog push`: share what this workspace reproduced through a DVC remote, so that
`dvc repro --pull` on another machine restores it instead of rerunning it.

That is DVC's run-cache: `dvc push --run-cache` sends the run entries and the cached
outputs. It leaves out the objects of `cache: false` outputs (our metrics, dvclive's
files and the history CSVs), although the run-cache committed them to the local cache;
without them `dvc repro --pull` elsewhere cannot restore the stage and reruns it (the
"missing cache files" warning of treeverse/dvc#5749). This pushes both.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from stages.core.errors import CatdogError

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc_data.hash_info import HashInfo
    from dvc_data.hashfile.db import HashFileDB


def push_for_reuse(remote: str | None = None) -> int:
    """`dvc push --run-cache`, then the objects of the uncached outputs in dvc.lock; return
    how many objects went to the remote."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        return _push(Repo(), remote)
    except DvcException as error:  # no remote, an unreachable one, not a DVC repo...
        raise CatdogError(f"push: {error}") from None


def _push(repo: Repo, remote: str | None) -> int:
    with repo:
        pushed = repo.push(run_cache=True, remote=remote)
        uncached = {
            out.hash_info
            for stage in repo.index.stages
            for out in stage.outs
            if not out.use_cache and out.hash_info and out.hash_info.value
        }
        local = repo.cache.local
        present = {hash_info for hash_info in uncached if local.exists(hash_info.value)}
        objects = _with_folder_contents(local, present)
        result = repo.cloud.push(objects, remote=remote)
    sent = pushed + len(result.transferred)
    print(
        f"push: {pushed} files and run entries, and {len(result.transferred)} of the "
        f"{len(objects)} files of the {len(present)} outputs that dvc.yaml keeps out of "
        "the cache",
        file=sys.stderr,
    )
    return sent


def _with_folder_contents(local: HashFileDB, objects: set[HashInfo]) -> set[HashInfo]:
    """`objects` plus the files each folder's listing (`.dir`) names: DVC sends a folder's
    listing only together with its files (a dvclive folder is one such output)."""
    from dvc_data.hashfile.tree import Tree

    files = {oid for folder in objects if folder.isdir for _, _, oid in Tree.load(local, folder)}
    return objects | files
