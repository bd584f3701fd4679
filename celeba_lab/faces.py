"""Drawing the synthetic faces: one cartoon face per attribute vector, in CelebA's 178 x 218.

The attributes are visible (hair length and jaw for ``Male``, frames for ``Eyeglasses``, a
curved open mouth for ``Smiling``...) under random pose, lighting, skin tone, background, noise
and blur, so that a classifier has to learn them rather than read one pixel.
:mod:`celeba_lab.synthetic` samples the attributes and writes the files; this module only draws.
"""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from celeba_lab.attributes import ATTRIBUTES, IMAGE_SHAPE

_HEIGHT, _WIDTH, _ = IMAGE_SHAPE
_JPEG_QUALITY = 90

#: Hair colours are one choice per face (none for bald heads and for red, auburn or dyed hair).
HAIR_CHOICES: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


_SKIN_DARK = np.array([92, 58, 40], float)
_SKIN_MID = np.array([198, 146, 112], float)
_SKIN_LIGHT = np.array([246, 214, 188], float)
_PALE = np.array([252, 236, 228], float)
_HAIR = {
    "Black_Hair": ((14, 12, 12), (45, 38, 36)),
    "Brown_Hair": ((72, 44, 26), (140, 94, 58)),
    "Blond_Hair": ((196, 160, 92), (240, 214, 150)),
    "Gray_Hair": ((148, 148, 146), (214, 212, 208)),
}
# Hair of no listed colour: red, auburn, ginger, strawberry and the odd dyed colour.
_OTHER_HAIR = ((150, 52, 26), (112, 40, 24), (196, 100, 48), (176, 84, 62), (92, 40, 30),
               (120, 60, 110), (60, 90, 140))
_OTHER_HAIR_WEIGHTS = (0.24, 0.22, 0.18, 0.14, 0.14, 0.04, 0.04)
_IRIS = ((82, 52, 30), (48, 30, 20), (70, 110, 150), (80, 120, 80), (110, 90, 60))
_EYESHADOW = ((120, 70, 140), (90, 60, 50), (60, 90, 150))
_LIPSTICK = ((196, 24, 48), (170, 20, 70), (214, 70, 110), (140, 30, 50), (226, 60, 60))


class _Pen:
    """Draws shapes given in face coordinates (pixels at scale 1, origin between the eyes).

    Every point goes through the image's pose (scale, rotation, offset), so rotated ellipses are
    drawn as polygons. The draw object blends RGBA colours into the RGB image.
    """

    def __init__(self, image: Image.Image, centre: tuple[float, float], scale: float,
                 angle: float):
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.centre = np.asarray(centre, float)
        self.scale = scale
        c, s = math.cos(angle), math.sin(angle)
        self.matrix = scale * np.array([[c, -s], [s, c]])

    def points(self, xy) -> list[float]:
        xy = np.asarray(xy, float).reshape(-1, 2)
        return (xy @ self.matrix.T + self.centre).ravel().tolist()

    def width(self, w: float) -> int:
        return max(1, round(w * self.scale))

    def polygon(self, xy, fill, outline=None, width: float = 1) -> None:
        pts = self.points(xy)
        self.draw.polygon(pts, fill=fill)
        if outline is not None:
            self.draw.line(pts + pts[:2], fill=outline, width=self.width(width), joint="curve")

    def line(self, xy, fill, width: float = 1) -> None:
        self.draw.line(self.points(xy), fill=fill, width=self.width(width), joint="curve")

    def ellipse(self, cx, cy, rx, ry, fill, outline=None, width: float = 1) -> None:
        self.polygon(_ellipse(cx, cy, rx, ry), fill, outline, width)


def _ellipse(cx, cy, rx, ry, start=0.0, end=2 * math.pi, k=36) -> np.ndarray:
    return _unit_arc(float(start), float(end), k) * (rx, ry) + (cx, cy)


