"""Load `params.yaml` once, validate all of it, and hand out typed, frozen objects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stages.core.errors import ConfigError

KNOWN_SOURCES = ("microsoft", "kaggle", "synthetic")

# dvc.yaml puts each variation's name into shell command lines (`${key}`) and file paths:
# only these characters are safe there, whatever the quoting.
VARIATION_NAME = re.compile(r"^[A-Za-z0-9_]+$")

PositiveInt = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    """Base for every params block: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SyntheticParams(_Strict):
    count: Annotated[int, Field(ge=20)]
    seed: int
    layout: Literal["microsoft", "kaggle"]


class DataParams(_Strict):
    source: Annotated[str, Field(min_length=1)]
    url: Annotated[str, Field(pattern=r"^(https?|file)://")]
    size: PositiveInt
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    kaggle_competition: Annotated[str, Field(min_length=1)]
    synthetic: SyntheticParams

    @field_validator("source")
    @classmethod
    def _source_is_known_or_zip(cls, source: str) -> str:
        if source not in KNOWN_SOURCES and not source.endswith(".zip"):
            raise ValueError(
                f"must be one of {', '.join(KNOWN_SOURCES)} or a path to a .zip (got {source!r})"
            )
        return source


class SplitParams(_Strict):
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)]
    seed: int
    # "test": the per-epoch curves use the test photos (the study's protocol); a fraction:
    # that share of the training photos, stratified and seeded, is held out for them.
    validation: Literal["test"] | Annotated[float, Field(gt=0.0, lt=1.0)]


class ImageParams(_Strict):
    height: Annotated[int, Field(ge=16, le=1024)]
    width: Annotated[int, Field(ge=16, le=1024)]


class AugmentParams(_Strict):
    enabled: bool
    rotation: Annotated[float, Field(ge=0.0, le=180.0)]
    shear: Annotated[float, Field(ge=0.0, lt=90.0)]
    zoom: Annotated[float, Field(ge=0.0, lt=1.0)]
    width_shift: Annotated[float, Field(ge=0.0, lt=1.0)]
    height_shift: Annotated[float, Field(ge=0.0, lt=1.0)]
    horizontal_flip: bool


Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]
Distribution = Literal["none", "data_parallel"]
Backend = Literal["auto", "tensorflow", "jax"]


class TrainParams(_Strict):
    # One training run per seed and variation; each seed drives initialisation, shuffling
    # and augmentation (the split keeps split.seed, so every run sees the same photos).
    seeds: Annotated[list[int], Field(min_length=1)]
    # Keras dtype policy: mixed_* computes in 16 bits and keeps float32 weights.
    precision: Precision
    # Batches per compiled call: fewer round trips between Python and the backend.
    steps_per_execution: Annotated[int, Field(ge=1, le=1024)]
    # none: one device; data_parallel: every batch split across all devices (see distribution.py)
    distribution: Distribution
    # Keras backend of the train stage: auto (JAX where JAX sees a GPU, else TensorFlow),
    # tensorflow or jax (see stages/core/backend.py)
    backend: Backend


class VariationParams(_Strict):
    builds_on: str | None
    conv_filters: Annotated[list[PositiveInt], Field(min_length=1)]
    kernel_size: PositiveInt
    pool_size: PositiveInt
    dense_units: list[PositiveInt]
    optimizer: Literal["rmsprop", "adam", "sgd"]
    learning_rate: Annotated[float, Field(gt=0.0, le=10.0)]
    batch_size: PositiveInt
    epochs: PositiveInt


class CompareParams(_Strict):
    """Which test metric names the best variation (lowest loss, or highest of the others)."""

    best_by: Literal["accuracy", "loss", "roc_auc", "precision", "recall"]


