"""Camera images for a frame, from numpy arrays.

A driver's ``cameras`` function (see :class:`~umwelt_driver.driver.Driver`)
returns the images taken with each reading; :func:`image` turns an array
into the protocol's :class:`~umwelt_driver.messages.Image`, checking it as
a receiver would, so that a bad image is refused at the driver with a clear
message instead of being dropped by every controller.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .messages import MAX_IMAGE_BYTES, MAX_IMAGES, MAX_NAME_LEN, Image, ImageEncoding


class ImageError(ValueError):
    """An array or image that cannot be sent as a camera image."""


def image(name: str, pixels: np.ndarray) -> Image:
    """``pixels`` as the image ``name``, rows from the top left:

    - ``uint8`` of shape ``(height, width, 3)``: RGB8;
    - ``uint8`` of shape ``(height, width)``: MONO8 (grey);
    - ``float32`` of shape ``(height, width)``: DEPTH_F32, metres (non-finite
      where the sensor saw nothing).

    Raises :class:`ImageError` for any other dtype or shape, an empty or
    oversized image, or a name that is not 1 to 255 bytes of UTF-8."""
    _check_name(name)
    a = np.asarray(pixels)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3:
        encoding = ImageEncoding.RGB8
    elif a.dtype == np.uint8 and a.ndim == 2:
        encoding = ImageEncoding.MONO8
    elif a.dtype == np.float32 and a.ndim == 2:
        encoding = ImageEncoding.DEPTH_F32
    else:
        raise ImageError(
            f"image {name!r}: {a.dtype} of shape {a.shape}; expected uint8 (H, W, 3) RGB, "
            "uint8 (H, W) grey or float32 (H, W) depth"
        )
    height, width = a.shape[0], a.shape[1]
    if not (1 <= width <= 0xFFFF and 1 <= height <= 0xFFFF):
        raise ImageError(f"image {name!r}: {width}x{height}; each side must be 1 to 65535")
    data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"image {name!r}: {len(data)} bytes, at most {MAX_IMAGE_BYTES}")
    return Image(name, width, height, encoding, data)


def check_images(images: Sequence[Image]) -> list:
    """``images`` as a list, checked: at most ``MAX_IMAGES``, each an
    :class:`Image` with a unique name and exactly ``width * height *
    bytes_per_pixel`` bytes. Raises :class:`ImageError` otherwise."""
    out = list(images)
    if len(out) > MAX_IMAGES:
        raise ImageError(f"{len(out)} images; a frame carries at most {MAX_IMAGES}")
    seen = set()
    for im in out:
        if not isinstance(im, Image):
            raise ImageError(f"{im!r} is not an Image (make one with umwelt_driver.image)")
        _check_name(im.name)
        if im.name in seen:
            raise ImageError(f"two images named {im.name!r}")
        seen.add(im.name)
        need = im.width * im.height * ImageEncoding(im.encoding).bytes_per_pixel
        if im.width < 1 or im.height < 1 or len(im.data) != need:
            raise ImageError(
                f"image {im.name!r}: {len(im.data)} bytes for {im.width}x{im.height} "
                f"{ImageEncoding(im.encoding).name}, which needs {need}"
            )
    return out


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name.encode()) <= MAX_NAME_LEN:
        raise ImageError(f"image name {name!r}: 1 to {MAX_NAME_LEN} bytes of UTF-8")