@functools.lru_cache(maxsize=256)
def _unit_arc(start: float, end: float, k: int) -> np.ndarray:
    # Cached: a face draws dozens of ellipses and arcs, mostly with the same angles.
    t = np.linspace(start, end, k, endpoint=end - start < 2 * math.pi - 1e-9)
    arc = np.stack([np.cos(t), np.sin(t)], axis=1)
    arc.flags.writeable = False
    return arc


def _wavy(xy: np.ndarray, amplitude: float, waves: float, phase: float) -> np.ndarray:
    """Push a closed outline in and out along its normal: wavy hair."""
    centre = xy.mean(axis=0)
    t = np.linspace(0, 2 * math.pi * waves, len(xy)) + phase
    direction = xy - centre
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-9
    return xy + amplitude * np.sin(t)[:, None] * direction


def _rgb(colour, alpha: int | None = None) -> tuple[int, ...]:
    c = tuple(min(255, max(0, round(float(v)))) for v in colour)
    return c if alpha is None else (*c, alpha)


def _mix(a, b, t: float) -> np.ndarray:
    return (1 - t) * np.asarray(a, float) + t * np.asarray(b, float)


class _Face:
    """The random look of one face, and a random stream per part of the drawing.

    Each part (eyes, mouth, hat...) draws from its own stream, seeded by the image's key and the
    part's name, so that switching one attribute on or off leaves the rest of the face as it was.
    """

    _PARTS = ("look", "camera", "body", "hair", "head", "skin", "beard", "eyes", "mouth",
              "glasses", "hat", "earrings", "strands")

    def __init__(self, a: Mapping[str, bool], key: tuple[int, ...]):
        self.a = a
        self.key = key
        rng = self.stream("look")
        male = a["Male"]
        # The same draws whatever the attributes; the attributes only choose among them.
        tone, pale, jitter = rng.beta(2.0, 2.2), rng.uniform(0, 0.35), rng.uniform(0.94, 1.04, 3)
        if a["Pale_Skin"]:
            self.skin = _mix(_PALE, _SKIN_LIGHT, pale)
        else:  # tone: 0 light ... 1 dark
            base = _mix(_SKIN_LIGHT, _SKIN_MID, tone / 0.5) if tone < 0.5 else \
                _mix(_SKIN_MID, _SKIN_DARK, (tone - 0.5) / 0.5)
            self.skin = base * jitter
        self.shade = self.skin * 0.78
        other = rng.choice(len(_OTHER_HAIR), p=_OTHER_HAIR_WEIGHTS)
        self.hair = self._hair_colour(rng.uniform(), other, rng.uniform(0.85, 1.15))
        self.brow = self.hair * 0.75 if a["Gray_Hair"] or a["Blond_Hair"] else self.hair * 0.9
        if a["Bald"] or a["Wearing_Hat"] and not any(a[h] for h in HAIR_CHOICES):
            self.brow = np.minimum(self.brow, 90)
        width, chin, jaw, long_hair, length = rng.random(5)
        self.half_width = 45 + 4 * width + (3 if male else 0) + (7 if a["Chubby"] else 0) \
            - (3 if a["Oval_Face"] else 0)
        self.chin = 70 + 6 * chin + (4 if a["Oval_Face"] else 0)
        self.jaw_power = 3.0 + 0.8 * jaw if male else 1.7 + 0.4 * jaw
        self.long_hair = long_hair < (0.07 if male else 0.9)
        self.hair_length = 55 + 70 * length if self.long_hair else 0.0
        self.clothes = rng.integers(20, 235, 3).astype(float)

    def stream(self, part: str) -> np.random.Generator:
        return np.random.default_rng([*self.key, self._PARTS.index(part)])

    def _hair_colour(self, shade: float, other: int, brightness: float) -> np.ndarray:
        for name, (dark, light) in _HAIR.items():
            if self.a[name]:
                return _mix(dark, light, shade)
        return np.asarray(_OTHER_HAIR[other], float) * brightness


def _face_outline(face: _Face) -> np.ndarray:
    """The face: an ellipse above the cheekbones, a superellipse jaw (square for men) below."""
    t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    w, top, chin, p = face.half_width, 64.0, face.chin, face.jaw_power
    lower = s > 0
    x = np.where(lower, w * np.sign(c) * np.abs(c) ** (2 / p), w * c)
    y = np.where(lower, (chin - 8) * np.abs(s) ** (2 / p), top * s) + 8
    return np.stack([x, y], axis=1)


