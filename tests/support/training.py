"""`catdog train` for a test: the command line that trains one variation on a decoded set,
every output under one folder."""

from __future__ import annotations

from pathlib import Path

from tests.support.prepared import Prepared


def train_arguments(
    params: Path, data: Prepared, out: Path, variation: str = "v4", seed: int = 42
) -> list[str]:
    """The arguments after `catdog` that train `variation` with `params` on `data`'s
    training photos (its test photos for validation), writing `out/<variation>.keras`,
    `out/dvclive/`, `out/train.json` and the resume checkpoints under `out/checkpoints/`."""
    return [
        "--params", str(params), "train", variation, "--seed", str(seed),
        "--images", str(data.cache.images), "--index", str(data.cache.index),
        "--train-csv", str(data.train_csv), "--validation-csv", str(data.test_csv),
        "--model", str(out / f"{variation}.keras"), "--live", str(out / "dvclive"),
        "--summary", str(out / "train.json"), "--checkpoints", str(out / "checkpoints"),
    ]  # fmt: skip
