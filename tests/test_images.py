"""Decoding one image (:mod:`celeba_lab.images`): Pillow's pixels for every kind of file, the
centre crop, and the errors that name a missing or damaged image."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from celeba_lab import cache as C, config, data as D, images as I
from hand_celeba import write_hand_celeba


def test_center_crop_cuts_top_and_bottom(tmp_path, tmp_cache):
    root = write_hand_celeba(tmp_path / "c", n=3)
    stripes = np.full((218, 178, 3), 128, np.uint8)
    stripes[:16] = (255, 0, 0)      # rows 0-15: whole JPEG blocks, so no colour bleeds
    stripes[-16:] = (0, 0, 255)
    Image.fromarray(stripes).save(root / "img_align_celeba" / "000001.jpg", quality=100,
                                  subsampling=0)
    data = D.load_celeba(root)
    squash = C.decoded_images(data, ["000001.jpg"], size=64, crop="squash")[0].astype(int)
    center = C.decoded_images(data, ["000001.jpg"], size=64, crop="center")[0].astype(int)
    assert squash[0, 32, 0] > 200 and squash[-1, 32, 2] > 200      # stripes kept
    assert np.abs(center - 128).max() < 12                          # stripes cut away
    with pytest.raises(ValueError, match="squash"):
        C.decoded_images(data, ["000001.jpg"], size=64, crop="zoom")


def test_corrupt_jpeg_is_named(hand_root, tmp_cache):
    bad = hand_root / "img_align_celeba" / "000005.jpg"
    bad.write_bytes(bad.read_bytes()[:200])   # truncated download
    data = D.load_celeba(hand_root)           # listing is fine; decoding is not
    with pytest.raises(D.CorruptImageError, match="000005.jpg"):
        C.decoded_images(data, data.attributes.index[:8], size=32)
    assert list((config.cache_dir() / "images").iterdir()) == []
    (hand_root / "img_align_celeba" / "000006.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(D.CorruptImageError, match="000006.jpg"):
        I.decode_image(hand_root / "img_align_celeba" / "000006.jpg")


def _textured(seed: int, size=(218, 178)) -> Image.Image:
    """A smooth random picture: every resampling or decoding difference shows in its pixels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size[::-1], Image.Resampling.BICUBIC)


def _pillow_reference(path, height: int, width: int, crop: str) -> np.ndarray:
    """What Pillow alone gives: open, draft (JPEG), convert to RGB, bilinear resize."""
    with Image.open(path) as image:
        full_w, full_h = image.size
        box_w, box_h = I._crop_box_size(full_w, full_h, width, height, crop)
        if image.format == "JPEG":
            image.draft("RGB", (-(-width * full_w // box_w), -(-height * full_h // box_h)))
        image = image.convert("RGB")
        box = I._crop_box(*image.size, width, height, crop)
        if box != (0, 0, *image.size) or image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
        return np.asarray(image)


@pytest.mark.parametrize("kind", ["celeba", "444", "progressive", "grey", "cmyk", "png", "odd",
                                  "celeba without simplejpeg"])
def test_decode_image_gives_pillows_pixels(tmp_path, kind, monkeypatch):
    if kind.endswith("without simplejpeg"):
        monkeypatch.setitem(sys.modules, "simplejpeg", None)   # `import simplejpeg` fails
        kind = kind.split()[0]
    picture = _textured(ord(kind[0]))
    saved = {"celeba": (picture, {"quality": 95}), "444": (picture, {"subsampling": 0}),
             "progressive": (picture, {"progressive": True}),
             "grey": (picture.convert("L"), {}), "cmyk": (picture.convert("CMYK"), {}),
             "png": (picture, {}), "odd": (_textured(5, (201, 163)), {})}
    image, options = saved[kind]
    path = tmp_path / ("face.png" if kind == "png" else "face.jpg")
    image.save(path, **options)
    for size in [(218, 178), (64, 64), (32, 32), (20, 24), (109, 89), (300, 240)]:
        for crop in ("squash", "center"):
            expected = _pillow_reference(path, *size, crop)
            np.testing.assert_array_equal(I.decode_image(path, size, crop), expected,
                                          err_msg=f"{kind} {size} {crop}")


def test_image_deleted_after_loading(hand_data):
    (hand_data.image_dir / "000003.jpg").unlink()
    with pytest.raises(D.MissingImagesError, match="000003.jpg"):
        C.decoded_images(hand_data, hand_data.attributes.index[:5], size=32)
