"""OpenEXR frames: reading and writing R, G, B (and A) with the ``openexr`` package.

A plate is read as float32 RGB ``(H, W, 3)`` exactly as stored (scene-linear values above
1.0 and below 0 kept, NaN and infinities as stored), and its alpha, when it has one, as a
``(H, W)`` array of the file's own type (``float16`` for half, ``float32`` for float), so
it can be written back bit for bit. The channels are ``R``, ``G``, ``B`` and ``A``, or
the same under one layer prefix (``beauty.R``, ...): the unprefixed set is used when
present, else the first layer (in name order) that holds all three. Other channels (depth,
other passes) are not read; :class:`ExrLayout` lists them.

OpenEXR's RGB is premultiplied by alpha (associated alpha); it is kept as stored.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import OpenEXR

from videostyle.atomic import disk_full, free_bytes, write_bytes
from videostyle.errors import InputError, VideoError

PixelType = Literal["half", "float"]
Window = tuple[int, int, int, int]

#: Compression names accepted for writing (OpenEXR's lossless ones), and the default.
COMPRESSIONS = {
    "none": OpenEXR.NO_COMPRESSION, "rle": OpenEXR.RLE_COMPRESSION,
    "zips": OpenEXR.ZIPS_COMPRESSION, "zip": OpenEXR.ZIP_COMPRESSION,
    "piz": OpenEXR.PIZ_COMPRESSION, "zstd": OpenEXR.ZSTD_COMPRESSION,
    "htj2k32": OpenEXR.HTJ2K32_COMPRESSION, "htj2k256": OpenEXR.HTJ2K256_COMPRESSION,
}  # fmt: skip
DEFAULT_COMPRESSION = "zip"

#: Header attributes read as the plate's colour space, in this order (the first one the
#: OCIO config knows wins): OpenEXR's colour interop id, then OpenImageIO's attribute.
COLORSPACE_ATTRIBUTES = ("colorInteropID", "oiio:ColorSpace")


@dataclass(frozen=True)
class ExrLayout:
    """What an EXR frame holds, from its header.

    ``prefix``: the layer of the R, G, B channels (``""`` or ``"beauty."``);
    ``pixel_type``: of the R channel; ``compression``: a key of :data:`COMPRESSIONS`, or
    the lower-case OpenEXR name of a lossy one; ``colorspaces``: the values of
    :data:`COLORSPACE_ATTRIBUTES` present; ``extra``: channels that are not rendered;
    ``fps``: the ``framesPerSecond`` attribute; ``timecode``: the ``timeCode`` attribute
    as ``HH:MM:SS:FF`` (``;`` before the frames when drop-frame); ``data_window`` and
    ``display_window``: ``(x0, y0, x1, y1)``, inclusive, as OpenEXR gives them (the pixels
    are the data window's: ``width`` and ``height`` are its size; overscan or a crop puts
    it elsewhere than the display window); ``pixel_aspect``: ``pixelAspectRatio`` (2.0
    for a 2x anamorphic plate, stored squeezed); ``chromaticities``: the attribute's
    eight numbers (red, green, blue, white x and y) when the header has it;
    ``aces_container``: ``acesImageContainerFlag`` is 1 (ACES2065-1 by definition);
    ``other_parts``: the names of a multi-part file's parts after the first (which is read).
    """

    width: int
    height: int
    prefix: str
    pixel_type: PixelType
    compression: str
    has_alpha: bool
    colorspaces: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    fps: Fraction | None = None
    timecode: str | None = None
    data_window: Window = (0, 0, 0, 0)
    display_window: Window = (0, 0, 0, 0)
    pixel_aspect: float = 1.0
    chromaticities: tuple[float, ...] | None = None
    aces_container: bool = False
    other_parts: tuple[str, ...] = ()

    def geometry_at(self, width: int, height: int) -> dict[str, Any]:
        """The header's ``dataWindow`` and ``displayWindow`` for the pixels at
        ``width`` x ``height``: as stored at the data window's own size, else both scaled
        by the change of size (the display window by its edges, rounded)."""
        fx, fy = width / self.width, height / self.height
        a0, b0 = self.data_window[:2]
        x0, y0 = round(a0 * fx), round(b0 * fy)
        d0, e0, d1, e1 = self.display_window  # placed from the data window's scaled origin,
        display = (x0 + round((d0 - a0) * fx), y0 + round((e0 - b0) * fy),  # so equal
                   x0 + round((d1 + 1 - a0) * fx) - 1,  # windows stay equal
                   y0 + round((e1 + 1 - b0) * fy) - 1)
        return {"dataWindow": _box((x0, y0, x0 + width - 1, y0 + height - 1)),
                "displayWindow": _box(display)}


def _box(window: Window) -> tuple[np.ndarray, np.ndarray]:
    return (np.array(window[:2], np.int32), np.array(window[2:], np.int32))


def _window(value: Any) -> Window:
    low, high = value
    return int(low[0]), int(low[1]), int(high[0]), int(high[1])


def _open(path: Path, header_only: bool) -> Any:
    if not path.is_file():
        raise InputError(f"expected an EXR file, but {path} does not exist; check the path")
    try:
        return OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
    except Exception as exc:  # the binding raises plain exceptions
        raise InputError(
            f"expected an OpenEXR image, but {path} cannot be read ({exc}); check that the "
            "file is a complete scanline or tiled EXR"
        ) from exc


def _names(header: dict[str, Any]) -> list[str]:
    return [str(c.name) for c in header.get("channels", [])]


def _prefix(names: list[str], path: Path) -> str:
    layers = sorted({n[: len(n) - 1] for n in names if n[-1:] in ("R", "G", "B")})
    for layer in ["", *[x for x in layers if x]]:
        if all(layer + c in names for c in "RGB"):
            return layer
    raise InputError(
        f"expected an EXR with R, G and B channels, but {path.name} holds "
        f"{', '.join(sorted(names)) or 'no channels'}; export the plate with R, G and B "
        "(e.g. a beauty pass)"
    )


def _compression_name(value: Any) -> str:
    for name, member in COMPRESSIONS.items():
        if value == member:
            return name
    return str(getattr(value, "name", value)).lower().replace("_compression", "")


def layout(path: str | Path) -> ExrLayout:
    """The :class:`ExrLayout` of an EXR file (the binding reports channel types only with
    the pixels, so the file is read whole).

    Raises:
        InputError: missing or unreadable file, or no R, G and B channels.
    """
    path = Path(path)
    return _layout(_open(path, header_only=False), path)


def _layout(exr: Any, path: Path) -> ExrLayout:
    header = exr.header()
    names = _names(header)
    prefix = _prefix(names, path)
    used = {prefix + c for c in "RGBA"}
    kinds = {name: channel.type() for name, channel in exr.channels().items()}
    data = _window(header["dataWindow"])
    return ExrLayout(
        width=data[2] - data[0] + 1,
        height=data[3] - data[1] + 1,
        prefix=prefix,
        pixel_type="half" if kinds[prefix + "R"] == OpenEXR.HALF else "float",
        compression=_compression_name(header.get("compression")),
        has_alpha=prefix + "A" in names,
        colorspaces=tuple(str(header[a]) for a in COLORSPACE_ATTRIBUTES if a in header),
        extra=tuple(sorted(n for n in names if n not in used)),
        fps=_rate(header.get("framesPerSecond")),
        timecode=_timecode_text(header.get("timeCode")),
        data_window=data,
        display_window=_window(header.get("displayWindow", header["dataWindow"])),
        pixel_aspect=float(header.get("pixelAspectRatio", 1.0)),
        chromaticities=tuple(float(v) for v in header["chromaticities"])
        if "chromaticities" in header else None,
        aces_container=header.get("acesImageContainerFlag") == 1,
        other_parts=tuple(str(part.name()) for part in exr.parts[1:]),
    )


def window_and_channels(path: str | Path) -> tuple[Window, list[str]]:
    """An EXR file's data window and channel names, from its header alone."""
    header = _open(Path(path), header_only=True).header()
    return _window(header["dataWindow"]), _names(header)


