"""How a synthetic person looks: procedural head-and-shoulders portraits drawn with OpenCV (hair,
face shape, brows for gender; grey share, wrinkles, skin for age), masks worn, under the nose or on
the chin, the room behind, per-photo pose and lighting jitter, and the spoiled photos (strangers,
empty rooms, dark / overexposed / blurred / tiny)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from pipeline.labels import MASK_FILES, STEMS
from pipeline.data.synth.persons import (OUTLIER_KINDS, QUALITY_KINDS, Person, rng_for,
                                         sample_person)
from pipeline.data.synth.session import Shot


def degrade(photo: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """An unusable version of `photo`: far darker or brighter than the hard cases, blurred well
    past them, or the person shrunk to a tiny figure in the frame."""
    h, w = photo.shape[:2]
    x = photo.astype(np.float32)
    if kind == "dark":
        x = x * rng.uniform(0.06, 0.12) + rng.standard_normal((h, w, 1)).astype(np.float32) * 2
    elif kind == "overexposed":
        x = x * rng.uniform(2.2, 2.8) + 60
    elif kind == "blurred":
        x = cv2.GaussianBlur(photo, (0, 0), rng.uniform(4.5, 6.5) * w / 192).astype(np.float32)
    elif kind == "tiny":
        s = rng.uniform(0.22, 0.3)
        small = cv2.resize(photo, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        x = cv2.GaussianBlur(photo, (0, 0), 6 * w / 192).astype(np.float32)
        y0, x0 = int(rng.integers(0, h - small.shape[0] + 1)), int(rng.integers(0, w - small.shape[1] + 1))
        x[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    else:
        raise ValueError(f"quality kind must be one of {QUALITY_KINDS}, got {kind!r}")
    return np.clip(x, 0, 255).astype(np.uint8)


def outlier_photo(kind: str, mask_state: int, seed: int, number: int,
                  image_size: tuple[int, int], shot: Shot | None = None) -> np.ndarray:
    """A photo that does not belong in a person's folder: a stranger (a person drawn from the
    `extra` split, in the same mask state) or a room with nobody in it. `shot`: the camera and
    light of the photo it replaces (its room is the stranger's own, or the empty one)."""
    stranger = sample_person(seed, "extra", number)
    shot = None if shot is None else dataclasses.replace(shot, room=None)
    if kind == "stranger":
        return render_photo(sample_look(stranger, seed), mask_state, photo_rng(seed, stranger, "normal"),
                            image_size, shot=shot)
    if kind != "no_face":
        raise ValueError(f"outlier kind must be one of {OUTLIER_KINDS}, got {kind!r}")
    w, h = image_size
    rng = rng_for(seed, "extra", number, 3)
    scene = render_scene(int(rng.integers(2**31)), (w, h)).astype(np.float32)
    scene = scene * rng.uniform(0.82, 1.15) + rng.standard_normal((h, w, 1)).astype(np.float32) * 2
    if shot is not None:
        scene = _light(scene, shot)
    empty = cv2.GaussianBlur(np.clip(scene, 0, 255).astype(np.uint8), (0, 0), 0.7 * w / 192)
    return empty if shot is None else _camera(empty, shot)


def _light(x: np.ndarray, shot: Shot) -> np.ndarray:
    """Exposure (stops) and white balance (log red/blue) of a float image."""
    if not (shot.ev or shot.wb):
        return x
    gain = np.float32(2.0**shot.ev) * np.exp(np.array([shot.wb, 0, -shot.wb], np.float32) / 2)
    return x * gain


def _camera(img: np.ndarray, shot: Shot) -> np.ndarray:
    """Sensor noise after the lens, then the front camera's mirroring, of a uint8 photo."""
    if shot.noise:
        noise = np.random.default_rng(shot.noise_seed).standard_normal(img.shape, dtype=np.float32)
        img = np.clip(img + noise * np.float32(shot.noise), 0, 255).astype(np.uint8)
    if shot.mirrored:
        img = np.ascontiguousarray(img[:, ::-1])
    return img



@dataclass(frozen=True)
class MaskSpec:
    style: str  # surgical | kf94 | cloth | patterned
    colour: tuple[int, int, int]
    colour2: tuple[int, int, int]
    pattern: str  # "" | dots | stripes | check


@dataclass(frozen=True)
class Look:
    """Everything a person's seven photos share. Sizes are in units of image width."""

    gender: int
    age: float  # apparent age: true age + per-person jitter, drives every age cue
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    grey: float
    wrinkle: float
    hair_style: str  # short | medium | bob | long
    hair_len: float
    fringe: float
    recession: float
    face_a: float
    face_b: float
    jaw: float
    brow_thick: float
    brow_arch: float
    lips: tuple[float, float, float]
    earrings: bool
    stubble: float
    glasses: bool
    eye_bags: float
    spots: int
    clothes: tuple[int, int, int]
    clothes2: tuple[int, int, int]
    neckline: str
    masks: tuple[MaskSpec, ...]
    incorrect: int  # which of masks is worn incorrectly
    hard: str
    quality: int
    scene_seed: int


_SKIN = {"Asian": (226, 190, 160), "White": (236, 203, 182), "Black": (140, 96, 72)}
_HAIR = ((28, 24, 24), (45, 34, 28), (70, 50, 36), (105, 72, 48))
_SILVER = np.array([205, 205, 210], dtype=np.float32)
_MASK_COLOURS = {
    "surgical": ((140, 190, 225), (236, 236, 240), (232, 175, 195), (40, 42, 48), (150, 210, 190)),
    "kf94": ((242, 242, 244), (36, 36, 40), (196, 198, 204), (150, 170, 215)),
    "cloth": ((30, 30, 34), (40, 52, 95), (235, 235, 232), (150, 150, 156), (120, 40, 50)),
    "patterned": ((230, 225, 215), (40, 60, 110), (200, 80, 90), (60, 110, 70), (240, 200, 80)),
}


def _jitter(rng: np.random.Generator, colour, sd: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(colour) + rng.normal(0, sd, 3), 0, 255))


