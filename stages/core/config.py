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

from stages.core.errors import ConfigError, clipped, shown

# data.source: a manifest (sources/*.yaml) or a local archive.
SOURCE_SUFFIXES = (".yaml", ".yml", ".zip")

# dvc.yaml puts each variation's name into shell command lines (`${key}`) and file paths:
# only these characters are safe there, whatever the quoting.
VARIATION_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# ... and into file names, beside a seed and a suffix: well under the 255 bytes of one.
MAX_VARIATION_NAME = 64

PositiveInt = Annotated[int, Field(gt=0)]
# Every seed reaches NumPy and scikit-learn, which take 0 to 2**32 - 1 and nothing else.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
# Far past any layer, batch or run of the study: a typo, such as 2**40 units, that would
# fail inside Keras (or run for ever) after DVC deleted the model.
MAX_WIDTH = 2**16
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
MAX_BATCH = 2**16
MAX_EPOCHS = 100_000
# The validation photos are carved out of the training photos: at most half of them.
MAX_VALIDATION = 0.5
# A path that the file system would refuse (NAME_MAX and PATH_MAX bytes on Linux).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
# The smallest photo side each backbone takes (keras.applications refuses smaller).
BACKBONE_MIN_SIDE = {"MobileNetV3Small": 32}


class Strict(BaseModel):
    """Base for every params block: unknown keys, loose types, inf and nan are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def check_path(path: str) -> str:
    """`path`, once the file system could take it as a file name (a ValueError otherwise)."""
    if "\x00" in path:
        raise ValueError(f"a path cannot hold a NUL character (got {shown(path)})")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise ValueError(f"a path of at most {MAX_PATH_BYTES} bytes (got {shown(path)})")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in Path(path).parts):
        raise ValueError(f"a file name of at most {MAX_NAME_BYTES} bytes (got {shown(path)})")
    return path


class DataParams(Strict):
    source: Annotated[str, Field(min_length=1)]

    @field_validator("source")
    @classmethod
    def _source_is_a_manifest_or_zip(cls, source: str) -> str:
        if not source.endswith(SOURCE_SUFFIXES):
            raise ValueError(
                "must name a source manifest (sources/microsoft.yaml, sources/kaggle.yaml, "
                f"sources/synthetic.yaml) or a .zip (got {shown(source)})"
            )
        return check_path(source)


class SplitParams(Strict):
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)]
    seed: Seed
    # "test": the per-epoch curves use the test photos (the study's protocol); a fraction:
    # that share of the training photos, stratified and seeded, is held out for them.
    validation: Literal["test"] | Annotated[float, Field(gt=0.0, le=MAX_VALIDATION)]


class ImageParams(Strict):
    height: Annotated[int, Field(ge=16, le=1024)]
    width: Annotated[int, Field(ge=16, le=1024)]


class AugmentParams(Strict):
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


class TrainParams(Strict):
    # One training run per seed and variation; each seed drives initialisation, shuffling
    # and augmentation (the split keeps split.seed, so every run sees the same photos).
    seeds: Annotated[list[Seed], Field(min_length=1)]
    # Keras dtype policy: mixed_* computes in 16 bits and keeps float32 weights.
    precision: Precision
    # Batches per compiled call: fewer round trips between Python and the backend.
    steps_per_execution: Annotated[int, Field(ge=1, le=1024)]
    # none: one device; data_parallel: every batch split across all devices (see distribution.py)
    distribution: Distribution
    # Keras backend of the train stage: auto (JAX where JAX sees a GPU, else TensorFlow),
    # tensorflow or jax (see stages/core/backend.py)
    backend: Backend
    # Back up the training state for a resume at the end of the first epoch that ends this
    # many seconds after the previous backup; 0: after every epoch (stages/training/backup.py)
    backup_seconds: Annotated[float, Field(ge=0.0)]


Monitored = Literal["val_loss", "val_accuracy"]
LearningRate = Annotated[float, Field(gt=0.0, le=10.0)]


class EarlyStoppingParams(Strict):
    """Stop once `monitor` (on the validation split) has not improved by `min_delta` for
    `patience` epochs; `epochs` is then the maximum."""

    monitor: Monitored
    patience: PositiveInt
    min_delta: Annotated[float, Field(ge=0.0)]
    restore_best_weights: bool


class PlateauParams(Strict):
    """Multiply the learning rate by `factor` once `monitor` has not improved for
    `patience` epochs, down to `min_learning_rate`."""

    monitor: Monitored
    factor: Annotated[float, Field(gt=0.0, lt=1.0)]
    patience: PositiveInt
    min_learning_rate: Annotated[float, Field(ge=0.0)]


class BackboneParams(Strict):
    """A pretrained `keras.applications` backbone under the variation's head: its head is
    trained on the frozen backbone for `frozen_epochs`, then the top `fine_tune_layers`
    layers are trained with it, at `fine_tune_learning_rate`, for the rest of `epochs`."""

    name: Literal["MobileNetV3Small"]
    # imagenet (downloaded by Keras, hash-checked) | empty for random | path/to/file.h5
    weights: str | None
    frozen_epochs: PositiveInt
    fine_tune_layers: Annotated[int, Field(ge=0)]
    fine_tune_learning_rate: LearningRate

    @field_validator("weights")
    @classmethod
    def _weights_are_known_or_a_file(cls, weights: str | None) -> str | None:
        if weights in (None, "imagenet"):
            return weights
        if not weights.endswith(".h5"):
            raise ValueError(
                f"imagenet, empty (none) or a path to a .h5 file (got {shown(weights)})"
            )
        return check_path(weights)


class VariationParams(Strict):
    builds_on: str | None
    # Empty, with kernel_size and pool_size empty, when a backbone replaces the conv blocks.
    conv_filters: list[Width]
    kernel_size: PositiveInt | None
    pool_size: PositiveInt | None
    dense_units: list[Width]
    optimizer: Literal["rmsprop", "adam", "sgd"]
    learning_rate: LearningRate
    batch_size: Annotated[int, Field(gt=0, le=MAX_BATCH)]
    epochs: Annotated[int, Field(gt=0, le=MAX_EPOCHS)]
    early_stopping: EarlyStoppingParams | None
    plateau: PlateauParams | None
    backbone: BackboneParams | None


class CompareParams(Strict):
    """Which test metric names the best variation (lowest loss, or highest of the others)."""

    best_by: Literal["accuracy", "loss", "roc_auc", "precision", "recall"]


class Params(Strict):
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
                f"and paths): {', '.join(shown(name) for name in unsafe)}"
            )
        long = [name for name in variations if len(name) > MAX_VARIATION_NAME]
        if long:
            raise ValueError(
                f"names of at most {MAX_VARIATION_NAME} characters (dvc.yaml makes file names "
                f"of them): {', '.join(shown(name) for name in long)}"
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
            for check in (_check_layers, _check_feature_map, _check_backbone_input):
                try:
                    check(name, variation, self.image)
                except ValueError as problem:
                    problems.append(str(problem))
            problems.extend(_validation_problems(name, variation, self.split))
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
            raise ValueError(f"variations.{seen[-1]}.builds_on: no variation named {shown(parent)}")
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


def _check_layers(name: str, variation: VariationParams, image: ImageParams) -> None:
    """Conv blocks or a backbone, not both; a backbone's frozen phase within `epochs`."""
    key = f"variations.{name}"
    conv = (variation.conv_filters, variation.kernel_size, variation.pool_size)
    if variation.backbone is None and not all(conv):
        raise ValueError(
            f"{key}.conv_filters: at least one conv block, with kernel_size and pool_size "
            "(empty only under a backbone)"
        )
    if variation.backbone is not None and any(conv):
        raise ValueError(
            f"{key}.backbone: replaces the conv blocks: leave conv_filters, kernel_size "
            "and pool_size empty"
        )
    if variation.backbone is not None and variation.backbone.frozen_epochs > variation.epochs:
        raise ValueError(
            f"{key}.backbone.frozen_epochs: {variation.backbone.frozen_epochs} is more "
            f"than the variation's epochs ({variation.epochs})"
        )


