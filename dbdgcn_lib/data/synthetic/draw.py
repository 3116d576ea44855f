"""Drawing the synthetic scenes: one painter per object shape, one background per scene, and
``render_image`` which lays out and draws one image.

Every painter draws one object filling the box ``(x0, y0, x1, y1)`` in canvas pixels, taking its
colours from the image's random stream.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from dbdgcn_lib.data.synthetic.design import CATEGORIES, SCENES, Category

SUPERSAMPLE = 2  # draw at twice the size, then reduce: smooth edges for free
PLAIN_BACKGROUND = (215, 215, 215)  # light neutral grey, well above the grey of the look-alike blobs
BACKGROUNDS = ("scene", "plain")

Box = tuple[float, float, float, float]


def _colour(rng: np.random.Generator, base: tuple[int, int, int], spread: int = 18) -> tuple[int, ...]:
    jitter = rng.integers(-spread, spread + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(base) + jitter, 0, 255))


def _pick(rng: np.random.Generator, palette: list[tuple[int, int, int]]) -> tuple[int, ...]:
    return _colour(rng, palette[int(rng.integers(len(palette)))])


BRIGHT = [(200, 40, 40), (40, 90, 200), (240, 190, 30), (40, 150, 70), (150, 60, 170), (240, 120, 30)]


def _line_width(h: float, fraction: float) -> int:
    return max(1, round(h * fraction))


def _draw_person(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    skin = _pick(rng, [(240, 200, 160), (200, 150, 110), (140, 95, 60)])
    shirt, trousers = _pick(rng, BRIGHT), _colour(rng, (50, 50, 80))
    d.rectangle((x0 + 0.15 * w, y0 + 0.6 * h, cx - 0.03 * w, y1), fill=trousers)
    d.rectangle((cx + 0.03 * w, y0 + 0.6 * h, x1 - 0.15 * w, y1), fill=trousers)
    d.rectangle((x0 + 0.12 * w, y0 + 0.24 * h, x1 - 0.12 * w, y0 + 0.62 * h), fill=shirt)
    d.rectangle((x0, y0 + 0.26 * h, x0 + 0.12 * w, y0 + 0.55 * h), fill=skin)
    d.rectangle((x1 - 0.12 * w, y0 + 0.26 * h, x1, y0 + 0.55 * h), fill=skin)
    d.ellipse((cx - 0.12 * h, y0, cx + 0.12 * h, y0 + 0.24 * h), fill=skin)


def _draw_bicycle(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    r = min(0.26 * w, 0.42 * h)
    frame, width = _pick(rng, BRIGHT), _line_width(h, 0.07)
    rear, front = (x0 + r, y1 - r), (x1 - r, y1 - r)
    pedal, seat, bars = (x0 + 0.48 * w, y1 - r), (x0 + 0.38 * w, y0 + 0.2 * h), (x1 - 0.3 * w, y0 + 0.12 * h)
    for hub in (rear, front):
        d.ellipse((hub[0] - r, hub[1] - r, hub[0] + r, hub[1] + r), outline=(30, 30, 30), width=width)
    d.line([rear, pedal, bars, front], fill=frame, width=width)
    d.line([rear, seat, pedal], fill=frame, width=width)
    d.line([seat, (seat[0] + 0.45 * (bars[0] - seat[0]), bars[1] + 0.1 * h)], fill=frame, width=width)


def _draw_car(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = _pick(rng, BRIGHT)
    d.polygon(
        [
            (x0 + 0.2 * w, y0 + 0.42 * h),
            (x0 + 0.3 * w, y0),
            (x0 + 0.7 * w, y0),
            (x0 + 0.82 * w, y0 + 0.42 * h),
        ],
        fill=body,
    )
    d.polygon(
        [
            (x0 + 0.27 * w, y0 + 0.4 * h),
            (x0 + 0.34 * w, y0 + 0.1 * h),
            (x0 + 0.66 * w, y0 + 0.1 * h),
            (x0 + 0.75 * w, y0 + 0.4 * h),
        ],
        fill=(170, 210, 235),
    )
    d.rectangle((x0, y0 + 0.4 * h, x1, y1 - 0.18 * h), fill=body)
    r = 0.2 * h
    for cx in (x0 + 0.22 * w, x1 - 0.22 * w):
        d.ellipse((cx - r, y1 - 2 * r, cx + r, y1), fill=(25, 25, 25))


def _draw_traffic_light(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle((cx - 0.1 * w, y0 + 0.6 * h, cx + 0.1 * w, y1), fill=_colour(rng, (110, 110, 110)))
    d.rectangle((x0, y0, x1, y0 + 0.62 * h), fill=_colour(rng, (35, 35, 35), 8))
    r = min(0.32 * w, 0.085 * h)
    for fy, lamp in ((0.11, (230, 40, 30)), (0.31, (245, 200, 40)), (0.51, (40, 200, 80))):
        cy = y0 + fy * h
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=lamp)


def _draw_bench(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    wood, iron = _colour(rng, (150, 95, 50)), _colour(rng, (45, 45, 45), 8)
    d.rectangle((x0 + 0.08 * w, y0, x0 + 0.14 * w, y1), fill=iron)
    d.rectangle((x1 - 0.14 * w, y0, x1 - 0.08 * w, y1), fill=iron)
    for top, bottom in ((0.0, 0.14), (0.2, 0.34), (0.48, 0.64)):
        d.rectangle((x0, y0 + top * h, x1, y0 + bottom * h), fill=wood)


def _draw_tree(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle((cx - 0.1 * w, y0 + 0.55 * h, cx + 0.1 * w, y1), fill=_colour(rng, (110, 70, 35)))
    crown = _pick(rng, [(40, 120, 40), (70, 150, 50), (30, 95, 55)])
    if rng.random() < 0.5:
        d.ellipse((x0, y0, x1, y0 + 0.7 * h), fill=crown)
    else:
        d.polygon([(cx, y0), (x1, y0 + 0.72 * h), (x0, y0 + 0.72 * h)], fill=crown)


def _draw_bird(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    plumage = _pick(rng, [(60, 60, 70), (120, 80, 50), (50, 80, 160)])
    d.polygon([(x0, y0 + 0.35 * h), (x0 + 0.25 * w, y0 + 0.55 * h), (x0, y0 + 0.75 * h)], fill=plumage)
    d.ellipse((x0 + 0.12 * w, y0 + 0.35 * h, x1 - 0.2 * w, y1 - 0.05 * h), fill=plumage)
    hx, hy, r = x1 - 0.28 * w, y0 + 0.3 * h, 0.22 * h
    d.ellipse((hx - r, hy - r, hx + r, hy + r), fill=plumage)
    d.polygon(
        [(hx + 0.8 * r, hy - 0.3 * r), (x1, hy + 0.1 * r), (hx + 0.8 * r, hy + 0.5 * r)], fill=(240, 150, 30)
    )
    d.polygon(
        [(x0 + 0.3 * w, y0 + 0.5 * h), (x0 + 0.55 * w, y0), (x0 + 0.62 * w, y0 + 0.55 * h)],
        fill=_colour(rng, (30, 30, 35), 8),
    )


def _draw_blob(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    """A grey rounded blob: a computer mouse in an office, a stone outdoors."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    grey = int(rng.integers(105, 176))
    d.ellipse(box, fill=(grey, grey, grey + 4), outline=(grey - 45,) * 3, width=_line_width(h, 0.09))
    d.ellipse((x0 + 0.2 * w, y0 + 0.18 * h, x0 + 0.45 * w, y0 + 0.4 * h), fill=(min(grey + 50, 255),) * 3)