def _timecode_text(value: Any) -> str | None:
    try:
        parts = (int(value.hours), int(value.minutes), int(value.seconds))
        frame, drop = int(value.frame), bool(value.dropFrame)
    except (AttributeError, TypeError, ValueError):
        return None
    return f"{parts[0]:02d}:{parts[1]:02d}:{parts[2]:02d}{';' if drop else ':'}{frame:02d}"


def timecode_attribute(text: str) -> Any:
    """``HH:MM:SS:FF`` (``;``: drop-frame) as an OpenEXR ``timeCode`` attribute value."""
    code = OpenEXR.TimeCode()
    code.hours, code.minutes, code.seconds = (int(text[0:2]), int(text[3:5]), int(text[6:8]))
    code.frame, code.dropFrame = int(text[9:11]), text[8] in ";."
    return code


def _rate(value: Any) -> Fraction | None:
    """A ``framesPerSecond`` rational attribute as a Fraction (the binding reads it as one;
    an object with ``n`` and ``d`` is taken too); None when absent or odd."""
    try:
        if hasattr(value, "n") and hasattr(value, "d"):
            value = Fraction(int(value.n), int(value.d))
        rate = Fraction(value.numerator, value.denominator)
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def read_exr(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, ExrLayout]:
    """``(rgb, alpha, layout)`` of an EXR frame.

    ``rgb``: float32 ``(H, W, 3)`` as stored; ``alpha``: ``(H, W)`` in the A channel's own
    type (``float16``/``float32``) or None.

    Raises:
        InputError: missing or unreadable file, or no R, G and B channels.
    """
    path = Path(path)
    exr = _open(path, header_only=False)
    info = _layout(exr, path)
    channels = exr.channels()
    rgb = np.stack([np.asarray(channels[info.prefix + c].pixels, dtype=np.float32)
                    for c in "RGB"], axis=2)  # (H, W, 3)
    alpha = None
    if info.has_alpha:
        pixels = np.asarray(channels[info.prefix + "A"].pixels)
        alpha = pixels if pixels.dtype in (np.float16, np.float32) else pixels.astype(np.float32)
    return np.ascontiguousarray(rgb), alpha, info