def _draw_body(pen: _Pen, face: _Face) -> None:
    a, rng = face.a, face.stream("body")
    w = face.half_width
    pen.polygon([(-w * 0.42, 40), (w * 0.42, 40), (w * 0.5, 130), (-w * 0.5, 130)],
                _rgb(face.shade * 1.05))
    pen.ellipse(0, 158, 108, 66, _rgb(face.clothes))
    neckline = [(-w * 0.5, 96), (0, 122 if not a["Wearing_Necktie"] else 104), (w * 0.5, 96)]
    pen.polygon(neckline, _rgb(face.shade * 1.05))
    if a["Wearing_Necktie"]:
        pen.polygon([(-14, 94), (0, 106), (14, 94), (0, 100)], _rgb((240, 240, 240)))
        tie = rng.integers(0, 200, 3)
        pen.polygon([(-5, 103), (5, 103), (9, 140), (0, 150), (-9, 140)], _rgb(tie),
                    outline=_rgb(tie * 0.6), width=1.5)
    if a["Wearing_Necklace"]:
        metal = (226, 190, 90) if rng.random() < 0.6 else (220, 220, 228)
        pen.line(_ellipse(0, 84, w * 0.46, 22, 0.15, math.pi - 0.15, 20), _rgb(metal), 2.5)
        pen.ellipse(0, 107, 3.5, 4.5, _rgb(metal))


def _hair_outline(face: _Face, bottom: float) -> np.ndarray:
    """The hair mass behind the head: a dome over the skull down to ``bottom``."""
    w = face.half_width + 9
    dome = _ellipse(0, -16, w, 76, math.pi, 2 * math.pi, 28)
    side = [(w + 4, bottom), (-w - 4, bottom)]
    return np.concatenate([dome, side])


def _draw_hair_back(pen: _Pen, face: _Face) -> None:
    a, rng = face.a, face.stream("hair")
    if a["Bald"]:
        return
    bottom = 30 + face.hair_length if face.long_hair else 8
    outline = _hair_outline(face, bottom)
    if a["Wavy_Hair"]:
        outline = _wavy(outline, 3.5, rng.uniform(7, 10), rng.uniform(0, 6.3))
    elif not a["Straight_Hair"]:
        outline = _wavy(outline, 1.8, rng.uniform(16, 22), rng.uniform(0, 6.3))
    pen.polygon(outline, _rgb(face.hair))
    if face.long_hair:
        _draw_strands(pen, face, bottom)


def _draw_strands(pen: _Pen, face: _Face, bottom: float) -> None:
    """Strand lines beside the face: straight for Straight_Hair, sine waves for Wavy_Hair."""
    a, rng = face.a, face.stream("strands")
    dark = _rgb(face.hair * 0.7)
    light = _rgb(np.minimum(face.hair * 1.25 + 10, 255))
    x0 = face.half_width + 2
    for side in (-1, 1):
        for k in range(4):
            x = side * (x0 + 2.5 * k)
            y = np.linspace(-20, bottom - 4, 14)
            if a["Wavy_Hair"]:
                xs = x + side * 2.5 * np.sin(y / 7 + k + rng.uniform(0, 1))
            else:
                xs = np.full_like(y, x)
            pen.line(np.stack([xs, y], axis=1), dark if k % 2 else light, 1)


def _draw_head(pen: _Pen, face: _Face) -> None:
    a = face.a
    w = face.half_width
    for side in (-1, 1):
        pen.ellipse(side * (w - 1), 6, 7, 13, _rgb(face.shade), outline=_rgb(face.shade * 0.85))
    if a["Bald"] or a["Receding_Hairline"]:  # the skull shows above the forehead
        pen.ellipse(0, -10, w + 1, 70, _rgb(face.skin))
    if a["Bald"]:
        pen.ellipse(-12, -58, 12, 6, _rgb(np.minimum(face.skin * 1.15 + 15, 255), 150))
    pen.polygon(_face_outline(face), _rgb(face.skin))
    if a["Sideburns"] and not a["Bald"]:
        for side in (-1, 1):
            pen.polygon([(side * (w - 1), -20), (side * (w - 9), -20), (side * (w - 8), 22),
                         (side * (w - 1), 20)], _rgb(face.hair * 0.85))