def _validation_problems(name: str, variation: VariationParams, split: SplitParams) -> list[str]:
    """Early stopping and the plateau schedule watch the validation split: refused, in one
    line, when that split is the test photos."""
    watchers = {"early_stopping": "early stopping", "plateau": "the plateau schedule"}
    watching = [key for key in watchers if getattr(variation, key) is not None]
    if split.validation != "test" or not watching:
        return []
    what = " and ".join(watchers[key] for key in watching)
    return [
        f"variations.{name}.{watching[0]}: {what} {'need' if len(watching) > 1 else 'needs'} "
        "split.validation as a fraction, e.g. 0.1 (got test): stopping on the test photos "
        "is refused"
    ]


def _check_feature_map(name: str, variation: VariationParams, image: ImageParams) -> None:
    """Refuse a conv stack that would shrink the feature map to nothing."""
    side = min(image.height, image.width)
    for block, _ in enumerate(variation.conv_filters, start=1):
        if not (variation.kernel_size and variation.pool_size):
            return  # _check_layers reports it
        side = (side - variation.kernel_size + 1) // variation.pool_size
        if side < 1:
            raise ValueError(
                f"variations.{name}.conv_filters: block {block} shrinks a "
                f"{image.height}x{image.width} image to nothing "
                f"(kernel_size {variation.kernel_size}, pool_size {variation.pool_size})"
            )


