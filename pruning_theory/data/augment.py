"""Image augmentation inside a compiled program: random crop with zero padding and flip.

The standard CIFAR-10 augmentation (He et al. 2016, "Deep Residual Learning for Image
Recognition", Sec. 4.2), as torchvision's ``RandomCrop(size, padding=4)`` and
``RandomHorizontalFlip`` that the official code of Bartoldson et al. (2020) uses for its SGD
runs. A pure function of a key, so every minibatch of a vmapped sweep draws its own.
"""

import jax
import jax.numpy as jnp


def random_crop_flip(key: jax.Array, images: jax.Array, padding: int = 4) -> jax.Array:
    """Random horizontal flip, then a random crop of the image's size from the padded image.

    Args:
        key: PRNG key; the flips and the crop offsets of every image are drawn from it.
        images: ``[count, height, width, channels]`` images (e.g. raw pixels, before
            standardization: the padding is zeros).
        padding: zero pixels added on each side before cropping; offsets are uniform in
            ``0..2 * padding`` along each spatial axis.

    Returns:
        Augmented images of the same shape and dtype.
    """
    flip_key, crop_key = jax.random.split(key)
    count, height, width, channels = images.shape
    flip = jax.random.bernoulli(flip_key, 0.5, (count,))
    images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    offsets = jax.random.randint(crop_key, (count, 2), 0, 2 * padding + 1)
    crop = lambda image, at: jax.lax.dynamic_slice(  # noqa: E731
        image, (at[0], at[1], 0), (height, width, channels)
    )
    return jax.vmap(crop)(padded, offsets)
