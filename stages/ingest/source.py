"""`data.source`, interpreted in one place: the string from params.yaml becomes a typed
value (Microsoft's pinned archive, the Kaggle competition, the synthetic set, or a local
archive), each with its own `check()`: what `validate_data` must confirm before DVC deletes
anything. `download` fetches by the type, never by reading the string again."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from stages.core.config import DataParams
from stages.core.errors import CatdogError
from stages.ingest.archive import find_photos

# Where the pipeline writes, if dvc.yaml cannot be read (catdog run outside the project).
OUTPUT_FOLDERS = ("data/raw", "data/cache", "data/split", "data/validated", "models", "metrics")
# Folders that hold outputs beside the user's own files: only the outputs in them are refused.
SHARED_FOLDERS = (".", "data")


def pipeline_outputs(dvc_yaml: Path, variations: Iterable[str]) -> list[str]:
    """Every path a stage of `dvc_yaml` writes (outs, metrics, plots), with `${key}` and
    `${item.variation}` expanded for each variation; a path templated otherwise (a seed)
    stops at its first `${`, so its folder stands for it."""
    stages = YAML(typ="safe", pure=True).load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    names = list(variations)
    found: list[str] = []
    for stage in stages.values():
        body = stage.get("do", stage)
        keys = names if "foreach" in stage or "matrix" in stage else [""]
        for entry in [*body.get("outs", []), *body.get("metrics", []), *body.get("plots", [])]:
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            for key in keys:
                expanded = path.replace("${key}", key).replace("${item.variation}", key)
                found.append(expanded.split("${", 1)[0].rstrip("/") or ".")
    return found


def protected_paths(root: Path, variations: Iterable[str]) -> list[str]:
    """The outputs, then the folders that hold them (but the shared ones, `.` and `data`)."""
    dvc_yaml = root / "dvc.yaml"
    outputs = pipeline_outputs(dvc_yaml, variations) if dvc_yaml.is_file() else []
    folders = {str(Path(out).parent) for out in outputs} | set(OUTPUT_FOLDERS)
    return sorted(set(outputs)) + sorted(folders - set(SHARED_FOLDERS) - set(outputs))


def check_not_an_output(source: str, root: Path, variations: Iterable[str]) -> None:
    """Refuse a local archive that is, or lies inside, something the pipeline writes: DVC
    deletes a stage's outputs before running it, and the archive is in no DVC cache."""
    resolved = Path(root, source).resolve()
    for protected in protected_paths(root, variations):
        if resolved == Path(root, protected).resolve() or resolved.is_relative_to(
            Path(root, protected).resolve()
        ):
            raise CatdogError(
                f"data.source: {source} is inside the pipeline's outputs ({protected}), which "
                f"DVC deletes before rerunning the stage that writes them; keep the archive "
                f"elsewhere"
            )


def check_local_archive(source: str) -> Path:
    """The path `data.source` names, once it is known to exist and hold both classes."""
    path = Path(source)
    if not path.is_file():
        raise CatdogError(f"data.source: {source}: no such file")
    try:
        find_photos(path)
    except CatdogError as problem:
        raise CatdogError(f"data.source: {problem}") from None
    return path


def check_kaggle_credentials() -> None:
    """The kaggle package must be able to find credentials (environment or kaggle.json)."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    if not (folder / "kaggle.json").is_file():
        raise CatdogError(
            "data.source kaggle: no credentials; put kaggle.json in ~/.kaggle "
            "(mode 600) or set KAGGLE_USERNAME and KAGGLE_KEY"
        )


@dataclass(frozen=True)
class Microsoft:
    """Microsoft's archive at `data.url`, pinned by size and sha256."""

    url: str
    size: int
    sha256: str

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """Nothing to confirm before the download itself (which resumes and verifies)."""


@dataclass(frozen=True)
class Kaggle:
    """The Kaggle competition's files, through the kaggle package."""

    competition: str

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """The kaggle package must find credentials."""
        check_kaggle_credentials()


@dataclass(frozen=True)
class Synthetic:
    """The offline synthetic set, drawn in one archive layout."""

    count: int
    seed: int
    layout: str

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """Always at hand."""


@dataclass(frozen=True)
class LocalArchive:
    """A zip on this machine, in either layout."""

    path: str

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """Outside the pipeline's outputs, present, and holding photos of both classes."""
        check_not_an_output(self.path, root, variations)
        check_local_archive(self.path)


Source = Microsoft | Kaggle | Synthetic | LocalArchive


def source_of(data: DataParams) -> Source:
    """The archive `data.source` names, with what its kind needs from the data block."""
    if data.source == "microsoft":
        return Microsoft(data.url, data.size, data.sha256)
    if data.source == "kaggle":
        return Kaggle(data.kaggle_competition)
    if data.source == "synthetic":
        synthetic = data.synthetic
        return Synthetic(synthetic.count, synthetic.seed, synthetic.layout)
    return LocalArchive(data.source)