def _check_backbone_input(name: str, variation: VariationParams, image: ImageParams) -> None:
    """Refuse photos smaller than the backbone takes."""
    if variation.backbone is None:
        return
    smallest = BACKBONE_MIN_SIDE[variation.backbone.name]
    if min(image.height, image.width) < smallest:
        raise ValueError(
            f"variations.{name}.backbone: {variation.backbone.name} takes photos of at least "
            f"{smallest}x{smallest} (image is {image.height}x{image.width})"
        )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate the params file; each problem is one line of the ConfigError."""
    return validate_params(read_params_mapping(path), path)


def read_params_mapping(path: Path | str) -> dict:
    """The params file as YAML reads it, not yet validated (a one-line ConfigError if it
    is missing, not YAML, or not a mapping)."""
    path = Path(path)
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of blocks at the top level")
    return raw


def validate_params(raw: dict, path: Path | str) -> Params:
    """`raw` (the params file `path` read by read_params_mapping), validated."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        lines = describe_validation_error(error, raw).splitlines()
        raise ConfigError("\n".join(f"{path}: {line}" for line in lines)) from None


def _read_yaml(path: Path) -> object:
    """The YAML document in `path`; a file that cannot be read or parsed is one line."""
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a params file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} "
            f"at offset {error.start})"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    except YAMLError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML: {clipped(first_line)}") from None


# Pydantic's words for a block of the wrong type name its classes: the user's words instead.
PLAIN_MESSAGES = {
    "model_type": "Input should be a mapping of keys",
    "dict_type": "Input should be a mapping of names",
}


def describe_validation_error(error: ValidationError, raw: object) -> str:
    """One line per key pydantic refused in `raw` (the document it validated): the key
    as the user wrote it, then what is wrong. A union's members (split.validation:
    test or a fraction) are refused together, in one line."""
    problems: dict[str, list[ErrorDetails]] = {}
    for problem in error.errors(include_url=False):
        problems.setdefault(user_key(problem, raw), []).append(problem)
    return "\n".join(_describe(key, group) for key, group in problems.items())


def user_key(problem: ErrorDetails, raw: object) -> str:
    """The dotted key of `problem` as the user wrote it in `raw`: pydantic's location
    without the names it gives a union's members (`literal['test']`,
    `constrained-float`) or a mapping's keys (`[key]`), list positions as `[i]`."""
    key, node = "", raw
    for position, part in enumerate(problem["loc"]):
        last = position == len(problem["loc"]) - 1
        if isinstance(node, dict) and (part in node or (last and problem["type"] == "missing")):
            key = f"{key}.{clipped(str(part))}" if key else clipped(str(part))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            key, node = f"{key}[{part}]", node[part]
    return key


def _describe(key: str, group: list[ErrorDetails]) -> str:
    """One line (or one per problem of our own validators) for the problems at `key`."""
    problem = group[0]
    if problem["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if problem["type"] == "missing":
        return f"{key}: missing key"
    if problem["type"] == "value_error":
        # Our own validators already name the key in the message (one line per problem).
        lines = problem["msg"].removeprefix("Value error, ").splitlines()
        return "\n".join(line if not key else f"{key}: {line}" for line in lines)
    first, *others = (_plain(member) for member in group)
    message = " or ".join([first, *(other.removeprefix("Input should be ") for other in others)])
    return f"{key}: {message} (got {shown(problem.get('input'))})"


def _plain(problem: ErrorDetails) -> str:
    """Pydantic's message for `problem`, in the user's words."""
    message = PLAIN_MESSAGES.get(problem["type"], problem["msg"])
    return message.replace(" after validation", "")
