"""Colour preservation: keep the content's colours, take the stylised luminance.

Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving color in neural artistic style
transfer" (luminance-only transfer, applied after optimisation): both images go to a
luminance/chroma space, the stylised luminance is joined with the content's chroma, and
the result returns to RGB.

Where that combination falls outside the RGB cube, the luminance (never the chroma) is
moved toward the content's own luminance, which is in gamut by construction, just far
enough to fit: the output's chroma equals the content's exactly, up to float rounding.

Images are numpy float32 ``(H, W, 3)`` RGB in ``[0, 1]`` (sRGB-encoded). Spaces:
``yuv`` (BT.601 analogue YUV), ``ycrcb`` (BT.601 full range, chroma offset 0.5),
``luv`` and ``lab`` (CIE 1976, D65 white, via linear-light sRGB/XYZ). Channel 0 is the
luminance in each (Y, Y, L*, L*).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

COLOR_SPACES: tuple[str, ...] = ("yuv", "ycrcb", "luv", "lab")

_KR, _KG, _KB = 0.299, 0.587, 0.114
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(axis=1)  # D65 white point (X, Y, Z) of sRGB (1, 1, 1)
_EPS = 216 / 24389
_KAPPA = 24389 / 27


def _check_space(space: str) -> None:
    if space not in COLOR_SPACES:
        raise InputError(
            f"unknown colour space {space!r}; expected one of: {', '.join(COLOR_SPACES)}"
        )


def _to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0) + 0.055) / 1.055) ** 2.4)


def _from_linear(c: np.ndarray) -> np.ndarray:
    return np.where(
        c <= 0.0031308, c * 12.92, 1.055 * np.maximum(c, 0) ** (1 / 2.4) - 0.055
    )


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), (_KAPPA * t + 16) / 116)


def _f_inv(f: np.ndarray) -> np.ndarray:
    return np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA)


def _l_to_y(lum: np.ndarray) -> np.ndarray:
    return np.where(lum > 8, ((lum + 16) / 116) ** 3, lum / _KAPPA)


def to_space(image: np.ndarray, space: str) -> np.ndarray:
    """RGB ``[0, 1]`` ``(H, W, 3)`` -> ``space``, float64."""
    _check_space(space)
    rgb = np.asarray(image, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r + _KG * g + _KB * b
    if space == "yuv":
        return np.stack([y, 0.492 * (b - y), 0.877 * (r - y)], axis=-1)
    if space == "ycrcb":
        return np.stack(
            [y, (r - y) / (2 * (1 - _KR)) + 0.5, (b - y) / (2 * (1 - _KB)) + 0.5], axis=-1
        )
    xyz = _to_linear(rgb) @ _RGB_TO_XYZ.T
    lum = 116 * _f(xyz[..., 1] / _WHITE[1]) - 16
    if space == "lab":
        fx, fy, fz = (_f(xyz[..., i] / _WHITE[i]) for i in range(3))
        return np.stack([lum, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)
    denom = xyz[..., 0] + 15 * xyz[..., 1] + 3 * xyz[..., 2]
    safe = np.where(denom > 0, denom, 1.0)
    up = np.where(denom > 0, 4 * xyz[..., 0] / safe, 0.0)
    vp = np.where(denom > 0, 9 * xyz[..., 1] / safe, 0.0)
    wden = _WHITE[0] + 15 * _WHITE[1] + 3 * _WHITE[2]
    un, vn = 4 * _WHITE[0] / wden, 9 * _WHITE[1] / wden
    return np.stack([lum, 13 * lum * (up - un), 13 * lum * (vp - vn)], axis=-1)


def from_space(image: np.ndarray, space: str) -> np.ndarray:
    """Inverse of :func:`to_space`: RGB, float64, not clipped."""
    _check_space(space)
    c = np.asarray(image, dtype=np.float64)
    if space in ("yuv", "ycrcb"):
        y = c[..., 0]
        if space == "yuv":
            b_y, r_y = c[..., 1] / 0.492, c[..., 2] / 0.877
        else:
            r_y, b_y = (c[..., 1] - 0.5) * 2 * (1 - _KR), (c[..., 2] - 0.5) * 2 * (1 - _KB)
        r, b = y + r_y, y + b_y
        g = (y - _KR * r - _KB * b) / _KG
        return np.stack([r, g, b], axis=-1)
    lum = c[..., 0]
    yy = _l_to_y(lum) * _WHITE[1]
    if space == "lab":
        fy = (lum + 16) / 116
        x = _f_inv(fy + c[..., 1] / 500) * _WHITE[0]
        z = _f_inv(fy - c[..., 2] / 200) * _WHITE[2]
    else:
        wden = _WHITE[0] + 15 * _WHITE[1] + 3 * _WHITE[2]
        un, vn = 4 * _WHITE[0] / wden, 9 * _WHITE[1] / wden
        safe = np.where(lum > 0, 13 * lum, 1.0)
        up = np.where(lum > 0, c[..., 1] / safe + un, un)
        vp = np.where(lum > 0, c[..., 2] / safe + vn, vn)
        vp_safe = np.where(vp > 0, vp, 1.0)
        x = np.where(vp > 0, yy * 9 * up / (4 * vp_safe), 0.0)
        z = np.where(vp > 0, yy * (12 - 3 * up - 20 * vp) / (4 * vp_safe), 0.0)
    xyz = np.stack([x, yy, z], axis=-1)
    return _from_linear(xyz @ _XYZ_TO_RGB.T)


def _representable(color: np.ndarray, space: str, tol: float = 1e-6) -> np.ndarray:
    """Pixels of ``color`` (in ``space``) that map inside the RGB cube and back unchanged.

    The round trip matters for Luv, whose chroma is forced to 0 at L* = 0.
    """
    rgb = from_space(color, space)
    inside = ((rgb >= -tol) & (rgb <= 1 + tol)).all(axis=-1)
    back = to_space(np.clip(rgb, 0.0, 1.0), space)
    scale = np.maximum(np.abs(color[..., 1:]).max(axis=-1), 1.0)
    same = (np.abs(back[..., 1:] - color[..., 1:]).max(axis=-1) <= 1e-4 * scale)
    return inside & same


def original_colors(
    stylized: np.ndarray, content: np.ndarray, space: str, *, steps: int = 30
) -> np.ndarray:
    """The stylised luminance with the content's chroma, as float32 RGB in ``[0, 1]``.

    Both images are ``(H, W, 3)`` float RGB in ``[0, 1]`` of the same size. Out-of-gamut
    pixels get the luminance nearest to the stylised one (found by bisection toward the
    content's luminance) that maps inside the RGB cube.
    """
    if stylized.shape != content.shape:
        raise InputError(f"image sizes differ: {stylized.shape} vs {content.shape}")
    target = to_space(content, space)
    lum_content = target[..., 0].copy()
    target[..., 0] = to_space(stylized, space)[..., 0]
    rgb = from_space(target, space)
    bad = ~_representable(target, space)
    if bad.any():
        chroma = target[bad][:, 1:]
        lum_s, lum_c = target[bad][:, 0], lum_content[bad]
        lo = np.zeros(len(lum_s))  # fraction of the way toward the content's luminance
        hi = np.ones(len(lum_s))
        for _ in range(steps):
            mid = (lo + hi) / 2
            trial = np.concatenate([(lum_s + mid * (lum_c - lum_s))[:, None], chroma], axis=1)
            ok = _representable(trial, space)
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid)
        fixed = np.concatenate([(lum_s + hi * (lum_c - lum_s))[:, None], chroma], axis=1)
        rgb[bad] = from_space(fixed, space)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)