def _mask_spec(rng: np.random.Generator) -> MaskSpec:
    style = str(rng.choice(list(_MASK_COLOURS), p=(0.35, 0.25, 0.25, 0.15)))
    palette = _MASK_COLOURS[style]
    colour = _jitter(rng, palette[rng.integers(len(palette))], 6)
    colour2 = _jitter(rng, palette[rng.integers(len(palette))], 30)
    if colour2 == colour or np.abs(np.subtract(colour2, colour)).sum() < 80:
        colour2 = tuple(255 - c for c in colour)
    pattern = str(rng.choice(("dots", "stripes", "check"))) if style == "patterned" else ""
    return MaskSpec(style, colour, colour2, pattern)


def sample_look(person: Person, seed: int) -> Look:
    """Draw a person's appearance; continuous age cues come from an apparent age."""
    rng = rng_for(seed, person.split, person.index, 1)
    female = person.gender == 1
    age = float(person.age + rng.normal(0, 2.5))
    t = float(np.clip((age - 18) / 42, 0, 1))
    # Greying runs over the whole adult range so that 25 vs 35 is learnable, while one or two
    # years (plus the apparent-age jitter above) stay genuinely hard to tell apart.
    grey = float(np.clip(np.clip((age - 20) / 40, 0, 1) ** 1.1 + rng.normal(0, 0.04), 0, 1))
    wrinkle = float(np.clip((age - 24) / 36 + rng.normal(0, 0.05), 0, 1))

    skin = np.asarray(_SKIN[person.race], dtype=float) + rng.normal(0, 7) + rng.normal(0, 4, 3)
    skin = skin + (skin.mean() - skin) * 0.45 * t  # older skin: less saturated ...
    skin = skin * (1 - 0.1 * t) + np.array([4, 2, -6]) * t  # ... a little darker and yellower
    hair_p = (0.45, 0.3, 0.15, 0.1) if female else (0.6, 0.3, 0.08, 0.02)
    hair = _jitter(rng, _HAIR[rng.choice(4, p=hair_p)], 4)

    if female:
        hair_style = str(rng.choice(("long", "bob", "short"), p=(0.8, 0.15, 0.05)))
        fringe = float(rng.uniform(-0.64, -0.4))
        recession = 0.0
    else:
        hair_style = str(rng.choice(("short", "medium"), p=(0.9, 0.1)))
        fringe = float(rng.uniform(-0.78, -0.62))
        recession = float(np.clip((age - 38) / 22, 0, 1) * rng.uniform(0.0, 0.35))
    hair_len = {"long": rng.uniform(1.7, 2.7), "bob": rng.uniform(0.7, 0.95),
                "medium": rng.uniform(0.25, 0.45), "short": 0.05}[hair_style]
    face_a = float(rng.normal(0.186 if female else 0.204, 0.007))
    lips = (_jitter(rng, (190, 78, 88), 10) if female and rng.random() < 0.7
            else tuple(np.clip(skin * (0.86, 0.62, 0.62), 0, 255)))
    masks = tuple(_mask_spec(rng) for _ in range(5))
    return Look(
        gender=person.gender, age=age, skin=tuple(np.clip(skin, 0, 255)), hair=hair,
        grey=grey, wrinkle=wrinkle, hair_style=hair_style, hair_len=float(hair_len),
        fringe=fringe, recession=recession, face_a=face_a,
        face_b=float(face_a * rng.normal(1.3, 0.035)),
        jaw=float(rng.uniform(0.2, 0.32) if female else rng.uniform(0.04, 0.14)),
        brow_thick=float(rng.uniform(1.0, 1.6) if female else rng.uniform(2.2, 3.2)),
        brow_arch=float(rng.uniform(0.05, 0.1) if female else rng.uniform(0.0, 0.03)),
        lips=tuple(float(v) for v in lips),
        earrings=bool(female and rng.random() < 0.45),
        stubble=float(rng.uniform(0.15, 0.45)) if not female and rng.random() < 0.4 else 0.0,
        glasses=bool(rng.random() < 0.1 + 0.15 * t),
        eye_bags=float(t * rng.uniform(0.4, 1.0)),
        spots=int(rng.poisson(3 * max(0.0, (age - 45) / 15))),
        clothes=_jitter(rng, rng.integers(20, 230, 3), 0),
        clothes2=_jitter(rng, rng.integers(20, 230, 3), 0),
        neckline=str(rng.choice(("round", "v", "collar", "stripes"))),
        masks=masks, incorrect=int(rng.integers(5)), hard=person.hard,
        quality=int(rng.integers(80, 96)), scene_seed=int(rng.integers(2**31)),
    )


