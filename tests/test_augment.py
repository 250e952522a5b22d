"""The augmentation layer: the study's transforms, in training only, one resampling."""

from __future__ import annotations

import numpy as np
import pytest

from stages.training.augment import RandomAffine

BATCH, SIDE = 8, 32


@pytest.fixture
def photos() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (BATCH, SIDE, SIDE, 3)).astype("float32")


def study_layer(seed: int = 1) -> RandomAffine:
    return RandomAffine(
        rotation=15, shear=0.1, zoom=0.2, width_shift=0.1, height_shift=0.1,
        horizontal_flip=True, seed=seed,
    )  # fmt: skip


def test_inactive_outside_training(photos) -> None:
    np.testing.assert_array_equal(np.asarray(study_layer()(photos, training=False)), photos)


def test_zero_ranges_leave_photos_unchanged(photos) -> None:
    still = RandomAffine(seed=1)(photos, training=True)
    np.testing.assert_allclose(np.asarray(still), photos, atol=1e-3)


def test_flip_alone_mirrors_some_photos_and_keeps_the_rest(photos) -> None:
    flipped = np.asarray(RandomAffine(horizontal_flip=True, seed=3)(photos, training=True))
    mirrored = np.all(np.isclose(flipped, photos[:, :, ::-1], atol=1e-3), axis=(1, 2, 3))
    kept = np.all(np.isclose(flipped, photos, atol=1e-3), axis=(1, 2, 3))
    assert np.all(mirrored | kept)
    assert mirrored.any() and kept.any()


def test_study_transforms_move_pixels_within_the_input_range(photos) -> None:
    layer = study_layer()
    first = np.asarray(layer(photos, training=True))
    second = np.asarray(layer(photos, training=True))
    assert first.shape == photos.shape and first.dtype == np.float32
    assert first.min() >= photos.min() - 1e-3 and first.max() <= photos.max() + 1e-3
    assert not np.allclose(first, photos) and not np.allclose(first, second)


def test_a_pure_shift_is_a_translation_within_its_range() -> None:
    """Shifts are fractions of the side, as ImageDataGenerator's `width_shift_range`."""
    layer = RandomAffine(width_shift=0.25, seed=0)
    transforms = np.asarray(layer.transforms(1, SIDE, SIDE))[0]
    np.testing.assert_allclose(transforms[[0, 1, 3, 4]], [1, 0, 0, 1], atol=1e-6)
    assert abs(transforms[5]) < 1e-6 and abs(transforms[2]) <= 0.25 * SIDE


def test_config_round_trips() -> None:
    layer = study_layer(seed=7)
    again = RandomAffine.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
