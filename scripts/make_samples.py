"""Generate the procedural sample media in ``sample_videos/``.

Everything is synthesised here from fixed seeds: no external media is read, and two runs
produce byte-identical files.

* ``valley.mp4``: 75 frames at exactly 30000/1001 fps (2.5025 s), 320x180, H.264 yuv420p,
  with a 48 kHz stereo AAC track of the same length. A landscape pans and zooms with
  parallax (sky, mountains, hills with houses, trees and a turning windmill, a meadow with
  a road and fence) while a car drives right along the road and a striped ball bounces
  left across the foreground, occluding everything behind it.
* ``stained_glass.png``: a 384x384 style image, a stained-glass window made of Voronoi
  cells in a saturated palette with brushed, streaky glass and dark lead outlines.

Usage::

    python scripts/make_samples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "sample_videos"

VIDEO_NAME = "valley.mp4"
STYLE_NAME = "stained_glass.png"

# Video properties.
WIDTH, HEIGHT = 320, 180
FPS_NUM, FPS_DEN = 30000, 1001
N_FRAMES = 75
CRF = 20
SS = 2  # supersampling factor: frames are drawn at 2x and area-downsampled
CW, CH = WIDTH * SS, HEIGHT * SS  # drawing canvas
LAYER_W = 960  # width of each parallax layer on the canvas scale

# Audio properties: exactly as long as the video (75 * 1001 / 30000 s = 120120 samples).
SAMPLE_RATE = 48000
N_SAMPLES = N_FRAMES * FPS_DEN * SAMPLE_RATE // FPS_NUM

# Camera: the nearest layer pans this many canvas pixels over the clip; zoom grows to 1+ZOOM.
PAN = 260.0
ZOOM = 0.08

STYLE_SIZE = 384


# ---------------------------------------------------------------------------------------
# Noise helpers
# ---------------------------------------------------------------------------------------


def value_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1] with features about ``cell`` pixels across."""
    gh, gw = h // cell + 4, w // cell + 4
    grid = rng.random((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(up[cell : cell + h, cell : cell + w], 0.0, 1.0)


def fbm(rng: np.random.Generator, h: int, w: int, cell: int, octaves: int = 4) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1]."""
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += amp * value_noise(rng, h, w, max(cell, 1))
        norm += amp
        amp *= 0.5
        cell //= 2
    total /= norm
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def ridge(rng: np.random.Generator, w: int, cell: int, octaves: int = 4) -> np.ndarray:
    """1-D fractal noise in [-1, 1] (a skyline profile)."""
    return fbm(rng, 1, w, cell, octaves)[0] * 2.0 - 1.0


def rgba_layer(h: int, w: int) -> np.ndarray:
    """Empty premultiplied RGBA float layer."""
    return np.zeros((h, w, 4), np.float32)


def put_rgb(layer: np.ndarray, mask: np.ndarray, rgb: np.ndarray) -> None:
    """Paint ``rgb`` (HxWx3 or 3, values in [0,1]) opaquely where ``mask`` (HxW in [0,1])."""
    m = mask[..., None]
    layer[..., :3] = layer[..., :3] * (1.0 - m) + rgb * m
    layer[..., 3] = layer[..., 3] * (1.0 - mask) + mask


def col(r: int, g: int, b: int) -> tuple[float, float, float, float]:
    """Opaque premultiplied RGBA colour for cv2 drawing on a float layer."""
    return (r / 255.0, g / 255.0, b / 255.0, 1.0)


# ---------------------------------------------------------------------------------------
# Landscape layers (each LAYER_W x CH, premultiplied RGBA)
# ---------------------------------------------------------------------------------------


def make_sky(rng: np.random.Generator) -> np.ndarray:
    h, w = CH, LAYER_W
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (yy / (h * 0.62)).clip(0, 1)[..., None]
    top = np.array([0.16, 0.34, 0.70], np.float32)
    horizon = np.array([0.98, 0.76, 0.55], np.float32)
    sky = top * (1 - t) ** 1.3 + horizon * (1 - (1 - t) ** 1.3)

    # Sun with a warm glow.
    sx, sy, sr = 520.0, 96.0, 26.0
    d = np.sqrt((xx - sx) ** 2 + (yy - sy) ** 2)
    glow = np.exp(-((d / 110.0) ** 2))[..., None]
    sky = sky + glow * np.array([0.35, 0.22, 0.05], np.float32)
    disc = np.clip(sr + 1.0 - d, 0, 1)[..., None]
    sky = sky * (1 - disc) + disc * np.array([1.0, 0.95, 0.70], np.float32)

    # Cumulus clouds: thresholded fractal noise, thicker towards the top.
    n = fbm(rng, h, w, 96, octaves=5)
    shade = fbm(rng, h, w, 24, octaves=3)
    density = np.clip((n - 0.52) * 4.0, 0, 1) * np.clip(1.2 - yy / (h * 0.55), 0, 1)
    cloud = (0.80 + 0.20 * shade)[..., None] * np.array([1.0, 0.97, 0.95], np.float32)
    a = (density * 0.9)[..., None]
    sky = sky * (1 - a) + cloud * a

    layer = rgba_layer(h, w)
    layer[..., :3] = np.clip(sky, 0, 1)
    layer[..., 3] = 1.0
    return layer


def make_mountains(rng: np.random.Generator) -> np.ndarray:
    h, w = CH, LAYER_W
    prof = ridge(rng, w, 220, octaves=5)
    top = 150.0 + 45.0 * prof  # ridge height per column
    yy = np.arange(h, dtype=np.float32)[:, None]
    mask = np.clip(yy - top[None, :] + 0.5, 0, 1)

    tex = fbm(rng, h, w, 40, octaves=4)
    strata = fbm(rng, h, w, 12, octaves=2)
    base = np.array([0.42, 0.45, 0.66], np.float32)
    rgb = base * (0.78 + 0.30 * tex[..., None] + 0.10 * strata[..., None])
    # Snow caps on the higher peaks, broken up by noise.
    depth = yy - top[None, :]
    snow = np.clip((18.0 - depth + 14.0 * (tex - 0.5)) / 4.0, 0, 1) * np.clip(
        (135.0 - top[None, :]) / 10.0, 0, 1
    )
    rgb = rgb * (1 - snow[..., None]) + snow[..., None] * np.array([0.93, 0.94, 0.98])
    # Atmospheric haze towards the valley floor.
    haze = np.clip((yy - 170.0) / 90.0, 0, 0.5)[..., None]
    rgb = rgb * (1 - haze) + haze * np.array([0.85, 0.75, 0.72], np.float32)

    layer = rgba_layer(h, w)
    put_rgb(layer, mask.astype(np.float32), rgb.astype(np.float32))
    return layer


def draw_tree(layer: np.ndarray, rng: np.random.Generator, x: float, y: float, s: float) -> None:
    trunk = col(90, 60, 35)
    cv2.rectangle(layer, (int(x - s * 0.12), int(y - s * 0.9)), (int(x + s * 0.12), int(y)), trunk,
                  -1)
    g = rng.uniform(0.75, 1.1)
    dark = col(int(25 * g), int(95 * g), int(35 * g))
    light = col(int(70 * g), int(150 * g), int(55 * g))
    if rng.random() < 0.5:  # round deciduous crown with a highlight
        cv2.circle(layer, (int(x), int(y - s * 1.3)), int(s * 0.75), dark, -1, cv2.LINE_AA)
        cv2.circle(layer, (int(x - s * 0.2), int(y - s * 1.5)), int(s * 0.4), light, -1,
                   cv2.LINE_AA)
    else:  # conifer: stacked triangles
        for k in range(3):
            yb = y - s * (0.5 + 0.5 * k)
            half = s * (0.75 - 0.18 * k)
            pts = np.array([[x - half, yb], [x + half, yb], [x, yb - s * 0.9]], np.int32)
            cv2.fillPoly(layer, [pts], dark if k % 2 == 0 else light, cv2.LINE_AA)


def draw_house(layer: np.ndarray, rng: np.random.Generator, x: float, y: float, s: float) -> None:
    walls = [col(236, 226, 200), col(220, 190, 150), col(250, 240, 230), col(200, 90, 70)]
    roofs = [col(170, 50, 40), col(110, 60, 45), col(60, 70, 110)]
    wall = walls[int(rng.integers(len(walls)))]
    roof = roofs[int(rng.integers(len(roofs)))]
    w2, hh = s * rng.uniform(0.8, 1.2), s * rng.uniform(0.8, 1.1)
    x0, x1, y0 = int(x - w2), int(x + w2), int(y - hh)
    cv2.rectangle(layer, (x0, y0), (x1, int(y)), wall, -1)
    pts = np.array([[x0 - 4, y0], [x1 + 4, y0], [int(x), int(y0 - s * 0.8)]], np.int32)
    cv2.fillPoly(layer, [pts], roof, cv2.LINE_AA)
    win = col(60, 70, 95)
    ww = max(3, int(s * 0.22))
    for wx in (x - w2 * 0.55, x + w2 * 0.25):
        cv2.rectangle(layer, (int(wx), int(y - hh * 0.7)), (int(wx) + ww, int(y - hh * 0.7) + ww),
                      win, -1)
    cv2.rectangle(layer, (int(x - w2 * 0.05), int(y - hh * 0.5)), (int(x + w2 * 0.2), int(y)),
                  col(100, 60, 40), -1)


WINDMILL_X = 430  # windmill position on the hills layer; the hub sits above the ridge there


def make_hills(rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
    """Hills layer and the windmill hub position on it."""
    h, w = CH, LAYER_W
    prof = ridge(rng, w, 260, octaves=4)
    top = 205.0 + 22.0 * prof
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.clip(yy - top[None, :] + 0.5, 0, 1)

    # Patchwork fields: bands bent by noise, each with its own tint, plus fine texture.
    warp = fbm(rng, h, w, 120, octaves=3)
    band = np.floor((xx * 0.6 + yy * 2.2 + 180.0 * warp) / 55.0).astype(np.int32) % 5
    tints = np.array(
        [[0.36, 0.60, 0.24], [0.50, 0.66, 0.27], [0.68, 0.66, 0.30], [0.30, 0.52, 0.22],
         [0.58, 0.72, 0.34]],
        np.float32,
    )
    fine = fbm(rng, h, w, 8, octaves=2)
    rows = 0.92 + 0.08 * np.sin((xx * 0.9 + yy * 3.0 + 30 * warp) * 0.9)
    rgb = tints[band] * (0.80 + 0.35 * fine[..., None]) * rows[..., None]

    layer = rgba_layer(h, w)
    put_rgb(layer, mask.astype(np.float32), rgb.astype(np.float32))

    # Hedgerows / trees and houses along the hills.
    for x in np.sort(rng.uniform(10, w - 10, 46)):
        if abs(x - WINDMILL_X) < 30:
            continue
        y = top[int(x)] + rng.uniform(4, 40)
        if rng.random() < 0.3:
            draw_house(layer, rng, x, y, rng.uniform(9, 13))
        else:
            draw_tree(layer, rng, x, y, rng.uniform(7, 12))

    # Windmill tower (blades are drawn per frame).
    hx = float(WINDMILL_X)
    base_y = float(top[WINDMILL_X]) + 14
    hy = base_y - 58
    tower = np.array([[hx - 12, base_y], [hx + 12, base_y], [hx + 6, hy], [hx - 6, hy]], np.int32)
    cv2.fillPoly(layer, [tower], col(235, 232, 225), cv2.LINE_AA)
    cv2.line(layer, (int(hx - 9), int(base_y - 14)), (int(hx + 9), int(base_y - 14)),
             col(150, 70, 50), 2)
    cv2.rectangle(layer, (int(hx - 3), int(base_y - 9)), (int(hx + 3), int(base_y)),
                  col(90, 60, 40), -1)
    return layer, (hx, hy)


def draw_windmill_blades(layer: np.ndarray, hub: tuple[float, float], angle: float) -> None:
    hx, hy = hub
    for k in range(4):
        a = angle + k * math.pi / 2
        c, s = math.cos(a), math.sin(a)
        # A sail: a long thin quad offset to one side of the spar.
        along = np.array([c, s])
        side = np.array([-s, c])
        p0 = np.array([hx, hy]) + along * 6
        p1 = np.array([hx, hy]) + along * 46
        sail = np.array([p0, p1, p1 + side * 11, p0 + side * 9], np.float32)
        cv2.fillPoly(layer, [sail.astype(np.int32)], col(245, 240, 230), cv2.LINE_AA)
        cv2.line(layer, tuple(int(v) for v in p0), tuple(int(v) for v in p1), col(70, 50, 40), 2,
                 cv2.LINE_AA)
        # Lattice rungs across the sail: texture that makes the rotation trackable.
        for f in (0.3, 0.55, 0.8):
            q = p0 + (p1 - p0) * f
            cv2.line(layer, tuple(int(v) for v in q), tuple(int(v) for v in q + side * 10),
                     col(120, 90, 70), 1, cv2.LINE_AA)
    cv2.circle(layer, (int(hx), int(hy)), 5, col(60, 45, 40), -1, cv2.LINE_AA)


ROAD_Y0, ROAD_Y1 = 292, 328
GROUND_TOP = 258


def make_ground(rng: np.random.Generator) -> np.ndarray:
    h, w = CH, LAYER_W
    prof = ridge(rng, w, 160, octaves=3)
    top = GROUND_TOP + 6.0 * prof
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.clip(yy - top[None, :] + 0.5, 0, 1)

    tex = fbm(rng, h, w, 30, octaves=4)
    grass = np.array([0.33, 0.62, 0.20], np.float32) * (0.75 + 0.45 * tex[..., None])
    layer = rgba_layer(h, w)
    put_rgb(layer, mask.astype(np.float32), grass)

    # Grass blades: many short strokes of varying green.
    n = 5000
    bx = rng.uniform(0, w, n)
    by = rng.uniform(GROUND_TOP - 4, h, n)
    for x, y in zip(bx, by, strict=True):
        if ROAD_Y0 - 2 < y < ROAD_Y1 + 6 or y < top[int(min(x, w - 1))] + 3:
            continue
        g = rng.uniform(0.6, 1.25)
        ln = rng.uniform(4, 9) * (0.5 + (y - GROUND_TOP) / (h - GROUND_TOP))
        lean = rng.uniform(-2.5, 2.5)
        c = col(int(min(255, 70 * g)), int(min(255, 150 * g)), int(min(255, 45 * g)))
        cv2.line(layer, (int(x), int(y)), (int(x + lean), int(y - ln)), c, 1, cv2.LINE_AA)
    # Wild flowers.
    for x, y in zip(rng.uniform(0, w, 420), rng.uniform(GROUND_TOP + 6, h, 420), strict=True):
        if ROAD_Y0 - 3 < y < ROAD_Y1 + 6:
            continue
        c = [col(235, 60, 50), col(250, 220, 60), col(250, 250, 245), col(170, 90, 210)][
            int(rng.integers(4))
        ]
        cv2.circle(layer, (int(x), int(y)), int(rng.integers(1, 3)), c, -1, cv2.LINE_AA)

    # Road: textured asphalt with kerbs and a dashed centre line.
    asphalt = fbm(rng, h, w, 6, octaves=2)
    road = np.array([0.36, 0.35, 0.37], np.float32) * (0.82 + 0.36 * asphalt[..., None])
    rmask = ((yy >= ROAD_Y0) & (yy < ROAD_Y1)).astype(np.float32)
    put_rgb(layer, rmask, road)
    cv2.rectangle(layer, (0, ROAD_Y0), (w, ROAD_Y0 + 1), col(215, 215, 205), -1)
    cv2.rectangle(layer, (0, ROAD_Y1 - 2), (w, ROAD_Y1 - 1), col(215, 215, 205), -1)
    mid = (ROAD_Y0 + ROAD_Y1) // 2
    for x in range(0, w, 44):
        cv2.rectangle(layer, (x, mid - 1), (x + 22, mid + 1), col(245, 225, 90), -1)

    # Wooden fence between meadow and road.
    fy = ROAD_Y0 - 6
    for x in range(6, w, 26):
        cv2.rectangle(layer, (x, fy - 26), (x + 4, fy), col(120, 85, 50), -1)
        cv2.rectangle(layer, (x + 1, fy - 26), (x + 1, fy), col(160, 120, 75), -1)
    for dy in (20, 10):
        cv2.rectangle(layer, (0, fy - dy), (w, fy - dy + 2), col(140, 100, 60), -1)
    return layer


# ---------------------------------------------------------------------------------------
# Moving foreground objects
# ---------------------------------------------------------------------------------------

CAR_X0, CAR_X1 = -40.0, 860.0  # car centre on the ground layer over the clip
WHEEL_R = 11.0


def draw_car(layer: np.ndarray, cx: float) -> None:
    """Draw the car (centre ``cx`` on the ground layer) with wheels rolled accordingly."""
    base = ROAD_Y0 + 24.0  # wheel contact line, in the near lane
    x0, x1 = cx - 56, cx + 56
    shadow = np.array([[x0 - 2, base - 2], [x1 + 4, base - 2], [x1, base + 3], [x0, base + 3]])
    cv2.fillPoly(layer, [shadow.astype(np.int32)], col(45, 45, 50), cv2.LINE_AA)
    body = np.array([
        [x0, base - 8], [x0 + 2, base - 28], [x0 + 30, base - 31], [x0 + 44, base - 50],
        [x1 - 30, base - 50], [x1 - 14, base - 31], [x1 - 2, base - 28], [x1, base - 8],
    ])
    cv2.fillPoly(layer, [body.astype(np.int32)], col(205, 35, 40), cv2.LINE_AA)
    # Checker band along the body.
    for i, x in enumerate(range(int(x0 + 4), int(x1 - 4), 6)):
        for j, y in enumerate((base - 22, base - 16)):
            c = col(250, 245, 235) if (i + j) % 2 == 0 else col(30, 30, 35)
            cv2.rectangle(layer, (x, int(y)), (x + 5, int(y) + 5), c, -1)
    # Windows with a reflection streak.
    for wx0, wx1 in ((x0 + 34, cx - 2), (cx + 4, x1 - 26)):
        win = np.array([[wx0, base - 31], [wx0 + 10, base - 46], [wx1, base - 46],
                        [wx1 + 8, base - 31]])
        cv2.fillPoly(layer, [win.astype(np.int32)], col(150, 200, 235), cv2.LINE_AA)
        cv2.line(layer, (int(wx0 + 14), int(base - 33)), (int(wx0 + 22), int(base - 44)),
                 col(235, 245, 255), 3, cv2.LINE_AA)
    cv2.circle(layer, (int(x1 - 4), int(base - 22)), 3, col(255, 230, 120), -1, cv2.LINE_AA)
    cv2.rectangle(layer, (int(x0), int(base - 20)), (int(x0 + 4), int(base - 15)),
                  col(150, 20, 20), -1)
    # Wheels: tyre, rim and rotating spokes.
    roll = (cx - CAR_X0) / WHEEL_R  # rolling without slipping
    for wx in (x0 + 24, x1 - 24):
        cv2.circle(layer, (int(wx), int(base - WHEEL_R)), int(WHEEL_R), col(25, 25, 28), -1,
                   cv2.LINE_AA)
        cv2.circle(layer, (int(wx), int(base - WHEEL_R)), int(WHEEL_R * 0.6), col(200, 200, 205),
                   -1, cv2.LINE_AA)
        for k in range(5):
            a = roll + k * 2 * math.pi / 5
            ex = wx + math.cos(a) * WHEEL_R * 0.6
            ey = base - WHEEL_R + math.sin(a) * WHEEL_R * 0.6
            cv2.line(layer, (int(wx), int(base - WHEEL_R)), (int(ex), int(ey)), col(60, 60, 70),
                     2, cv2.LINE_AA)


BALL_R = 30.0
BALL_COLOURS = np.array(
    [[0.93, 0.20, 0.18], [0.98, 0.98, 0.95], [0.15, 0.40, 0.90], [0.99, 0.80, 0.10],
     [0.98, 0.98, 0.95], [0.15, 0.70, 0.35]],
    np.float32,
)


def draw_ball(frame: np.ndarray, t: float) -> None:
    """Bouncing, rolling beach ball crossing the foreground from right to left (screen space)."""
    floor = CH - 8.0
    x = CW + BALL_R + 10 - (CW + 2 * BALL_R + 40) * t
    bounces = 2.4
    y = floor - BALL_R - 110.0 * abs(math.sin(math.pi * bounces * t))
    angle = (x - (CW + BALL_R)) / BALL_R  # rolling left turns counter-clockwise

    # Soft shadow on the ground, smaller when the ball is high.
    hgt = floor - BALL_R - y
    sw = BALL_R * (1.0 - 0.4 * hgt / 110.0)
    shadow = np.zeros(frame.shape[:2], np.float32)
    cv2.ellipse(shadow, (int(x), int(floor)), (int(sw), int(sw * 0.22)), 0, 0, 360, 1.0, -1,
                cv2.LINE_AA)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 3.0) * 0.45
    frame *= 1.0 - shadow[..., None]

    r = int(BALL_R) + 2
    x0, y0 = int(math.floor(x)) - r, int(math.floor(y)) - r
    ys, xs = np.mgrid[y0 : y0 + 2 * r + 1, x0 : x0 + 2 * r + 1].astype(np.float32)
    dx, dy = xs + 0.5 - x, ys + 0.5 - y
    d = np.sqrt(dx * dx + dy * dy)
    cover = np.clip(BALL_R - d + 0.5, 0, 1)
    seg = (np.floor(((np.arctan2(dy, dx) - angle) % (2 * math.pi)) / (2 * math.pi) * 6)
           .astype(np.int32) % 6)
    rgb = BALL_COLOURS[seg]
    # Lambert shading with a light from the upper left, plus a specular spot.
    nz = np.sqrt(np.clip(1 - (d / BALL_R) ** 2, 0, 1))
    lam = np.clip((-0.45 * dx / BALL_R - 0.55 * dy / BALL_R + 0.70 * nz), 0, 1)
    rgb = rgb * (0.35 + 0.75 * lam[..., None])
    spec = np.exp(-(((dx + 0.35 * BALL_R) ** 2 + (dy + 0.4 * BALL_R) ** 2) / (0.12 * BALL_R**2)))
    rgb = rgb + 0.5 * spec[..., None]
    # Central cap.
    cap = np.clip(BALL_R * 0.16 - d + 0.5, 0, 1)[..., None]
    rgb = rgb * (1 - cap) + cap * np.array([0.95, 0.95, 0.9])

    # Paste with clipping at the frame borders.
    fy0, fy1 = max(y0, 0), min(y0 + 2 * r + 1, CH)
    fx0, fx1 = max(x0, 0), min(x0 + 2 * r + 1, CW)
    if fy0 >= fy1 or fx0 >= fx1:
        return
    sl = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    a = cover[sl][..., None]
    frame[fy0:fy1, fx0:fx1] = frame[fy0:fy1, fx0:fx1] * (1 - a) + np.clip(rgb[sl], 0, 1) * a


# ---------------------------------------------------------------------------------------
# Frame rendering
# ---------------------------------------------------------------------------------------


def warp_layer(layer: np.ndarray, parallax: float, t: float, base_x: float) -> np.ndarray:
    """View a layer through the camera at time ``t``: pan and zoom scaled by ``parallax``."""
    z = 1.0 + ZOOM * t * parallax
    ox = base_x + PAN * t * parallax
    cx, cy = CW / 2.0, CH / 2.0
    m = np.array([[1 / z, 0, ox + cx - cx / z], [0, 1 / z, cy - cy / z]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(layer, m, (CW, CH), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def over(dst: np.ndarray, src: np.ndarray) -> None:
    """Premultiplied 'over' of RGBA ``src`` onto RGB ``dst`` in place."""
    dst *= 1.0 - src[..., 3:4]
    dst += src[..., :3]


def render_frames() -> list[np.ndarray]:
    rng = np.random.default_rng(20240601)
    sky = make_sky(rng)
    mountains = make_mountains(rng)
    hills, hub = make_hills(rng)
    ground = make_ground(rng)

    frames = []
    for i in range(N_FRAMES):
        t = i / (N_FRAMES - 1)
        frame = np.zeros((CH, CW, 3), np.float32)
        over(frame, warp_layer(sky, 0.08, t, 40.0))
        over(frame, warp_layer(mountains, 0.25, t, 60.0))
        hl = hills.copy()
        draw_windmill_blades(hl, hub, 0.9 - 2.2 * t * math.pi)
        over(frame, warp_layer(hl, 0.55, t, 80.0))
        gl = ground.copy()
        draw_car(gl, CAR_X0 + (CAR_X1 - CAR_X0) * t)
        over(frame, warp_layer(gl, 1.0, t, 0.0))
        draw_ball(frame, t)
        small = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        frames.append(np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8))
    return frames


# ---------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------

# (start beat, length in beats, MIDI note); one beat is 0.3125 s (96 bpm eighths at 192 bpm).
MELODY = [(0, 1, 72), (1, 1, 76), (2, 1, 79), (3, 1, 81), (4, 1, 79), (5, 1, 76), (6, 1, 74),
          (7, 1, 72)]
BASS = [(0, 4, 48), (4, 4, 45)]
BEAT = 0.3125


def midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def tone(n: int, start: float, dur: float, hz: float, decay: float, harmonics: list[float]
         ) -> np.ndarray:
    """An enveloped additive tone placed on a buffer of ``n`` samples."""
    out = np.zeros(n, np.float64)
    s0 = int(round(start * SAMPLE_RATE))
    s1 = min(n, s0 + int(round(dur * SAMPLE_RATE)))
    if s0 >= s1:
        return out
    tt = np.arange(s1 - s0, dtype=np.float64) / SAMPLE_RATE
    wave_ = sum(a * np.sin(2 * math.pi * hz * (k + 1) * tt) for k, a in enumerate(harmonics))
    env = np.minimum(tt / 0.008, 1.0) * np.exp(-tt / decay)
    release = np.clip((dur - tt) / 0.02, 0, 1)  # short fade at the note's end
    out[s0:s1] = wave_ * env * release
    return out


def make_audio() -> np.ndarray:
    """Stereo int16 samples (N_SAMPLES x 2): melody, bass, and a click on each whole second."""
    n = N_SAMPLES
    melody = sum(
        tone(n, b * BEAT, ln * BEAT, midi_hz(m), 0.22, [1.0, 0.35, 0.12]) for b, ln, m in MELODY
    )
    bass = sum(tone(n, b * BEAT, ln * BEAT, midi_hz(m), 0.9, [1.0, 0.5, 0.25]) for b, ln, m in BASS)
    clicks = np.zeros(n, np.float64)
    for sec in range(int(n / SAMPLE_RATE) + 1):
        clicks += tone(n, float(sec), 0.03, 2000.0, 0.004, [1.0, 0.0, 0.3])
    left = 0.45 * melody + 0.30 * bass + 0.25 * clicks
    right = 0.30 * melody + 0.30 * bass + 0.55 * clicks
    stereo = np.stack([left, right], axis=1)
    stereo *= 0.7 / np.abs(stereo).max()
    fade = np.clip((n - np.arange(n)) / (0.02 * SAMPLE_RATE), 0, 1)[:, None]
    return np.rint(stereo * fade * 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------


def encode_video(frames: list[np.ndarray], audio: np.ndarray, out_path: Path) -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    rate = f"{FPS_NUM}/{FPS_DEN}"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "frames.rgb"
        wav = Path(tmp) / "audio.wav"
        raw.write_bytes(b"".join(f.tobytes() for f in frames))
        write_wav(wav, audio)
        tmp_out = Path(tmp) / out_path.name
        cmd = [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
            "-framerate", rate, "-i", str(raw),
            "-i", str(wav),
            "-map", "0:v:0", "-map", "1:a:0",
            # BT.601 limited-range conversion, tagged so readers decode it the same way.
            "-vf", "scale=out_color_matrix=bt601:out_range=tv:flags=bicubic,format=yuv420p,"
            "setparams=colorspace=smpte170m:color_primaries=smpte170m:color_trc=smpte170m"
            ":range=tv",
            "-c:v", "libx264", "-preset", "medium", "-crf", str(CRF), "-threads", "1",
            "-x264-params", "threads=1:lookahead-threads=1:sliced-threads=0",
            "-colorspace", "smpte170m", "-color_primaries", "smpte170m",
            "-color_trc", "smpte170m", "-color_range", "tv",
            "-r", rate, "-video_track_timescale", str(FPS_NUM),
            "-c:a", "aac", "-b:a", "96k", "-ar", str(SAMPLE_RATE),
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart",
            str(tmp_out),
        ]
        subprocess.run(cmd, check=True)
        out_path.write_bytes(tmp_out.read_bytes())


# ---------------------------------------------------------------------------------------
# Style image
# ---------------------------------------------------------------------------------------

GLASS_PALETTE = np.array(
    [
        [0.80, 0.08, 0.12],  # crimson
        [0.96, 0.55, 0.05],  # orange
        [0.98, 0.82, 0.10],  # amber
        [0.10, 0.55, 0.25],  # emerald
        [0.05, 0.55, 0.62],  # teal
        [0.08, 0.22, 0.72],  # cobalt
        [0.40, 0.12, 0.60],  # violet
        [0.75, 0.10, 0.48],  # magenta
    ],
    np.float32,
)


def make_style_image() -> np.ndarray:
    """Stained-glass window: Voronoi panes with brushed glass and thick lead came."""
    rng = np.random.default_rng(7)
    s = STYLE_SIZE
    # Jittered-grid seeds give evenly sized panes.
    g = 12
    cell = s / g
    gy, gx = np.mgrid[0:g, 0:g].astype(np.float32)
    seeds = np.stack(
        [
            (gx + rng.uniform(0.15, 0.85, (g, g))) * cell,
            (gy + rng.uniform(0.15, 0.85, (g, g))) * cell,
        ],
        axis=-1,
    ).reshape(-1, 2)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    d2 = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
    order = np.argsort(d2, axis=-1)[..., :2]
    label = order[..., 0]
    d1 = np.sqrt(np.take_along_axis(d2, order[..., :1], -1)[..., 0])
    d2nd = np.sqrt(np.take_along_axis(d2, order[..., 1:2], -1)[..., 0])
    edge = d2nd - d1  # ~ twice the distance to the pane border

    # Colour design: a radiant sun of warm panes in the middle, cool sky outside, with a
    # random scattering of accent colours.
    c = s / 2.0
    rad = np.hypot(seeds[:, 0] - c, seeds[:, 1] - c) / (s / 2.0)
    ang = np.arctan2(seeds[:, 1] - c, seeds[:, 0] - c)
    ray = (np.cos(ang * 8) > 0.2)
    pick = np.where(
        rad < 0.38, rng.choice([0, 1, 2], len(seeds)),
        np.where(ray & (rad < 0.8), rng.choice([1, 2, 7], len(seeds)),
                 rng.choice([3, 4, 5, 6, 5, 4], len(seeds))),
    )
    accent = rng.random(len(seeds)) < 0.12
    pick = np.where(accent, rng.integers(0, len(GLASS_PALETTE), len(seeds)), pick)
    base = GLASS_PALETTE[pick] * rng.uniform(0.85, 1.1, (len(seeds), 1)).astype(np.float32)

    # Brushed glass: noise smeared along one of several directions, chosen per pane.
    noise = rng.random((s, s)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.8)
    n_dir = 8
    streaks = []
    for k in range(n_dir):
        a = math.pi * k / n_dir
        ksz = 21
        kern = np.zeros((ksz, ksz), np.float32)
        h = ksz // 2
        cv2.line(kern, (int(h - math.cos(a) * h), int(h - math.sin(a) * h)),
                 (int(h + math.cos(a) * h), int(h + math.sin(a) * h)), 1.0, 1)
        kern /= kern.sum()
        st = cv2.filter2D(noise, -1, kern, borderType=cv2.BORDER_REFLECT)
        st = (st - st.mean()) / (st.std() + 1e-6)
        streaks.append(st)
    streaks_arr = np.stack(streaks, axis=0)
    pane_dir = rng.integers(0, n_dir, len(seeds))
    brush = np.take_along_axis(streaks_arr, pane_dir[label][None], 0)[0]

    # Glow: panes are brighter in their middle, darker towards the lead.
    glow = np.clip(edge / (cell * 0.9), 0, 1) ** 0.5
    mottle = fbm(rng, s, s, 48, octaves=3)
    img = base[label] * (0.55 + 0.45 * glow[..., None]) * (
        1.0 + 0.22 * brush[..., None] + 0.25 * (mottle[..., None] - 0.5)
    )
    # Bright streak highlights where the brush texture peaks.
    hi = np.clip(brush - 1.6, 0, 1)[..., None] * 0.35
    img = img + hi

    # Lead came: dark lines on the pane borders with a faint metallic highlight.
    lead = np.clip(4.2 - edge, 0, 1.0)[..., None]
    sheen = np.clip(1.0 - np.abs(edge - 1.2), 0, 1)[..., None] * 0.18
    img = img * (1 - lead) + lead * (np.array([0.07, 0.06, 0.08]) + sheen)

    # Window frame border.
    border = 8
    frame_mask = np.zeros((s, s), np.float32)
    frame_mask[:border] = frame_mask[-border:] = 1
    frame_mask[:, :border] = frame_mask[:, -border:] = 1
    img = img * (1 - frame_mask[..., None]) + frame_mask[..., None] * np.array([0.08, 0.07, 0.09])

    rgb = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return rgb


# ---------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output directory (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)

    style_path = out / STYLE_NAME
    style = make_style_image()
    ok, png = cv2.imencode(".png", cv2.cvtColor(style, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    style_path.write_bytes(png.tobytes())
    print(f"wrote {style_path} ({STYLE_SIZE}x{STYLE_SIZE} PNG, {style_path.stat().st_size} bytes,"
          f" sha256 {sha256(style_path)[:16]})")

    video_path = out / VIDEO_NAME
    encode_video(render_frames(), make_audio(), video_path)
    print(f"wrote {video_path} ({WIDTH}x{HEIGHT}, {N_FRAMES} frames at {FPS_NUM}/{FPS_DEN} fps,"
          f" {N_SAMPLES} audio samples at {SAMPLE_RATE} Hz stereo AAC,"
          f" {video_path.stat().st_size} bytes, sha256 {sha256(video_path)[:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