def second_session_look(look: Look, seed: int, person: Person) -> Look:
    """The same person at another session: about half of their five masks replaced by others,
    the rest worn in another order, another one worn incorrectly (drawn on `person`'s own stream:
    the re-filed copy)."""
    rng = rng_for(seed, person.split, person.index, 6, 1)
    masks = [look.masks[j] for j in rng.permutation(len(look.masks))]
    masks = [_mask_spec(rng) if rng.random() < 0.5 else m for m in masks]
    return dataclasses.replace(look, masks=tuple(masks), incorrect=int(rng.integers(len(masks))))


# ----------------------------------------------------------------------------- drawing

_SHIFT = 4  # cv2 sub-pixel bits: float coordinates, anti-aliased edges
_ONE = 1 << _SHIFT


def _p(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _col(c) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(v))) for v in c)


def _ellipse(img, centre, axes, colour, thick=-1, angle=0.0, start=0, end=360) -> None:
    cv2.ellipse(img, _p(*centre), _p(max(axes[0], 0.1), max(axes[1], 0.1)), angle, start, end,
                _col(colour), thick if thick < 0 else max(1, int(round(thick))), cv2.LINE_AA, _SHIFT)


def _poly(img, pts, colour) -> None:
    cv2.fillPoly(img, [np.round(np.asarray(pts) * _ONE).astype(np.int32)], _col(colour),
                 cv2.LINE_AA, _SHIFT)


def _line(img, pts, colour, thick=1, closed=False) -> None:
    cv2.polylines(img, [np.round(np.asarray(pts) * _ONE).astype(np.int32)], closed, _col(colour),
                  max(1, int(round(thick))), cv2.LINE_AA, _SHIFT)


def _blend(img: np.ndarray, alpha: float, draw: Callable[[np.ndarray], None]) -> None:
    """Draw translucently: `draw` paints a copy, which is mixed back with `alpha`."""
    layer = img.copy()
    draw(layer)
    cv2.addWeighted(layer, alpha, img, 1 - alpha, 0, dst=img)