def _draw_front_hair(pen: _Pen, face: _Face) -> None:
    """Hair over the forehead: the hairline (higher when receding) or a fringe of bangs."""
    a = face.a
    if a["Bald"]:
        return
    w = face.half_width + 2
    if a["Bangs"]:
        x = np.linspace(w, -w, 13)
        y = -19 - 4 * (np.arange(13) % 2) - 10 * (np.abs(x) / w) ** 2
    else:
        x = np.linspace(w, -w, 25)
        y = (-66 if a["Receding_Hairline"] else -44) + 14 * (np.abs(x) / w) ** 2
        if a["Receding_Hairline"]:  # bare temples, a peak in the middle
            y = y - 9 * np.exp(-((np.abs(x) - 24) / 9) ** 2) + 7 * np.exp(-(x / 7) ** 2)
    pen.polygon(np.concatenate([_ellipse(0, -14, w + 2, 72, math.pi, 2 * math.pi, 20),
                                np.stack([x, y], axis=1)]), _rgb(face.hair))
    if a["Bangs"]:
        for k in range(-3, 4):
            pen.line([(k * 9, -50), (k * 10, -22)], _rgb(face.hair * 0.72), 1)


def _draw_skin_marks(pen: _Pen, face: _Face) -> None:
    """Cheeks, age lines, chins and blemishes: the small attributes."""
    a, rng = face.a, face.stream("skin")
    w = face.half_width
    dark = _rgb(face.skin * 0.62, 150)
    if a["High_Cheekbones"]:
        for side in (-1, 1):
            pen.line(_ellipse(24, 18, 14, 6, 0.3, 2.4, 8) * [side, 1],
                     _rgb(face.skin * 0.8, 120), 1.5)
            pen.ellipse(side * 26, 12, 7, 3.5, _rgb(np.minimum(face.skin * 1.12 + 12, 255), 110))
    if a["Rosy_Cheeks"] or a["Heavy_Makeup"]:
        pink = (236, 96, 110) if a["Rosy_Cheeks"] else (214, 120, 128)
        for side in (-1, 1):
            pen.ellipse(side * 27, 22, 9, 6, _rgb(pink, 120 if a["Rosy_Cheeks"] else 70))
    if a["Bags_Under_Eyes"]:
        for side in (-1, 1):
            pen.line(_ellipse(side * 19, 5, 9, 5, 0.4, 2.7, 10), dark, 1.5)
    if not a["Young"]:
        for k in range(3):
            pen.line(_ellipse(0, -20 + 6 * k, 18, 4, 3.6, 5.8, 10) + [0, -8], dark, 1)
        for side in (-1, 1):
            pen.line([(side * 9, 27), (side * 15, 38), (side * 19, 48)], dark, 1.5)
            pen.line([(side * 29, -2), (side * 35, -4)], dark, 1)
            pen.line([(side * 29, 2), (side * 35, 4)], dark, 1)
    if a["Double_Chin"]:
        pen.line(_ellipse(0, face.chin + 2, 20, 6, 0.3, math.pi - 0.3, 10), dark, 2)
    if not a["Attractive"]:
        for _ in range(int(rng.integers(2, 5))):
            pen.ellipse(rng.uniform(-w + 10, w - 10), rng.uniform(-25, 55), 1.6, 1.6,
                        _rgb(face.skin * 0.55, 200))


