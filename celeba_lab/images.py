"""Decoding one CelebA image: JPEG decoding, the decoder's downscaling, resizing and cropping.

The engine's first step: :mod:`celeba_lab.cache` and the workers of :mod:`celeba_lab._decoding`
decode lists of images with :func:`decode_image`. Nothing here imports Keras or pandas.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ._errors import CorruptImageError, MissingImagesError
from .attributes import IMAGE_SHAPE

__all__ = [
    "decode_image",
]

_CROPS = ("squash", "center")


def _size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (height, width), got {size}.")
    return height, width


def _check_crop(crop: str) -> str:
    if crop not in _CROPS:
        raise ValueError(f"Unknown crop {crop!r}; choose 'squash' (resize the whole "
                         f"178x218 image, as the report did) or 'center' (central crop).")
    return crop


def decode_image(path: str | os.PathLike, size: int | Sequence[int] = IMAGE_SHAPE[:2],
                 crop: str = "squash") -> np.ndarray:
    """Decode one image to a uint8 array of shape ``(height, width, 3)``.

    JPEGs are decoded by libjpeg-turbo (``simplejpeg``, without the GIL), downscaled in the
    decoder by a power of two when the target is at most half the size (as ``PIL.Image.draft``
    does), then resized bilinearly by Pillow; other formats are read by Pillow. Either way the
    pixels are those Pillow's ``open``, ``draft``, ``convert("RGB")`` and bilinear ``resize`` give.

    Args:
        path: The image file.
        size: ``(height, width)`` of the result, or one int for a square.
        crop: ``"squash"`` resizes the whole image (the report squashed 178x218 to 64x64);
            ``"center"`` first cuts the largest central box with the aspect of ``size``.

    Returns:
        The pixels, uint8 ``(height, width, 3)``, RGB.

    Raises:
        MissingImagesError, CorruptImageError: the file does not exist, or cannot be decoded.

    Example:
        >>> decode_image(data.path("000001.jpg"), 64, crop="center").shape
        (64, 64, 3)
    """
    height, width = _size_hw(size)
    try:
        with open(path, "rb") as file:
            encoded = file.read()
    except FileNotFoundError:
        raise MissingImagesError(
            f"Image {path} does not exist (it was listed in the annotations). The image folder "
            f"changed after loading, or the download is incomplete."
        ) from None
    except OSError as error:
        raise CorruptImageError(
            f"Cannot read image {path}: {error}. Check that it is a readable file.") from None
    try:
        if encoded[:2] == b"\xff\xd8":
            return _decode_jpeg(encoded, height, width, crop)
        return _decode_with_pillow(encoded, height, width, crop)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptImageError(
            f"Cannot decode image {path}: {error}. The file is damaged; replace it from a fresh "
            f"download of CelebA (or delete the data folder and download again)."
        ) from None


def _draft_request(full_w: int, full_h: int, width: int, height: int,
                   crop: str) -> tuple[int, int]:
    """The size to ask ``PIL.Image.draft`` for: at least the target size after cropping."""
    box_w, box_h = _crop_box_size(full_w, full_h, width, height, crop)
    return math.ceil(width * full_w / box_w), math.ceil(height * full_h / box_h)


def _draft_scale(full_w: int, full_h: int, width: int, height: int, crop: str) -> int:
    """The reduction ``PIL.Image.draft`` makes for that request: 1, 2, 4 or 8."""
    want_w, want_h = _draft_request(full_w, full_h, width, height, crop)
    most = min(full_w // want_w, full_h // want_h)
    return next((scale for scale in (8, 4, 2) if most >= scale), 1)


_DECODER_COLOURS = ("YCbCr", "Gray")    # JPEG colour spaces libjpeg-turbo turns into RGB


def _decoder_alone(full: tuple[int, int], colorspace: str, size: tuple[int, int],
                   crop: str) -> bool:
    """Whether libjpeg-turbo alone gives the pixels: no Pillow resize or conversion after it."""
    return colorspace in _DECODER_COLOURS and crop == "squash" and full == size


def _decode_jpeg(encoded: bytes, height: int, width: int, crop: str) -> np.ndarray:
    try:
        # Imported here, not at the top: decoding goes on without it (and a test hides it).
        import simplejpeg
    except ImportError:   # an environment without it: Pillow gives the same pixels, slower
        return _decode_with_pillow(encoded, height, width, crop)
    full_h, full_w, colorspace, _ = simplejpeg.decode_jpeg_header(encoded)
    if colorspace not in _DECODER_COLOURS:      # CMYK, YCCK: Pillow converts those to RGB
        return _decode_with_pillow(encoded, height, width, crop)
    if _decoder_alone((full_h, full_w), colorspace, (height, width), crop):
        return simplejpeg.decode_jpeg(encoded, colorspace="RGB")   # no resizing: done
    scale = _draft_scale(full_w, full_h, width, height, crop)
    cur_w, cur_h = -(-full_w // scale), -(-full_h // scale)
    pixels = simplejpeg.decode_jpeg(encoded, colorspace="RGB", min_height=cur_h,
                                    min_width=cur_w)
    if pixels.shape[:2] != (cur_h, cur_w):       # a reduction Pillow would not have made
        return _decode_with_pillow(encoded, height, width, crop)
    return _resize(Image.fromarray(pixels), height, width, crop)


def _decode_with_pillow(encoded: bytes, height: int, width: int, crop: str) -> np.ndarray:
    with Image.open(io.BytesIO(encoded)) as image:
        full_w, full_h = image.size
        if image.format == "JPEG":
            image.draft("RGB", _draft_request(full_w, full_h, width, height, crop))
        if image.mode != "RGB":
            image = image.convert("RGB")
        return _resize(image, height, width, crop)


def _resize(image, height: int, width: int, crop: str) -> np.ndarray:
    cur_w, cur_h = image.size
    box = _crop_box(cur_w, cur_h, width, height, crop)
    if box != (0, 0, cur_w, cur_h) or (cur_w, cur_h) != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(image, dtype=np.uint8)


def _crop_box_size(w: int, h: int, tw: int, th: int, crop: str) -> tuple[float, float]:
    if crop == "squash":
        return w, h
    if w * th > h * tw:                     # too wide for the target aspect: cut the sides
        return h * tw / th, h
    return w, w * th / tw


def _crop_box(w: int, h: int, tw: int, th: int, crop: str) -> tuple[float, float, float, float]:
    box_w, box_h = _crop_box_size(w, h, tw, th, crop)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    return (left, top, left + box_w, top + box_h)


def _needs_pillow(path: Path, size: tuple[int, int], crop: str) -> bool:
    """Whether decoding images like ``path`` to ``size`` takes Pillow's work (with the GIL)."""
    try:
        with open(path, "rb") as file:
            head = file.read(1 << 16)
        import simplejpeg

        full_h, full_w, colorspace, _ = simplejpeg.decode_jpeg_header(head)
    except (OSError, ValueError, ImportError):
        return True        # not a JPEG simplejpeg reads: Pillow does all the work
    return not _decoder_alone((full_h, full_w), colorspace, size, crop)