def _draw_umbrella(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    handle = _colour(rng, (60, 45, 35), 8)
    width = _line_width(w, 0.06)
    d.line([(cx, y0 + 0.4 * h), (cx, y1 - 0.12 * h)], fill=handle, width=width)
    d.arc((cx - 0.2 * w, y1 - 0.25 * h, cx, y1), 0, 180, fill=handle, width=width)
    colours = [_pick(rng, BRIGHT), (245, 245, 240)]
    for k in range(4):
        d.pieslice((x0, y0, x1, y0 + 0.9 * h), 180 + 45 * k, 225 + 45 * k, fill=colours[k % 2])


def _draw_ball(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    colours = [(220, 40, 40), (245, 245, 245), (40, 90, 210), (250, 210, 40)]
    start = float(rng.integers(0, 60))
    for k in range(6):
        d.pieslice(box, start + 60 * k, start + 60 * (k + 1), fill=colours[k % 4])


def _draw_bottle(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    glass = _pick(rng, [(40, 120, 60), (120, 70, 30), (60, 110, 190)])
    d.rectangle((x0, y0 + 0.38 * h, x1, y1), fill=glass)
    d.polygon(
        [
            (x0 + 0.3 * w, y0 + 0.22 * h),
            (x1 - 0.3 * w, y0 + 0.22 * h),
            (x1, y0 + 0.4 * h),
            (x0, y0 + 0.4 * h),
        ],
        fill=glass,
    )
    d.rectangle((x0 + 0.3 * w, y0 + 0.06 * h, x1 - 0.3 * w, y0 + 0.24 * h), fill=glass)
    d.rectangle((x0 + 0.26 * w, y0, x1 - 0.26 * w, y0 + 0.08 * h), fill=_pick(rng, BRIGHT))
    d.rectangle((x0 + 0.1 * w, y0 + 0.55 * h, x1 - 0.1 * w, y0 + 0.75 * h), fill=(235, 230, 210))


def _draw_cup(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    china = _pick(rng, [(245, 245, 240), (200, 60, 60), (70, 110, 190)])
    d.ellipse((x1 - 0.42 * w, y0 + 0.25 * h, x1, y0 + 0.72 * h), outline=china, width=_line_width(h, 0.12))
    d.polygon(
        [(x0, y0 + 0.08 * h), (x1 - 0.25 * w, y0 + 0.08 * h), (x1 - 0.33 * w, y1), (x0 + 0.08 * w, y1)],
        fill=china,
    )
    d.ellipse((x0, y0, x1 - 0.25 * w, y0 + 0.16 * h), fill=(90, 60, 40))


def _draw_knife(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.rectangle(
        (x0, y0 + 0.25 * h, x0 + 0.36 * w, y1 - 0.1 * h), fill=_pick(rng, [(30, 30, 30), (110, 65, 30)])
    )
    d.polygon(
        [(x0 + 0.36 * w, y0), (x1 - 0.12 * w, y0 + 0.15 * h), (x1, y1), (x0 + 0.36 * w, y1)],
        fill=_colour(rng, (205, 208, 215), 10),
    )


def _draw_banana(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    yellow = _colour(rng, (245, 210, 40), 12)
    d.arc((x0, y1 - 2.0 * h, x1, y1), 20, 160, fill=yellow, width=max(2, round(0.5 * h)))
    d.ellipse((x0 + 0.04 * (x1 - x0), y0 + 0.25 * h, x0 + 0.12 * (x1 - x0), y0 + 0.5 * h), fill=(90, 60, 20))


def _draw_apple(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.line([(cx, y0 + 0.25 * h), (cx + 0.06 * w, y0)], fill=(100, 60, 20), width=_line_width(w, 0.08))
    d.ellipse((cx + 0.05 * w, y0, cx + 0.38 * w, y0 + 0.16 * h), fill=(60, 160, 50))
    d.ellipse((x0, y0 + 0.14 * h, x1, y1), fill=_colour(rng, (205, 30, 35), 15))


def _draw_laptop(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    frame = _pick(rng, [(50, 50, 55), (180, 180, 185)])
    d.rectangle((x0 + 0.1 * w, y0, x1 - 0.1 * w, y0 + 0.72 * h), fill=frame)
    d.rectangle(
        (x0 + 0.16 * w, y0 + 0.07 * h, x1 - 0.16 * w, y0 + 0.64 * h), fill=_colour(rng, (70, 140, 210))
    )
    d.polygon(
        [(x0 + 0.1 * w, y0 + 0.72 * h), (x1 - 0.1 * w, y0 + 0.72 * h), (x1, y1), (x0, y1)],
        fill=_colour(rng, (160, 160, 165), 10),
    )


def _draw_keyboard(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.rectangle(box, fill=_colour(rng, (55, 55, 60), 10))
    key = _colour(rng, (200, 200, 205), 10)
    rows, cols = 3, 10
    kw, kh = w / cols, h / rows
    for row in range(rows):
        for col in range(cols):
            left, top = x0 + col * kw, y0 + row * kh
            d.rectangle((left + 0.2 * kw, top + 0.2 * kh, left + 0.8 * kw, top + 0.8 * kh), fill=key)


def _draw_book(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cover = np.array(_pick(rng, BRIGHT))
    d.rectangle(box, fill=tuple(int(v) for v in cover))
    d.rectangle((x0, y0, x0 + 0.16 * w, y1), fill=tuple(int(v) for v in cover * 0.6))
    d.rectangle((x1 - 0.1 * w, y0 + 0.04 * h, x1, y1 - 0.04 * h), fill=(240, 235, 220))
    d.rectangle((x0 + 0.3 * w, y0 + 0.2 * h, x1 - 0.22 * w, y0 + 0.3 * h), fill=(240, 235, 220))


def _draw_clock(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, h / 2
    d.ellipse(
        box,
        fill=(250, 250, 245),
        outline=_pick(rng, [(30, 30, 30), (150, 40, 40)]),
        width=_line_width(h, 0.09),
    )
    for length, angle in ((0.5, rng.uniform(0, 2 * np.pi)), (0.8, rng.uniform(0, 2 * np.pi))):
        tip = (cx + length * r * np.sin(angle), cy - length * r * np.cos(angle))
        d.line([(cx, cy), tip], fill=(20, 20, 20), width=_line_width(h, 0.07))


DRAW: dict[str, Callable[[ImageDraw.ImageDraw, Box, np.random.Generator], None]] = {
    "person": _draw_person,
    "bicycle": _draw_bicycle,
    "car": _draw_car,
    "traffic_light": _draw_traffic_light,
    "bench": _draw_bench,
    "tree": _draw_tree,
    "bird": _draw_bird,
    "blob": _draw_blob,
    "umbrella": _draw_umbrella,
    "ball": _draw_ball,
    "bottle": _draw_bottle,
    "cup": _draw_cup,
    "knife": _draw_knife,
    "banana": _draw_banana,
    "apple": _draw_apple,
    "laptop": _draw_laptop,
    "keyboard": _draw_keyboard,
    "book": _draw_book,
    "clock": _draw_clock,
}


def _draw_background(d: ImageDraw.ImageDraw, scene: str, size: int, rng: np.random.Generator) -> None:
    """Paint the scene's context: sky/road, tiled wall/counter, wall/desk, sky/grass, sky/sea/sand."""
    s = size

    def band(top: float, bottom: float, base: tuple[int, int, int], spread: int = 12) -> None:
        d.rectangle((0, top * s, s, bottom * s), fill=_colour(rng, base, spread))

    if scene == "street":
        band(0, 0.45, (170, 200, 230))
        for _ in range(int(rng.integers(3, 6))):
            left, width, height = (
                rng.uniform(-0.1, 0.9) * s,
                rng.uniform(0.15, 0.3) * s,
                rng.uniform(0.1, 0.3),
            )
            d.rectangle(
                (left, (0.45 - height) * s, left + width, 0.45 * s), fill=_colour(rng, (150, 140, 135), 25)
            )
        band(0.45, 0.55, (175, 170, 160))
        band(0.55, 1.0, (80, 80, 85), 8)
        for left in np.arange(rng.uniform(0, 0.2), 1.0, 0.25):
            d.rectangle((left * s, 0.77 * s, (left + 0.12) * s, 0.79 * s), fill=(235, 235, 235))
    elif scene == "kitchen":
        band(0, 0.6, (235, 225, 200))
        line = _colour(rng, (200, 190, 170), 8)
        for k in range(1, 8):
            d.line([(k * s / 8, 0), (k * s / 8, 0.6 * s)], fill=line, width=max(1, s // 128))
            d.line([(0, k * 0.6 * s / 8), (s, k * 0.6 * s / 8)], fill=line, width=max(1, s // 128))
        band(0.6, 1.0, (150, 110, 70))
        band(0.6, 0.63, (110, 80, 50), 6)
    elif scene == "office":
        band(0, 0.55, (200, 210, 222), 10)
        left = rng.uniform(0.05, 0.6) * s
        d.rectangle((left, 0.08 * s, left + 0.3 * s, 0.4 * s), fill=_colour(rng, (185, 225, 245), 8))
        band(0.55, 1.0, (185, 155, 115))
    elif scene == "park":
        band(0, 0.35, (160, 205, 238))
        band(0.35, 1.0, (95, 165, 80), 15)
        grass = _colour(rng, (60, 125, 55), 10)
        for x, y in rng.uniform(0, 1, size=(12, 2)):
            top = 0.38 + 0.6 * y
            d.line(
                [(x * s, top * s), (x * s + 0.01 * s, (top - 0.03) * s)], fill=grass, width=max(1, s // 128)
            )
    elif scene == "beach":
        band(0, 0.3, (165, 210, 240))
        band(0.3, 0.5, (40, 110, 180), 15)
        d.line([(0, 0.47 * s), (s, 0.47 * s)], fill=(235, 240, 245), width=max(1, s // 100))
        band(0.5, 1.0, (228, 208, 155))
    else:
        raise ValueError(f"no background for scene {scene!r}")


def _object_box(rng: np.random.Generator, category: Category, canvas: int) -> tuple[float, float]:
    """Width and height (canvas pixels): mostly small, some medium, a few large objects."""
    u = rng.random()
    low, high = (0.08, 0.16) if u < 0.6 else (0.16, 0.3) if u < 0.9 else (0.3, 0.45)
    longest = min(rng.uniform(low, high) * category.scale, 0.6) * canvas
    if category.aspect >= 1:
        return longest, max(longest / category.aspect, 0.03 * canvas)
    return max(longest * category.aspect, 0.03 * canvas), longest


def _place(
    rng: np.random.Generator, category: Category, canvas: int, placed: list[Box], tries: int = 8
) -> Box:
    """A box inside the margins, centre in the category's band, overlapping earlier boxes least."""
    w, h = _object_box(rng, category, canvas)
    margin = 0.05 * canvas
    best, best_overlap = None, np.inf
    for _ in range(tries):
        x0 = rng.uniform(margin, max(margin, canvas - margin - w))
        cy = rng.uniform(*category.band) * canvas
        y0 = float(np.clip(cy - h / 2, margin, max(margin, canvas - margin - h)))
        box = (x0, y0, x0 + w, y0 + h)
        overlap = max((_overlap(box, other) for other in placed), default=0.0)
        if overlap < best_overlap:
            best, best_overlap = box, overlap
        if overlap < 0.2:
            break
    return best


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def render_image(
    rng: np.random.Generator,
    scene: int,
    categories: list[int],
    image_size: int,
    *,
    background: str = "scene",
    background_rng: np.random.Generator | None = None,
) -> tuple[Image.Image, list[tuple[int, Box]]]:
    """Draw one scene with 1-3 instances of each category index.

    Returns the RGB image (image_size x image_size) and ``(category index, (x, y, w, h))`` per
    instance in image pixels. Large objects are drawn first so that small ones stay visible.
    ``background="plain"`` puts the objects on ``PLAIN_BACKGROUND`` instead of the scene's background;
    the name of a scene (``"beach"``) puts them on that scene's background, drawn from
    ``background_rng``. Either way the scene's own background is still drawn first (then covered), so
    the random stream, and with it every object, is exactly that of the scene image.
    """
    scene_names = [s.name for s in SCENES]
    if background not in BACKGROUNDS and background not in scene_names:
        raise ValueError(
            f"background must be one of {', '.join(BACKGROUNDS + tuple(scene_names))}, got {background!r}"
        )
    if background in scene_names and background_rng is None:
        raise ValueError(f"the {background} background needs its own random stream (background_rng)")
    canvas = image_size * SUPERSAMPLE
    image = Image.new("RGB", (canvas, canvas))
    d = ImageDraw.Draw(image)
    _draw_background(d, SCENES[scene].name, canvas, rng)
    if background == "plain":
        d.rectangle((0, 0, canvas, canvas), fill=PLAIN_BACKGROUND)
    elif background != "scene":
        _draw_background(d, background, canvas, background_rng)
    instances: list[tuple[int, Box]] = []
    for k in categories:
        for _ in range(1 + int(rng.binomial(2, 0.25))):
            instances.append((k, _place(rng, CATEGORIES[k], canvas, [box for _, box in instances])))
    instances.sort(key=lambda item: -(item[1][2] - item[1][0]) * (item[1][3] - item[1][1]))
    for k, box in instances:
        DRAW[CATEGORIES[k].shape](d, box, rng)
    image = image.reduce(SUPERSAMPLE)
    s = 1.0 / SUPERSAMPLE
    return image, [(k, (b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s)) for k, b in instances]
