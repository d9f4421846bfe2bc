"""Still images: reading and writing PNG/JPEG/TIFF files, and frame sizes.

A frame in memory is a numpy ``float32`` array of shape ``(H, W, 3)``, RGB, values in
``[0, 1]``; sizes are ``(width, height)`` in pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from videostyle.atomic import write_bytes
from videostyle.errors import InputError, VideoError

#: File name endings (lower case) recognised as still images / sequence frames.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx")


def _imread_raw(path: Path) -> np.ndarray:
    """Image as uint8/uint16/float32 BGR (H, W, 3) array; InputError when unreadable."""
    if not path.is_file():
        raise InputError(f"expected an image file, but {path} does not exist; check the path")
    if path.suffix.lower() == ".exr":
        from .exr import read_exr

        return np.ascontiguousarray(read_exr(path)[0][..., ::-1])
    if path.suffix.lower() == ".dpx":
        from .dpx import read_still

        return read_still(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    # IMREAD_COLOR | IMREAD_ANYDEPTH: 3 channels (gray expanded, alpha dropped), 16-bit and
    # float kept, EXIF orientation applied.
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is None:
        raise InputError(
            f"expected a PNG, JPEG or TIFF image, but {path} cannot be decoded; check that "
            "the file is a complete image"
        )
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def _to_float_rgb(image: np.ndarray) -> np.ndarray:
    """BGR uint8/uint16/float array -> float32 RGB in [0, 1] (C-contiguous)."""
    rgb = image[..., ::-1]
    if image.dtype == np.uint8:
        out = rgb.astype(np.float32)
        out /= 255.0
    elif image.dtype == np.uint16:
        out = rgb.astype(np.float32)
        out /= 65535.0
    else:
        out = np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0)
    return np.ascontiguousarray(out)


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/TIFF image (8 or 16 bit, gray, RGB or RGBA).

    Returns:
        float32 RGB array (H, W, 3) in [0, 1]. Gray is expanded to three channels, an
        alpha channel is dropped (colours are used as stored), EXIF orientation is applied.

    Raises:
        InputError: the file is missing or cannot be decoded.
    """
    return _to_float_rgb(_imread_raw(Path(path)))


def _resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, (int(size[0]), int(size[1])), interpolation=cv2.INTER_AREA)


def write_image(
    path: str | Path, image: np.ndarray, *, bit_depth: int = 8, alpha: np.ndarray | None = None
) -> None:
    """Write a float RGB image in [0, 1] as PNG or TIFF (8 or 16 bit), atomically.

    ``image`` is (H, W, 3) RGB or (H, W) gray; values are clipped to [0, 1] and rounded to
    the nearest of 255 (8 bit) or 65535 (16 bit) levels; NaN becomes 0. ``.jpg``/``.jpeg``
    is accepted for 8-bit output (quality 95). The file is written under a temporary name
    in the same folder, flushed, fsynced and renamed over ``path``, so readers never see a
    partial file. Missing parent folders are created. ``alpha`` ``(H, W)`` in [0, 1], when
    given, is written as a fourth channel at the same depth (PNG and TIFF only).

    Raises:
        InputError: unsupported ending or depth, or the folder is not writable.
        ValueError: ``image`` is not an (H, W, 3) or (H, W) array.
    """
    path = Path(path)
    if bit_depth not in (8, 16):
        raise InputError(f"expected bit_depth 8 or 16, but got {bit_depth}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES or suffix in (".exr", ".dpx"):
        raise InputError(f"expected an image path ending in .png or .tif, but got {path}; use .png")
    if suffix in (".jpg", ".jpeg") and bit_depth != 8:
        raise InputError(f"expected .png or .tif for 16-bit output, but got {path}; use .png")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    levels = 65535.0 if bit_depth == 16 else 255.0
    scaled = np.rint(np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0) * levels)
    quantized = scaled.astype(np.uint16 if bit_depth == 16 else np.uint8)
    bgr = np.ascontiguousarray(quantized[..., ::-1])
    if alpha is not None:
        a = np.rint(np.clip(np.nan_to_num(np.asarray(alpha, np.float32)), 0.0, 1.0) * levels)
        bgr = np.ascontiguousarray(np.dstack([bgr, a.astype(quantized.dtype)]))
    params: list[int] = []
    if suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, encoded = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise VideoError(f"expected OpenCV to encode {path}, but encoding failed")
    write_bytes(path, encoded.tobytes(), what="image")


def fit_size(width: int, height: int, longest: int | None) -> tuple[int, int]:
    """Scale ``(width, height)`` so the longer side equals ``longest``, keeping the aspect.

    ``None`` returns the size unchanged. Both results are rounded to ints >= 1. Upscaling
    happens when ``longest`` is larger than the current longer side.

    Raises:
        InputError: ``longest`` (or the input size) is not positive.
    """
    if width < 1 or height < 1:
        raise InputError(f"expected a positive frame size, but got {width}x{height}")
    if longest is None:
        return int(width), int(height)
    if longest < 1:
        raise InputError(f"expected a longest side of at least 1 pixel, but got {longest}")
    if width >= height:
        return int(longest), max(1, round(height * longest / width))
    return max(1, round(width * longest / height)), int(longest)


def _png_header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, bit_depth) from a PNG's IHDR chunk, or None if not a PNG."""
    try:
        with path.open("rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return width, height, head[24]


#: PNG colour types (IHDR byte 25) that hold gray levels or an alpha channel.
_PNG_GRAY, _PNG_GRAY_ALPHA, _PNG_RGBA = 0, 4, 6


def channel_layout(path: Path) -> tuple[bool, bool]:
    """``(gray, alpha)`` of an image file as stored (before :func:`read_image` makes it RGB).

    A PNG's header is read; other formats are decoded unchanged. Unreadable files give
    ``(False, False)`` (:func:`read_image` refuses them).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(26)
    except OSError:
        return False, False
    if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n":
        kind = head[25]
        return kind in (_PNG_GRAY, _PNG_GRAY_ALPHA), kind in (_PNG_GRAY_ALPHA, _PNG_RGBA)
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return False, False
    channels = 1 if image.ndim == 2 else image.shape[2]
    return channels in (1, 2), channels in (2, 4)


def conversion_notes(what: str, gray: bool, alpha: bool) -> list[str]:
    """What reading ``what`` as RGB changes, one note each (empty when nothing)."""
    notes = []
    if gray:
        notes.append(f"{what} is grayscale; it is read as RGB with three equal channels")
    if alpha:
        notes.append(f"{what} has an alpha channel; it is dropped (colours used as stored, "
                     "not blended over a background)")
    return notes


def same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether ``(w, h)`` sizes ``a`` and ``b`` have one shape: one scaled to the other's
    width or height matches it within a pixel."""
    (aw, ah), (bw, bh) = a, b
    return abs(bh * aw / bw - ah) <= 1 or abs(bw * ah / bh - aw) <= 1


def read_alpha(path: str | Path) -> np.ndarray | None:
    """The alpha channel ``(H, W)`` of a PNG/TIFF/EXR frame in its stored type (``uint8``,
    ``uint16``, ``float16``, ``float32``), or None when the frame has none."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        from .exr import read_exr

        return read_exr(path)[1]
    if path.suffix.lower() == ".dpx":
        return None  # DPX alpha is not read
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        return None
    return np.ascontiguousarray(image[..., 3])
