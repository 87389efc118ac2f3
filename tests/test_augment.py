"""Tests of pruning_theory.data.augment: every output is a flipped or not, shifted crop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.data import augment


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
def test_random_crop_flip_flips_and_shifts_within_the_padding(use_jit):
    images = jnp.arange(2 * 32 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 32, 3) + 1
    fn = jax.jit(augment.random_crop_flip) if use_jit else augment.random_crop_flip
    out = fn(jax.random.key(0), images)
    assert out.shape == images.shape and out.dtype == images.dtype
    for original, shifted in zip(np.asarray(images), np.asarray(out), strict=True):
        found = False
        for flipped in (original, original[:, ::-1]):
            padded = np.pad(flipped, ((4, 4), (4, 4), (0, 0)))
            for dy in range(9):
                for dx in range(9):
                    found |= np.array_equal(padded[dy : dy + 32, dx : dx + 32], shifted)
        assert found


def test_random_crop_flip_without_padding_only_flips_some_images():
    images = jnp.arange(64 * 8 * 8, dtype=jnp.float32).reshape(64, 8, 8, 1) + 1
    out = np.asarray(augment.random_crop_flip(jax.random.key(1), images, padding=0))
    flipped = np.all(out == np.asarray(images)[:, :, ::-1], axis=(1, 2, 3))
    unchanged = np.all(out == np.asarray(images), axis=(1, 2, 3))
    np.testing.assert_array_equal(flipped, ~unchanged)
    assert 0 < flipped.sum() < len(images)
    again = augment.random_crop_flip(jax.random.key(1), images, padding=0)
    np.testing.assert_array_equal(out, np.asarray(again))
