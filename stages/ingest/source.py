"""`data.source`, interpreted in one place. It names a file: a manifest (sources/*.yaml:
Microsoft's pinned archive, the Kaggle competition, the synthetic set; `kind` says which)
or a local zip. Either becomes a typed value with its own `check()`: what `validate` must
confirm before DVC deletes anything. `download` fetches by the type, never by reading the
string again; dvc.yaml makes the file itself download's dependency."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, TypeAdapter, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stages.core.config import (
    DataParams,
    PositiveInt,
    Seed,
    Strict,
    describe_validation_error,
)
from stages.core.errors import CatdogError, ConfigError, shown
from stages.ingest.archive import find_photos

# Forty times the real set's 25,000 photos: more is a typo that would fill the disk.
MAX_SYNTHETIC = 1_000_000

# Where the pipeline writes, if dvc.yaml cannot be read (catdog run outside the project).
OUTPUT_FOLDERS = ("data/raw", "data/cache", "data/split", "data/validated", "models", "metrics")
# Folders that hold outputs beside the user's own files: only the outputs in them are refused.
SHARED_FOLDERS = (".", "data")


def pipeline_outputs(dvc_yaml: Path, variations: Iterable[str]) -> list[str]:
    """Every path a stage of `dvc_yaml` writes (outs, metrics, plots), with its `vars` and
    `${key}` and `${item.variation}` expanded for each variation; a path templated otherwise
    (a seed) stops at its first `${`, so its folder stands for it."""
    pipeline = YAML(typ="safe", pure=True).load(dvc_yaml.read_text(encoding="utf-8"))
    paths = {
        f"${{path.{key}}}": value
        for entry in pipeline.get("vars", [])
        for key, value in entry.get("path", {}).items()
    }
    names = list(variations)
    found: list[str] = []
    for stage in pipeline["stages"].values():
        body = stage.get("do", stage)
        keys = names if "foreach" in stage or "matrix" in stage else [""]
        for entry in [*body.get("outs", []), *body.get("metrics", []), *body.get("plots", [])]:
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            path = paths.get(path, path)
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


class Microsoft(Strict):
    """Microsoft's archive at `url`, pinned by size and sha256."""

    kind: Literal["microsoft"]
    url: Annotated[str, Field(pattern=r"^(https?|file)://")]
    size: PositiveInt
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @field_validator("url")
    @classmethod
    def _url_names_a_place(cls, url: str) -> str:
        parts = urlsplit(url)
        if not (parts.netloc if parts.scheme != "file" else parts.path):
            raise ValueError(f"a URL with a host (or file:///path) (got {shown(url)})")
        return url

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """Nothing to confirm before the download itself (which resumes and verifies)."""


class Kaggle(Strict):
    """The Kaggle competition's files, through the kaggle package."""

    kind: Literal["kaggle"]
    competition: Annotated[str, Field(min_length=1)]

    @field_validator("competition")
    @classmethod
    def _competition_is_a_name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
            raise ValueError(
                f"a competition's name as in its URL, e.g. dogs-vs-cats (got {shown(name)})"
            )
        return name

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """The kaggle package must find credentials."""
        check_kaggle_credentials()


class Synthetic(Strict):
    """The offline synthetic set, drawn in one archive layout."""

    kind: Literal["synthetic"]
    count: Annotated[int, Field(ge=20, le=MAX_SYNTHETIC)]
    seed: Seed
    layout: Literal["microsoft", "kaggle"]

    def check(self, root: Path, variations: Iterable[str]) -> None:
        """Always at hand."""


Manifest = Annotated[Microsoft | Kaggle | Synthetic, Field(discriminator="kind")]


def read_manifest(path: Path) -> Microsoft | Kaggle | Synthetic:
    """The source a manifest describes; each problem is one line naming the file and key."""
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        reason = error.__class__.__name__
        raise ConfigError(f"data.source: {path}: cannot read it ({reason})") from None
    except YAMLError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"data.source: {path}: not valid YAML: {first_line}") from None
    try:
        return TypeAdapter(Manifest).validate_python(raw)
    except ValidationError as error:
        lines = describe_validation_error(error, raw).splitlines()
        raise ConfigError("\n".join(f"{path}: {line}" for line in lines)) from None


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
    """The archive `data.source` names: a local zip, or what its manifest describes."""
    if data.source.endswith(".zip"):
        return LocalArchive(data.source)
    path = Path(data.source)
    if not path.is_file():
        raise ConfigError(f"data.source: {data.source}: no such manifest")
    return read_manifest(path)