class Params(_Strict):
    data: DataParams
    split: SplitParams
    image: ImageParams
    augment: AugmentParams
    train: TrainParams
    variations: Annotated[dict[str, VariationParams], Field(min_length=1)]
    compare: CompareParams

    @field_validator("train")
    @classmethod
    def _seeds_are_distinct(cls, train: TrainParams) -> TrainParams:
        repeated = sorted({seed for seed in train.seeds if train.seeds.count(seed) > 1})
        if repeated:
            raise ValueError(f"seeds: each seed once (repeated: {repeated})")
        return train

    @field_validator("variations")
    @classmethod
    def _names_are_safe(cls, variations: dict[str, VariationParams]) -> dict:
        unsafe = [name for name in variations if not VARIATION_NAME.match(name)]
        if unsafe:
            raise ValueError(
                f"names must match [A-Za-z0-9_]+ (dvc.yaml puts them in shell commands "
                f"and paths): {', '.join(repr(name) for name in unsafe)}"
            )
        return variations

    @model_validator(mode="after")
    def _variations_are_consistent(self) -> Params:
        problems = []
        for name, variation in self.variations.items():
            try:
                _check_builds_on(self.variations, name)
            except ValueError as problem:
                problems.append(str(problem))
            try:
                _check_feature_map(name, variation, self.image)
            except ValueError as problem:
                problems.append(str(problem))
        if problems:
            # One line per problem; a cycle is reported once, however many members it has.
            raise ValueError("\n".join(dict.fromkeys(problems)))
        return self

    def seed(self, seed: int) -> int:
        """`seed`, once it is known to be one of train.seeds (a ConfigError otherwise)."""
        if seed not in self.train.seeds:
            raise ConfigError(f"seed {seed} is not in train.seeds {self.train.seeds}")
        return seed

    def variation(self, name: str) -> VariationParams:
        """The named variation, or a ConfigError listing the known ones."""
        if name not in self.variations:
            known = ", ".join(self.variations)
            raise ConfigError(f"unknown variation {name!r} (params.yaml has: {known})")
        return self.variations[name]


def _check_builds_on(variations: dict[str, VariationParams], name: str) -> None:
    seen = [name]
    parent = variations[name].builds_on
    while parent is not None:
        if parent not in variations:
            raise ValueError(f"variations.{seen[-1]}.builds_on: no variation named {parent!r}")
        if parent in seen:
            # The same line from whichever member the walk starts at: from the first by name.
            cycle = seen[seen.index(parent) :]
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            raise ValueError(
                f"variations.{cycle[0]}.builds_on: cycle {' -> '.join([*cycle, cycle[0]])}"
            )
        seen.append(parent)
        parent = variations[parent].builds_on


def _check_feature_map(name: str, variation: VariationParams, image: ImageParams) -> None:
    """Refuse a conv stack that would shrink the feature map to nothing."""
    side = min(image.height, image.width)
    for block, _ in enumerate(variation.conv_filters, start=1):
        side = (side - variation.kernel_size + 1) // variation.pool_size
        if side < 1:
            raise ValueError(
                f"variations.{name}.conv_filters: block {block} shrinks a "
                f"{image.height}x{image.width} image to nothing "
                f"(kernel_size {variation.kernel_size}, pool_size {variation.pool_size})"
            )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate the params file; each problem is one line of the ConfigError."""
    path = Path(path)
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except YAMLError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML: {first_line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of blocks at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        lines = describe_validation_error(error).splitlines()
        raise ConfigError("\n".join(f"{path}: {line}" for line in lines)) from None


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem pydantic found: the dotted key, then what is wrong."""
    return "\n".join(_describe(problem) for problem in error.errors(include_url=False))


def _describe(problem: ErrorDetails) -> str:
    key = ".".join(str(part) for part in problem["loc"])
    message = problem["msg"]
    if problem["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if problem["type"] == "missing":
        return f"{key}: missing key"
    if problem["type"] == "value_error":
        # Our own validators already name the key in the message (one line per problem).
        lines = message.removeprefix("Value error, ").splitlines()
        return "\n".join(line if not key else f"{key}: {line}" for line in lines)
    return f"{key}: {message} (got {problem.get('input')!r})"