def _draw_facial_hair(pen: _Pen, face: _Face) -> None:
    """Stubble, full beard, goatee and moustache, in a darker shade of the hair."""
    a, rng = face.a, face.stream("beard")
    w, chin, p = face.half_width, face.chin, face.jaw_power
    hair = face.hair * 0.8
    if a["5_o_Clock_Shadow"]:
        t = np.linspace(0.05, math.pi - 0.05, 24)
        c, s = np.cos(t), np.sin(t)
        jaw = np.stack([w * np.sign(c) * np.abs(c) ** (2 / p),
                        (chin - 8) * np.abs(s) ** (2 / p) + 8], axis=1)
        inner = jaw * [0.78, 0.62] + [0, 10]
        pen.polygon(np.concatenate([jaw, inner[::-1]]), _rgb(_mix(face.skin, hair, 0.45), 140))
        dots = np.stack([rng.uniform(-w * 0.8, w * 0.8, 160), rng.uniform(30, chin, 160)], 1)
        pen.draw.point(pen.points(dots), _rgb(hair, 190))
    if not a["No_Beard"] and not (a["Goatee"] or a["Mustache"]):
        t = np.linspace(0, math.pi, 24)
        c, s = np.cos(t), np.sin(t)
        jaw = np.stack([(w + 1) * np.sign(c) * np.abs(c) ** (2 / p),
                        (chin - 4) * np.abs(s) ** (2 / p) + 8], axis=1)
        inner = np.stack([17 * np.cos(t), 36 + 12 * np.sin(t)], axis=1)
        beard = np.concatenate([jaw, inner[::-1]])
        pen.polygon(_wavy(beard, 1.2, 20, 0), _rgb(hair))
    if a["Goatee"]:
        pen.polygon(np.concatenate([_ellipse(0, 49, 15, 8, math.pi, 2 * math.pi, 10),
                                    _ellipse(0, 52, 13, chin - 48, 0, math.pi, 12)]),
                    _rgb(hair))
    if a["Mustache"]:
        pen.polygon([(-19, 39), (-10, 31), (0, 32), (10, 31), (19, 39), (10, 36), (0, 37),
                     (-10, 36)], _rgb(hair), outline=_rgb(hair * 0.8))


def _draw_eyes(pen: _Pen, face: _Face) -> None:
    a, rng = face.a, face.stream("eyes")
    half_height = 2.6 if a["Narrow_Eyes"] else 4.2 + rng.uniform()
    iris = _IRIS[rng.integers(len(_IRIS))]
    gaze = rng.uniform(-1.5, 1.5)
    shadow = _rgb(_EYESHADOW[rng.integers(len(_EYESHADOW))], 150)
    for side in (-1, 1):
        x = side * 19
        if a["Heavy_Makeup"]:
            pen.ellipse(x, -3, 11, 6.5, shadow)
        pen.ellipse(x, 0, 8.5, half_height, (245, 244, 238), outline=(40, 30, 30), width=1)
        pen.ellipse(x + gaze, 0, 3.8, min(3.8, half_height), _rgb(iris))
        pen.ellipse(x + gaze, 0, 1.7, min(1.7, half_height), (10, 10, 10))
        lash = 2.2 if a["Heavy_Makeup"] or not a["Male"] else 1.2
        pen.line(_ellipse(x, 0, 8.5, half_height, math.pi, 2 * math.pi, 10), (25, 20, 20), lash)
        if not a["Male"]:
            pen.line([(x + side * 8, -half_height * 0.4), (x + side * 11, -half_height - 1)],
                     (25, 20, 20), 1)


def _draw_brows(pen: _Pen, face: _Face) -> None:
    a = face.a
    thick = (3.8 if a["Bushy_Eyebrows"] else 1.8) + (0.8 if a["Male"] else 0)
    rise = 6.0 if a["Arched_Eyebrows"] else 1.5
    for side in (-1, 1):
        x = side * np.array([8, 14, 21, 29])
        y = np.array([-12, -13 - rise, -13 - rise * 0.9, -10]) + (1 if a["Narrow_Eyes"] else 0)
        pen.line(np.stack([x, y], axis=1), _rgb(face.brow), thick)