def render_scene(scene_seed: int, size: tuple[int, int]) -> np.ndarray:
    """An indoor background (wall gradient, door, window, shelves, posters, lamp, plant)."""
    w, h = size
    rng = np.random.default_rng(scene_seed)
    hsv = np.array([rng.integers(0, 180), rng.integers(10, 90), rng.integers(120, 235)], np.uint8)
    wall = cv2.cvtColor(hsv[None, None], cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    ramp = np.linspace(1.08, 0.82, h, dtype=np.float32)[:, None, None]
    img = np.ascontiguousarray(np.clip(wall * ramp * np.ones((h, w, 1), np.float32), 0, 255)
                               .astype(np.uint8))
    for _ in range(rng.integers(3, 8)):
        kind = rng.choice(("door", "window", "shelf", "poster", "lamp", "plant", "box"))
        x, y = rng.uniform(0, w), rng.uniform(0, h * 0.8)
        s = rng.uniform(0.15, 0.45) * w
        c = _jitter(rng, rng.integers(30, 230, 3), 0)
        if kind == "door":
            _line(img, [(x, h), (x, y * 0.3), (x + s, y * 0.3), (x + s, h)], c, 2 * w / 192)
        elif kind == "window":
            _poly(img, [(x, y), (x + s, y), (x + s, y + s), (x, y + s)], (225, 235, 245))
            _line(img, [(x, y), (x + s, y), (x + s, y + s), (x, y + s)], c, 3 * w / 192, True)
            _line(img, [(x + s / 2, y), (x + s / 2, y + s)], c, 2 * w / 192)
        elif kind == "shelf":
            for k in range(3):
                yy = y + k * s * 0.35
                _line(img, [(x - s, yy), (x + s, yy)], c, 2 * w / 192)
                for _ in range(3):
                    bx = x + rng.uniform(-s, s)
                    bc = _jitter(rng, rng.integers(30, 230, 3), 0)
                    _poly(img, [(bx, yy), (bx + s * 0.1, yy), (bx + s * 0.1, yy - s * 0.25),
                                (bx, yy - s * 0.25)], bc)
        elif kind == "poster":
            _poly(img, [(x, y), (x + s * 0.7, y), (x + s * 0.7, y + s), (x, y + s)], c)
            _ellipse(img, (x + s * 0.35, y + s * 0.4), (s * 0.2, s * 0.15),
                     _jitter(rng, rng.integers(30, 230, 3), 0))
        elif kind == "lamp":
            _ellipse(img, (x, y), (s * 0.18, s * 0.18), (250, 245, 215))
        elif kind == "plant":
            for _ in range(6):
                _ellipse(img, (x + rng.normal(0, s * 0.2), y + rng.normal(0, s * 0.2)),
                         (s * 0.15, s * 0.07), _jitter(rng, (60, 120, 60), 20),
                         angle=rng.uniform(0, 180))
        else:
            _poly(img, [(x, y), (x + s, y), (x + s, h), (x, h)], c)
    return cv2.GaussianBlur(img, (0, 0), 1.2 * w / 192)


@dataclass(frozen=True)
class _Frame:
    """Canonical head frame: (u, v) face units -> pixels, with yaw moving the features."""

    cx: float
    cy: float
    a: float
    b: float
    yaw: float
    px: float  # pixel scale: image width / 192

    def __call__(self, u: float, v: float, feature: bool = True) -> tuple[float, float]:
        shift = self.yaw * (1 - 0.4 * abs(u)) if feature else 0.0
        return self.cx + (u + shift * 0.45) * self.a, self.cy + v * self.b

    def pts(self, uv, feature: bool = True) -> np.ndarray:
        return np.array([self(u, v, feature) for u, v in uv])


def _face_width(v: np.ndarray | float, jaw: float) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.sqrt(np.clip(1 - v**2, 0, 1)) * (1 - jaw * np.clip(v, 0, 1) ** 1.5)


@lru_cache(maxsize=4)
def _hair_layer(look: Look, f: _Frame, shape: tuple[int, int]):
    """Front and back hair as boolean masks plus a strand-textured, greying colour image; the
    same for all of a person's photos (pose is applied later), so computed once."""
    h, w = shape
    rng = np.random.default_rng([look.scene_seed, 1])
    xs = (np.arange(w, dtype=np.float32) - f.cx) / f.a
    ys = (np.arange(h, dtype=np.float32) - f.cy) / f.b
    u, v = xs[None, :], ys[:, None]
    volume = 1.12 if look.hair_style in ("long", "bob") else 1.05
    helmet = (u / volume) ** 2 + ((v + 0.12) / 1.03) ** 2 < 1
    au = np.abs(u)
    line = look.fringe + 0.28 * au**2.5 - look.recession * np.exp(-(((au - 0.45) / 0.22) ** 2))
    side_end = {"short": 0.02, "medium": 0.3, "bob": 0.3, "long": 0.3}[look.hair_style]
    fw = _face_width(np.clip(v, -1, 1), look.jaw)
    front = helmet & ((v < line) | (au > fw * 0.97)) & (v < side_end)
    if look.hair_style in ("long", "bob", "medium"):
        width = {"long": 1.3, "bob": 1.2, "medium": 1.1}[look.hair_style]
        bottom = look.hair_len - 0.35 * (u / width) ** 2
        taper = 1 - 0.3 * np.clip(v - 1.2, 0, None) / max(look.hair_len, 0.3)
        back = (au < width * taper) & (v > -0.3) & (v < bottom) & ((v < 1.4) | (au > 0.6))
    else:
        back = np.zeros_like(front)
    # strands: streaks along the hair flow with their own grey share
    streak = cv2.GaussianBlur(rng.random((1, w * 2)).astype(np.float32), (0, 0), 0.8)[0]
    streak = (streak - streak.mean()) / (streak.std() + 1e-6)
    flow = (np.arange(w)[None, :] + (np.arange(h)[:, None] * 0.25 * np.sign(u))).astype(int)
    s = streak[np.clip(flow, 0, w * 2 - 1)]
    g = look.grey
    strand_grey = (1 / (1 + np.exp(-1.7 * s)) < g).astype(np.float32)  # ~uniform rank < g
    mix = (g * 0.55 + 0.45 * strand_grey)[..., None]
    base = np.asarray(look.hair, np.float32)
    colour = np.clip((base * (1 - mix) + _SILVER * mix) * (1 + 0.1 * s[..., None]), 0, 255)
    layers = front, back, colour.astype(np.uint8)
    for layer in layers:
        layer.flags.writeable = False  # cached: shared by the person's photos
    return layers


def _draw_mask(img: np.ndarray, spec: MaskSpec, f: _Frame, look: Look, place: str) -> None:
    """A face mask: worn (nose bridge to under the chin), or incorrectly under the nose / on
    the chin. Drawn in face units so it follows pose and face shape."""
    top, bottom = {"worn": (0.13, 1.1), "nose": (0.42, 1.22), "chin": (0.74, 1.34)}[place]
    vs = np.linspace(top + 0.08, bottom - 0.12, 8)
    widths = np.maximum(_face_width(vs, look.jaw) * 1.05, 0.6)
    peak = 0.07 if spec.style == "kf94" else 0.03 if spec.style == "cloth" else 0.0
    right = [(wd, vv) for wd, vv in zip(widths, vs)]
    outline = ([(-0.9 * widths[0], top + 0.06), (0, top - peak), (0.9 * widths[0], top + 0.06)]
               + right + [(0.35, bottom - 0.02), (0, bottom), (-0.35, bottom - 0.02)]
               + [(-wd, vv) for wd, vv in reversed(right)])
    pts = f.pts(outline)
    shade = np.asarray(spec.colour, float)
    _poly(img, pts, shade * 0.82)  # darker rim, the inner area is lit
    inner = f.pts([(u * 0.9, top + (v - top) * 0.9 + 0.02) for u, v in outline])
    _poly(img, inner, shade)
    if spec.pattern:
        layer = img.copy()
        c2 = spec.colour2
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        step = max(3.0, f.a * 0.28)
        for yy in np.arange(y0, y1, step):
            if spec.pattern == "stripes":
                _line(layer, [(x0, yy), (x1, yy)], c2, step * 0.4)
            else:
                for xx in np.arange(x0 + (yy // step % 2) * step / 2, x1, step):
                    if spec.pattern == "dots":
                        _ellipse(layer, (xx, yy), (step * 0.22, step * 0.22), c2)
                    else:
                        _poly(layer, [(xx, yy), (xx + step / 2, yy), (xx + step / 2, yy + step / 2),
                                      (xx, yy + step / 2)], c2)
        inside = np.zeros(img.shape[:2], np.uint8)
        _poly(inside, inner, (255, 255, 255))
        img[inside > 127] = layer[inside > 127]
    dark = shade * 0.6
    if spec.style == "surgical":
        for k in (0.3, 0.5, 0.7):
            vv = top + (bottom - top) * k
            wd = float(np.maximum(_face_width(vv, look.jaw) * 1.0, 0.55))
            _line(img, f.pts([(-wd, vv), (wd, vv)]), dark, 1)
        _line(img, f.pts([(-0.35, top + 0.05), (0.35, top + 0.05)]), shade * 0.9 + 25, 1.5 * f.px)
    elif spec.style == "kf94":
        _line(img, f.pts([(0, top - peak), (0, bottom)]), dark, 1)
        _line(img, f.pts([(-0.9, (top + bottom) / 2), (0.9, (top + bottom) / 2)]), shade * 0.85, 1)
    loop = (235, 235, 235) if spec.style != "cloth" else shade
    for side in (-1, 1):
        ear = f(side * 1.02, 0.02, feature=False)
        _line(img, [f(side * widths[0] * 0.95, top + 0.1), ear], loop, f.px)
        _line(img, [f(side * widths[-1] * 0.95, bottom - 0.15), ear], loop, f.px)


def _draw_person(look: Look, mask_state: int, mask_index: int, place: str, yaw: float,
                 size: tuple[int, int], rng: np.random.Generator):
    """Person layer and its alpha in the canonical (unwarped) frame."""
    w, h = size
    px = w / 192
    f = _Frame(cx=w * 0.5, cy=h * 0.41, a=look.face_a * w, b=look.face_b * w, yaw=yaw, px=px)
    img = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    skin = np.asarray(look.skin, float)
    front, back, hair = _hair_layer(look, dataclasses.replace(f, yaw=0.0), (h, w))

    # torso with neckline, then back hair, neck, ears and face
    torso_c, torso_ax = (f.cx, f.cy + 1.45 * f.b + 1.5 * f.a), (2.7 * f.a, 1.6 * f.a)
    for target, colour in ((img, look.clothes), (alpha, (255,) * 3)):
        _ellipse(target, torso_c, torso_ax, colour)
        _poly(target, [(torso_c[0] - torso_ax[0], torso_c[1]), (torso_c[0] + torso_ax[0], torso_c[1]),
                       (torso_c[0] + torso_ax[0] * 1.05, h), (torso_c[0] - torso_ax[0] * 1.05, h)],
              colour)
    neck_top = f.cy + 1.45 * f.b + 0.2 * f.a
    if look.neckline == "stripes":
        for yy in np.arange(neck_top, h, 5 * px):
            _line(img, [(0, yy), (w, yy)], look.clothes2, 1.5 * px)
        img[alpha == 0] = 0
    neck = [(f.cx - 0.5 * f.a, f.cy + 0.5 * f.b), (f.cx + 0.5 * f.a, f.cy + 0.5 * f.b),
            (f.cx + 0.55 * f.a, neck_top), (f.cx - 0.55 * f.a, neck_top)]
    if look.neckline == "v":
        _poly(img, [(f.cx - 0.7 * f.a, neck_top - 2), (f.cx + 0.7 * f.a, neck_top - 2),
                    (f.cx, neck_top + 0.9 * f.a)], skin * 0.95)
    elif look.neckline == "collar":
        for side in (-1, 1):
            _poly(img, [(f.cx, neck_top + 0.5 * f.a), (f.cx + side * 0.8 * f.a, neck_top - 3),
                        (f.cx + side * 0.9 * f.a, neck_top + 0.5 * f.a)], look.clothes2)
    else:
        _ellipse(img, (f.cx, neck_top - 1), (0.62 * f.a, 0.35 * f.a), skin * 0.95, start=0, end=180)
    img[back] = hair[back]
    alpha[back] = 255
    for target, colour in ((img, skin * 0.9), (alpha, (255,) * 3)):
        _poly(target, neck, colour)
    _ellipse(img, (f.cx, f.cy + 0.88 * f.b), (0.55 * f.a, 0.25 * f.b), skin * 0.72)  # chin shadow
    ear_v = 0.05
    for side in (-1, 1):
        ear = f(side * (1.0 - 0.12 * side * yaw), ear_v, feature=False)
        for target, colour in ((img, skin * 0.93), (alpha, (255,) * 3)):
            _ellipse(target, ear, (0.15 * f.a, 0.2 * f.b), colour)
    theta = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    sv = np.sin(theta)
    outline = np.stack([np.cos(theta) * (1 - look.jaw * np.clip(sv, 0, 1) ** 1.5), sv], 1)
    face_pts = f.pts(outline, feature=False)
    for target, colour in ((img, skin * 0.86), (alpha, (255,) * 3)):
        _poly(target, face_pts, colour)
    lit = f.pts(outline * [0.86, 0.9] + [-0.05 * np.sign(yaw or 1), -0.04], feature=False)
    _poly(img, lit, skin)

    # skin details that age: wrinkles, crow's feet, bags, spots; young faces: blush
    crease = skin * 0.7
    if look.wrinkle > 0.15:
        k = look.wrinkle
        def wrinkles(layer: np.ndarray) -> None:
            for i in range(1 + int(k * 3)):
                vv = -0.6 + 0.09 * i
                _line(layer, f.pts([(-0.45, vv + 0.02), (0, vv - 0.02), (0.45, vv + 0.02)]),
                      crease, px)
            for side in (-1, 1):
                _line(layer, f.pts([(side * 0.22, 0.28), (side * 0.42, 0.5), (side * 0.45, 0.66)]),
                      crease, px)
                for j in range(int(1 + k * 2)):
                    _line(layer, f.pts([(side * 0.63, -0.12 + 0.04 * (j - 1)),
                                        (side * 0.8, -0.16 + 0.08 * (j - 1))]), crease, px)
        _blend(img, min(0.85, 0.25 + 0.6 * k), wrinkles)
    if look.eye_bags > 0.2:
        _blend(img, 0.5 * look.eye_bags, lambda layer: [
            _ellipse(layer, f(side * 0.42, -0.03), (0.17 * f.a, 0.05 * f.b), skin * 0.72, px,
                     start=0, end=180) for side in (-1, 1)])
    for _ in range(look.spots):
        _ellipse(img, f(rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.1)), (0.8 * px, 0.8 * px),
                 skin * 0.72)
    if look.age < 30 and look.gender == 1:
        _blend(img, 0.25, lambda layer: [
            _ellipse(layer, f(side * 0.5, 0.18), (0.18 * f.a, 0.1 * f.b), (230, 130, 130))
            for side in (-1, 1)])
    if look.stubble > 0:
        _blend(img, look.stubble, lambda layer: _poly(
            layer, f.pts([(-0.9, 0.25), (-0.3, 0.4), (0.3, 0.4), (0.9, 0.25), (0.5, 0.95),
                          (0, 1.0), (-0.5, 0.95)]), skin * 0.62))

    # front hair over the forehead
    img[front] = hair[front]
    alpha[front] = 255

    # eyes, brows, nose, mouth
    eye_v = -0.12
    brow = np.asarray(look.hair, float) * (1 - 0.6 * look.grey) + _SILVER * 0.6 * look.grey
    for side in (-1, 1):
        ex, ey = f(side * 0.4, eye_v)
        _ellipse(img, (ex, ey), (0.19 * f.a, 0.085 * f.a), (238, 236, 232))
        _ellipse(img, (ex + yaw * 0.06 * f.a, ey), (0.085 * f.a, 0.085 * f.a), (70, 48, 36))
        _ellipse(img, (ex + yaw * 0.06 * f.a, ey), (0.04 * f.a, 0.04 * f.a), (10, 10, 10))
        lid = 1.6 * px if look.gender == 1 else px
        _ellipse(img, (ex, ey), (0.2 * f.a, 0.09 * f.a), (35, 28, 26), lid, start=180, end=360)
        arch = look.brow_arch
        _line(img, f.pts([(side * 0.18, eye_v - 0.16), (side * 0.38, eye_v - 0.2 - arch),
                          (side * 0.62, eye_v - 0.17 - arch * 0.5)]),
              brow, look.brow_thick * px)
    _line(img, f.pts([(0.02, eye_v + 0.08), (0.05, 0.3), (-0.02, 0.34)]), skin * 0.68, px)
    for side in (-1, 1):
        _ellipse(img, f(side * 0.1, 0.34), (0.06 * f.a, 0.035 * f.b), skin * 0.5)
    mouth = f(0, 0.58)
    _ellipse(img, mouth, (0.3 * f.a, 0.07 * f.b), look.lips)
    _line(img, [f(-0.29, 0.58), f(0, 0.6), f(0.29, 0.58)], np.asarray(look.lips) * 0.55, px)
    if look.earrings:
        for side in (-1, 1):
            _ellipse(img, f(side * 1.0, 0.22, feature=False), (1.6 * px, 1.6 * px), (235, 200, 90))

    if mask_state != 2:
        spec = look.masks[mask_index if mask_state == 0 else look.incorrect]
        _draw_mask(img, spec, f, look, "worn" if mask_state == 0 else place)
    if look.glasses:
        for side in (-1, 1):
            _ellipse(img, f(side * 0.41, eye_v), (0.3 * f.a, 0.2 * f.a), (30, 30, 30), px)
        _line(img, [f(-0.12, eye_v), f(0.12, eye_v)], (30, 30, 30), px)
    return img, alpha, f


def _occluder(img: np.ndarray, f: _Frame, look: Look, rng: np.random.Generator) -> None:
    """A hand or a phone over part of the face (hard case)."""
    side = rng.choice((-1, 1))
    if rng.random() < 0.5:
        cx, cy = f(side * 0.35, -0.15, feature=False)
        _poly(img, [(cx - 0.6 * f.a, cy - 0.9 * f.a), (cx + 0.6 * f.a, cy - 0.9 * f.a),
                    (cx + 0.6 * f.a, cy + 0.9 * f.a), (cx - 0.6 * f.a, cy + 0.9 * f.a)], (25, 25, 30))
    else:
        cx, cy = f(side * 0.25, -0.05, feature=False)
        _ellipse(img, (cx, cy), (0.55 * f.a, 0.75 * f.a), np.asarray(look.skin) * 0.9,
                 angle=float(side * 20))


def render_photo(look: Look, mask_state: int, rng: np.random.Generator,
                 image_size: tuple[int, int] = (192, 256), *, mask_index: int | None = None,
                 scene: np.ndarray | None = None, shot: Shot | None = None) -> np.ndarray:
    """One RGB uint8 photo [H, W, 3] of `look` in mask state 0 (worn), 1 (incorrect: under the
    nose or on the chin) or 2 (none), with pose, scale and lighting jitter drawn from `rng`.
    `mask_index` picks which of the person's five masks is worn (random when None); `shot` adds
    the session's room, light and camera (`session.sample_shots`; None = none of them)."""
    w, h = image_size
    margin = int(round(0.05 * w))
    if scene is None:
        room = look.scene_seed if shot is None or shot.room is None else shot.room
        scene = render_scene(room, (w + 2 * margin, h + 2 * margin))
    ox, oy = rng.integers(0, 2 * margin + 1, 2)
    out = scene[oy:oy + h, ox:ox + w].astype(np.float32)

    yaw = float(rng.uniform(-0.3, 0.3))
    place = str(rng.choice(("nose", "chin")))
    index = int(rng.integers(5)) if mask_index is None else mask_index
    person, alpha, f = _draw_person(look, mask_state, index, place, yaw, image_size, rng)
    roll = float(np.clip(rng.normal(0, 4), -10, 10))
    scale = float(rng.uniform(0.9, 1.1))
    tx, ty = rng.normal(0, 0.03 * w), rng.normal(0, 0.02 * h)
    if look.hard == "small":
        scale *= rng.uniform(0.42, 0.52)
        tx, ty = rng.uniform(-0.25, 0.25) * w, rng.uniform(-0.1, 0.15) * h
    elif look.hard == "off_centre":
        tx, ty = rng.choice((-1, 1)) * rng.uniform(0.34, 0.42) * w, rng.uniform(-0.05, 0.1) * h
    if shot is not None and (shot.scale != 1 or shot.roll or any(shot.shift)):
        roll, scale = roll + shot.roll, scale * shot.scale
        tx, ty = tx + shot.shift[0] * w, ty + shot.shift[1] * h
    m = cv2.getRotationMatrix2D((f.cx, f.cy + 1.3 * f.b), roll, scale)
    m[:, 2] += (tx, ty)
    person = cv2.warpAffine(person, m, (w, h), flags=cv2.INTER_LINEAR)
    a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None]
    out = out * (1 - a / 255) + person.astype(np.float32) * (a / 255)
    if look.hard == "occluded":
        warped = _Frame(*(m @ [f.cx, f.cy, 1]), f.a * scale, f.b * scale, 0.0, f.px)
        layer = out.astype(np.uint8)
        _occluder(layer, warped, look, rng)
        out = layer.astype(np.float32)

    # lighting: exposure, colour cast, side light, sensor noise, lens softness
    gain = rng.uniform(0.2, 0.32) if look.hard == "dark" else rng.uniform(0.82, 1.15)
    cast = rng.normal(1, 0.04, 3).astype(np.float32)
    side = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-0.15, 0.15)
    out = out * (gain * cast) * (1 + side)
    if shot is not None:
        out = _light(out, shot)
    out += rng.standard_normal((h, w, 1), dtype=np.float32) * (  # luminance noise
        5 if look.hard == "dark" else rng.uniform(1, 3.5))
    sigma = (rng.uniform(2.2, 3.2) if look.hard == "blurred" else rng.uniform(0.5, 0.9)) * w / 192
    out = cv2.GaussianBlur(np.clip(out, 0, 255).astype(np.uint8), (0, 0), sigma)
    return out if shot is None else _camera(out, shot)