def write_exr(
    path: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    pixel_type: PixelType = "half",
    compression: str = DEFAULT_COMPRESSION,
    prefix: str = "",
    attributes: dict[str, Any] | None = None,
    alpha_type: PixelType | None = None,
) -> None:
    """Write float RGB ``(H, W, 3)`` (and alpha ``(H, W)``) as a scanline EXR, atomically.

    Channels are ``prefix + R, G, B`` of ``pixel_type`` (``+ A``, of ``alpha_type``, by
    default the same); ``compression`` is a key
    of :data:`COMPRESSIONS` (a lossy name falls back to :data:`DEFAULT_COMPRESSION`);
    ``attributes`` (strings, :func:`timecode_attribute` values) are added to the header.
    """
    path = Path(path)
    dtype = np.float16 if pixel_type == "half" else np.float32
    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    channels = {prefix + c: np.ascontiguousarray(array[..., k].astype(dtype))
                for k, c in enumerate("RGB")}
    if alpha is not None:
        a_type = np.float16 if (alpha_type or pixel_type) == "half" else np.float32
        channels[prefix + "A"] = np.ascontiguousarray(np.asarray(alpha).astype(a_type))
    header: dict[str, Any] = {
        "compression": COMPRESSIONS.get(compression, COMPRESSIONS[DEFAULT_COMPRESSION]),
        "type": OpenEXR.scanlineimage,
    }
    header.update(attributes or {})
    write_bytes(path, _encoded(header, channels, path), what="frame")


def _encoded(header: dict[str, Any], channels: dict[str, np.ndarray], path: Path) -> bytes:
    """The EXR file's bytes (the binding writes to a path: a private temporary one, in the
    system's temporary folder; when that folder is full, DiskFull names it)."""
    needed = sum(pixels.nbytes for pixels in channels.values())  # about, uncompressed
    with tempfile.TemporaryDirectory(prefix="videostyle-exr-") as folder:
        scratch = Path(folder) / "frame.exr"
        try:
            OpenEXR.File(header, channels).write(str(scratch))
            data = scratch.read_bytes()
            _open(scratch, header_only=False)  # read back whole: on a full disk the binding
            # leaves an empty or cut file without a word
        except Exception as exc:
            free = free_bytes(Path(folder))
            if free is not None and free < needed:
                raise disk_full(Path(folder).parent, needed,
                                f"the EXR frame {path.name}") from exc
            raise VideoError(
                f"expected OpenEXR to write {path.name} through the temporary folder "
                f"{Path(folder).parent}, but it failed ({exc}); check that folder, or set "
                "TMPDIR to another") from exc
    return data