def _draw_nose(pen: _Pen, face: _Face) -> None:
    a = face.a
    width = 9.0 if a["Big_Nose"] else 6.0
    tip = 27 if a["Big_Nose"] else 24
    line = _rgb(face.skin * 0.66)
    if a["Pointy_Nose"]:
        pen.line([(-2, 4), (-3, tip - 4), (0, tip + 2), (3, tip - 4)], line, 1.2)
    else:
        pen.line([(-2, 4), (-3, tip - 6)], _rgb(face.skin * 0.8), 1)
    for side in (-1, 1):
        pen.ellipse(side * width * 0.5, tip, width * 0.32, 1.8, _rgb(face.skin * 0.45))
        pen.line(_ellipse(side * width * 0.62, tip - 2, width * 0.45, 4.5,
                          -0.6 if side > 0 else 2.2, 1.3 if side > 0 else 3.8, 6), line, 1)


def _draw_mouth(pen: _Pen, face: _Face) -> None:
    """A closed line or an open smile; lip colour and thickness carry the lip attributes."""
    a, rng = face.a, face.stream("mouth")
    if a["Wearing_Lipstick"]:
        lips = np.asarray(_LIPSTICK[rng.integers(len(_LIPSTICK))], float)
    else:
        lips = _mix(face.skin, (150, 70, 70), 0.3)
    thick = 4.5 if a["Big_Lips"] else 2.8
    y = 41.0
    half = rng.uniform(17, 20) if a["Smiling"] else rng.uniform(12, 15)
    x = np.linspace(-half, half, 15)
    if a["Smiling"]:
        top = y - 4 * (x / half) ** 2 + 1
        drop = 9.0 if a["Mouth_Slightly_Open"] else 5.0
        bottom = y - 4 * (x / half) ** 2 + 1 + drop * (1 - (x / half) ** 2)
    else:
        top = y + 1.2 * (x / half) ** 2 - 0.5
        bottom = top + (4.0 if a["Mouth_Slightly_Open"] else 0.0)
    inside = np.concatenate([np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]])
    upper = np.concatenate([np.stack([x, top], 1),
                            np.stack([x, top - thick * (1 - 0.6 * (x / half) ** 2)], 1)[::-1]])
    lower = np.concatenate([np.stack([x, bottom], 1),
                            np.stack([x, bottom + thick * 1.2 * (1 - (x / half) ** 2)], 1)[::-1]])
    if a["Smiling"] or a["Mouth_Slightly_Open"]:
        pen.polygon(inside, (70, 20, 25))
    if a["Smiling"]:
        teeth_bottom = top + min(4.0, (bottom - top).max() * 0.5) * (1 - (x / half) ** 2)
        pen.polygon(np.concatenate([np.stack([x * 0.85, top + 0.5], 1),
                                    np.stack([x * 0.85, teeth_bottom], 1)[::-1]]),
                    (240, 238, 228))
    pen.polygon(upper, _rgb(lips))
    pen.polygon(lower, _rgb(lips))
    pen.line(np.stack([x, top], 1), _rgb(lips * 0.6), 1)


def _draw_glasses(pen: _Pen, face: _Face) -> None:
    rng = face.stream("glasses")
    frame = _rgb(rng.choice([(20, 20, 20), (60, 40, 30), (120, 120, 130), (150, 30, 30),
                             (30, 40, 110)]) * rng.uniform(0.8, 1.2))
    width = rng.uniform(1.8, 3.0)
    sunglasses = rng.random() < 0.25
    lens = _rgb((20, 25, 30), 215) if sunglasses else _rgb((200, 220, 235), 45)
    rx, ry = rng.uniform(11.5, 14), rng.uniform(8.5, 10.5)
    square = rng.random() < 0.5
    for side in (-1, 1):
        cx = side * 19
        if square:
            outline = [(cx - rx, -ry + 1), (cx + rx, -ry + 1), (cx + rx, ry), (cx - rx, ry)]
        else:
            outline = _ellipse(cx, 1, rx, ry, k=24)
        pen.polygon(outline, lens, outline=frame, width=width)
        pen.line([(side * (19 + rx), -3), (side * (face.half_width + 1), -5)], frame, width)
    pen.line(_ellipse(0, 0, 19 - rx, 3, math.pi, 2 * math.pi, 6), frame, width)