def photo_rng(seed: int, person: Person, stem: str) -> np.random.Generator:
    return rng_for(seed, person.split, person.index, 2, STEMS.index(stem))


def render_person(person: Person, *, seed: int = 0, image_size: tuple[int, int] = (192, 256),
                  look: Look | None = None, shots: dict[str, Shot] | None = None,
                  mask_states: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The seven photos of `person` keyed by stem, showing the TRUE mask state of each stem
    (`look`: draw somebody else's appearance, e.g. a duplicate's original; `shots`: each photo's
    room, light and camera; `mask_states`: stems photographed in another mask state than their
    name says, a single wrong photo)."""
    look = sample_look(person, seed) if look is None else look
    w, h = image_size
    margin = int(round(0.05 * w))
    shots, mask_states = shots or {}, mask_states or {}
    scenes: dict[int, np.ndarray] = {}

    def scene(stem: str) -> np.ndarray:
        shot = shots.get(stem)
        room = look.scene_seed if shot is None or shot.room is None else shot.room
        if room not in scenes:
            scenes[room] = render_scene(room, (w + 2 * margin, h + 2 * margin))
        return scenes[room]

    return {stem: render_photo(look, mask_states.get(stem, MASK_FILES[stem]), photo_rng(seed, person, stem),
                               image_size, mask_index=min(i, 4), scene=scene(stem), shot=shots.get(stem))
            for i, stem in enumerate(STEMS)}


# ----------------------------------------------------------------------------- dataset