def _draw_hat(pen: _Pen, face: _Face) -> None:
    rng = face.stream("hat")
    colour = rng.integers(10, 240, 3).astype(float)
    w = face.half_width + 10
    style = rng.integers(3)
    if style == 0:  # beanie with a folded band
        pen.polygon(_ellipse(0, -38, w, 58, math.pi, 2 * math.pi, 24), _rgb(colour))
        pen.polygon([(-w - 1, -50), (w + 1, -50), (w + 1, -36), (-w - 1, -36)],
                    _rgb(colour * 0.8))
    elif style == 1:  # cap with a brim to one side
        pen.polygon(_ellipse(0, -42, w - 2, 50, math.pi, 2 * math.pi, 24), _rgb(colour))
        side = rng.choice([-1, 1])
        pen.polygon(_ellipse(side * 22, -42, 40, 8, 0, math.pi, 16), _rgb(colour * 0.7))
    else:  # brimmed hat
        pen.polygon(_ellipse(0, -56, w - 6, 44, math.pi, 2 * math.pi, 24), _rgb(colour))
        pen.ellipse(0, -55, w + 22, 9, _rgb(colour * 0.75))
        pen.polygon([(-w + 6, -64), (w - 6, -64), (w - 6, -58), (-w + 6, -58)],
                    _rgb(rng.integers(0, 255, 3)))


def _draw_earrings(pen: _Pen, face: _Face) -> None:
    rng = face.stream("earrings")
    metal = _rgb(rng.choice([(232, 196, 80), (220, 220, 230), (200, 40, 90)]))
    hoop = rng.random() < 0.5
    for side in (-1, 1):
        x = side * (face.half_width + 1)
        if hoop:
            pen.line(_ellipse(x, 23, 4.5, 6, -0.5, 2 * math.pi - 1.0, 14), metal, 1.8)
        else:
            pen.ellipse(x, 21, 3.2, 3.2, metal, outline=_rgb((60, 50, 30)))


# Pixel coordinates relative to the image centre (for ramps, as a column plus a row), and a bank
# of sensor noise, computed once so that each image only slices it. Full-size arrays are
# (height, width * 3): numpy broadcasts slowly along a last axis of length 3.
_ROWS = (np.arange(_HEIGHT, dtype=np.float32) - _HEIGHT / 2)[:, None]
_COLUMNS = np.arange(_WIDTH, dtype=np.float32) - _WIDTH / 2
_COLUMNS3 = np.repeat(_COLUMNS, 3)
_NOISE = np.random.default_rng(0x0015E).standard_normal((2 * _HEIGHT, 6 * _WIDTH),
                                                          dtype=np.float32)


def _ramp(rng: np.random.Generator, length: float, rows=_ROWS, columns=_COLUMNS) -> np.ndarray:
    """A linear ramp across the image in a random direction, 0 at the centre."""
    angle = rng.uniform(0, 2 * math.pi)
    cos, sin = np.float32(math.cos(angle) / length), np.float32(math.sin(angle) / length)
    return columns * cos + rows * sin


def _background(rng: np.random.Generator) -> Image.Image:
    """A two-colour linear gradient in a random direction."""
    a = rng.integers(0, 256, 3).astype(np.float32)
    b = np.clip(a + rng.normal(0, 70, 3), 0, 255).astype(np.float32)
    t = np.clip(_ramp(rng, 140, _ROWS[::8], _COLUMNS[::8]) + 0.5, 0, 1)[..., None]
    # Drawn at 1/8 of the size and enlarged: a smooth gradient needs no more.
    small = Image.fromarray((a + t * (b - a)).astype(np.uint8), "RGB")
    return small.resize((_WIDTH, _HEIGHT), Image.Resampling.BILINEAR)


def _light(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Lighting and camera: brightness ramp, contrast, colour cast and sensor noise."""
    pixels = np.asarray(image, np.float32).reshape(_HEIGHT, 3 * _WIDTH)
    gain = _ramp(rng, 178, _ROWS, _COLUMNS3)
    gain *= rng.uniform(0, 0.45)
    gain += 1
    gain *= rng.uniform(0.78, 1.15)
    gain *= np.tile(rng.uniform(0.92, 1.08, 3).astype(np.float32), _WIDTH)  # colour cast
    contrast = rng.uniform(0.8, 1.15)
    pixels = (pixels * contrast + pixels.mean() * (1 - contrast)) * gain
    y, x = rng.integers(0, _HEIGHT), rng.integers(0, 3 * _WIDTH)
    pixels += _NOISE[y:y + _HEIGHT, x:x + 3 * _WIDTH] * rng.uniform(1.5, 6.0)
    np.clip(pixels, 0, 255, out=pixels)
    return Image.fromarray(pixels.astype(np.uint8).reshape(_HEIGHT, _WIDTH, 3), "RGB")


def draw_face(attributes: Mapping[str, bool | int], seed: int = 0) -> Image.Image:
    """Draw one synthetic face showing ``attributes``.

    The same ``attributes`` and ``seed`` give the same image; changing one attribute and keeping
    the seed changes mostly that attribute's part of the picture (a good way to show what an
    attribute looks like).

    Args:
        attributes: Attribute name to truth value (1/0 or True/False). Names missing from the
            mapping are taken as absent.
        seed: Seed of the face's random look (pose, colours, lighting...).

    Returns:
        A 178 x 218 RGB PIL image.

    Raises:
        KeyError: ``attributes`` holds a name that is not a CelebA attribute.

    Example:
        >>> draw_face({"Male": 1, "Eyeglasses": 1, "Black_Hair": 1}, seed=3).size
        (178, 218)
    """
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if unknown:
        raise KeyError(f"Unknown attribute(s) {unknown}; valid names: {', '.join(ATTRIBUTES)}")
    a = {name: bool(attributes.get(name, 0)) for name in ATTRIBUTES}
    return _draw(a, (int(seed), 0x5EED))


def _draw(a: Mapping[str, bool], key: tuple[int, ...]) -> Image.Image:
    """Draw the face with attributes ``a``; ``key`` seeds all its randomness."""
    face = _Face(a, key)
    camera = face.stream("camera")
    image = _background(camera)
    # Pose: CelebA's crops are aligned, so rotation, shift and scale stay small.
    centre = (_WIDTH / 2 + camera.normal(0, 3), 111 + camera.normal(0, 3))
    pen = _Pen(image, centre, camera.uniform(0.9, 1.08), math.radians(camera.normal(0, 4)))
    _draw_body(pen, face)
    _draw_hair_back(pen, face)
    _draw_head(pen, face)
    _draw_front_hair(pen, face)
    _draw_skin_marks(pen, face)
    _draw_facial_hair(pen, face)
    _draw_eyes(pen, face)
    _draw_brows(pen, face)
    _draw_nose(pen, face)
    _draw_mouth(pen, face)
    if a["Eyeglasses"]:
        _draw_glasses(pen, face)
    if a["Wearing_Hat"]:
        _draw_hat(pen, face)
    if a["Wearing_Earrings"]:
        _draw_earrings(pen, face)
    # Drawn edges are hard; a slight blur softens them like a lens would.
    image = image.filter(ImageFilter.BoxBlur(camera.uniform(0.3, 0.8)))
    image = _light(image, camera)
    blur = camera.uniform(1.2, 2.0)
    return image.filter(ImageFilter.GaussianBlur(blur)) if a["Blurry"] else image


def render_chunk(task: tuple[int, int, np.ndarray, str]) -> None:
    """Draw and save images ``start .. start + len(labels) - 1`` (0-based) into ``folder``."""
    seed, start, labels, folder = task
    for offset, row in enumerate(labels):
        index = start + offset
        a = dict(zip(ATTRIBUTES, (bool(v) for v in row)))
        image = _draw(a, (int(seed), 1, index))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=_JPEG_QUALITY)
        Path(folder, f"{index + 1:06d}.jpg").write_bytes(buffer.getvalue())


__all__ = [
    "draw_face",
]
