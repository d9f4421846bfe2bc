"""Colour management with OpenColorIO: the plate's colour space, the space the style
transfer works in, and the output's.

Config: the file ``$OCIO`` names when set, else OpenColorIO's built-in CG config
(``ocio://default``, nothing is downloaded).

The style transfer works display-referred: in the config's ``color_picking`` role (the
built-in config's ``sRGB Encoded Rec.709 (sRGB)``), values in ``[0, 1]``. A plate is
converted there by OpenColorIO (``e``, float32, unclipped); the stylizer sees ``clip(e, 0,
1)`` stored at 16 bits (``C``). Values the display range cannot hold pass through
(highlight pass-through): the finished frame is ``e + (S - C)`` for the stylised ``S``,
converted by OpenColorIO to the output's colour space (computed as the plate's own
conversion plus the change, see :func:`finished`). So highlights above 1.0 (and
out-of-gamut negatives) keep their energy under the strokes, and a plate rendered with
``--iterations 0`` (``S == C``) comes back bit for bit.

Defaults: the input is what an EXR's header says (``colorInteropID``, then
``oiio:ColorSpace``) when the config knows it, then the linear space its
``acesImageContainerFlag`` (ACES2065-1) or ``chromaticities`` (AP0, AP1, Rec.709, Rec.2020,
P3-D65 primaries) imply, else the config's ``scene_linear`` role
(the built-in config's ACEScg); an 8/16-bit integer image or a video is sRGB / Rec.709,
the ``color_picking`` role. The output defaults to the input's colour space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import PyOpenColorIO as ocio

from .errors import InputError, opt
from .video import SourceInfo

BUILTIN_CONFIG = "ocio://default"
WORKING_ROLE = "color_picking"


def config_name() -> str:
    """The config in use: ``$OCIO`` when set, else the built-in CG config."""
    return os.environ.get("OCIO") or BUILTIN_CONFIG


@lru_cache(maxsize=4)
def _config(name: str) -> Any:
    try:
        return ocio.Config.CreateFromFile(name)
    except Exception as exc:  # OpenColorIO raises its own Exception type
        message = " ".join(str(exc).split())[:200]
        raise InputError(
            f"the OpenColorIO config {name} cannot be read ({message}); fix $OCIO or unset it "
            "to use the built-in config"
        ) from exc


def config() -> Any:
    """The OpenColorIO config in use (see :func:`config_name`)."""
    return _config(config_name())


def colorspace(name: str, setting: str) -> str:
    """The config's own name of colour space (or role, or alias) ``name``; InputError
    naming ``setting`` when the config does not know it."""
    cfg = config()
    space = cfg.getColorSpace(name)
    if space is None:
        known = ", ".join(cs.getName() for cs in cfg.getColorSpaces())
        raise InputError(
            f"{opt(setting)} {name!r} is not a colour space of the OpenColorIO config "
            f"{config_name()}; use one of: {known}"
        )
    return str(space.getName())


def working_space() -> str:
    """The display-referred space the style transfer works in (``color_picking`` role)."""
    cfg = config()
    space = cfg.getColorSpace(WORKING_ROLE)
    if space is None:
        raise InputError(
            f"the OpenColorIO config {config_name()} has no {WORKING_ROLE} role (the sRGB "
            "display-referred space the style transfer works in); add one to the config"
        )
    return str(space.getName())


@dataclass(frozen=True)
class ColourPlan:
    """The colour spaces of a render (names as the config spells them)."""

    config: str
    input: str
    working: str
    output: str

    @property
    def identity(self) -> bool:
        """Whether no conversion happens (an sRGB plate written back as sRGB)."""
        return self.input == self.working == self.output

    def stored(self) -> dict[str, str]:
        """What the run folder's frames depend on (the output space only finishes them, so
        changing it re-finishes a render without redoing its frames)."""
        return {"config": self.config, "input": self.input, "working": self.working}


#: The primaries (red, green, blue, white; x and y) of an EXR's ``chromaticities`` that name
#: a linear colour space, by the interop ID of that space.
PRIMARIES = {
    "lin_ap0_scene": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "lin_ap1_scene": (0.713, 0.293, 0.165, 0.83, 0.128, 0.044, 0.32168, 0.33767),
    "lin_rec709_scene": (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329),
    "lin_rec2020_scene": (0.708, 0.292, 0.17, 0.797, 0.131, 0.046, 0.3127, 0.329),
    "lin_p3d65_scene": (0.68, 0.32, 0.265, 0.69, 0.15, 0.06, 0.3127, 0.329),
}


def implied_space(chromaticities: tuple[float, ...] | None, aces_container: bool) -> str | None:
    """The interop ID of the linear space an EXR's ``acesImageContainerFlag`` or
    ``chromaticities`` (to 0.002) implies; None when neither says one."""
    if aces_container:
        return "lin_ap0_scene"
    for interop, xy in PRIMARIES.items():
        if chromaticities and all(abs(a - b) <= 0.002 for a, b in zip(chromaticities, xy,
                                                                        strict=True)):
            return interop
    return None


def default_input(info: SourceInfo) -> str:
    """The input colour space a source has when none is given (see the module's notes)."""
    cfg = config()
    if info.exr is not None:
        implied = implied_space(info.exr.chromaticities, info.exr.aces_container)
        for name in (*info.exr.colorspaces, *([implied] if implied else [])):
            space = cfg.getColorSpace(name)
            if space is not None:
                return str(space.getName())
        space = cfg.getColorSpace("scene_linear")
        if space is None:
            raise InputError(
                f"the EXR {info.path} names no colour space the OpenColorIO config knows and "
                f"the config has no scene_linear role; pass {opt('input_colorspace')}"
            )
        return str(space.getName())
    return working_space()


def plan(info: SourceInfo, input_colorspace: str | None,
         output_colorspace: str | None) -> ColourPlan:
    """The render's :class:`ColourPlan` from what the user gave and the source."""
    working = working_space()
    source = (colorspace(input_colorspace, "input_colorspace") if input_colorspace
              else default_input(info))
    target = colorspace(output_colorspace, "output_colorspace") if output_colorspace else source
    return ColourPlan(config_name(), source, working, target)


#: ffmpeg's names of the primaries and transfers an OpenColorIO interop ID (``<transfer>_
#: <primaries>_<scene|display>``, e.g. ``pq_rec2020_display``) can name in a video's tags.
#: sRGB-encoded Rec.709 is tagged ``bt709`` throughout, as the plain path tags the frames
#: it encodes and as players read a computer picture.
VIDEO_PRIMARIES = {"rec709": "bt709", "rec2020": "bt2020", "p3d65": "smpte432",
                   "p3dci": "smpte431"}
VIDEO_TRANSFERS = {"srgb": "iec61966-2-1", "g22": "gamma22", "g28": "gamma28",
                   "g24": "bt709", "lin": "linear", "pq": "smpte2084",
                   "hlg": "arib-std-b67"}


def video_tags(space: str) -> tuple[str | None, str | None]:
    """The primaries and transfer a video file names for colour space ``space`` (ffmpeg's
    names), from the space's interop ID; None for what a video's tags cannot say (ACES
    primaries, log encodings) or a config that gives no interop ID."""
    found = config().getColorSpace(space)
    interop = str(getattr(found, "getInteropID", lambda: "")() or "") if found else ""
    parts = interop.split("_")
    if len(parts) != 3:
        return None, None
    transfer, primaries = parts[0], parts[1]
    if (transfer, primaries) == ("srgb", "rec709"):
        return "bt709", "bt709"
    return VIDEO_PRIMARIES.get(primaries), VIDEO_TRANSFERS.get(transfer)


@lru_cache(maxsize=16)
def _processor(name: str, source: str, target: str) -> Any:
    return _config(name).getProcessor(source, target).getOptimizedCPUProcessor(
        ocio.OPTIMIZATION_LOSSLESS
    )


def convert(image: np.ndarray, source: str, target: str) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB from colour space ``source`` to ``target`` (a copy)."""
    out = np.ascontiguousarray(image, dtype=np.float32).copy()
    if source != target:
        _processor(config_name(), source, target).applyRGB(out)
    return out


def to_working(plan: ColourPlan, image: np.ndarray) -> np.ndarray:
    """A plate's RGB in the display-referred working space, unclipped."""
    return convert(image, plan.input, plan.working)


def finished(plan: ColourPlan, plate: np.ndarray, working: np.ndarray, content: np.ndarray,
             stylised: np.ndarray, coverage: np.ndarray | None = None) -> np.ndarray:
    """The output's RGB: the plate in the output space plus the stylisation's change.

    ``plate``: the source's RGB (input space); ``working``: its straight colour in the
    working space, unclipped (``e``); ``content``: what the stylizer saw (``C``);
    ``stylised``: what it made (``S``). The change is measured in the output space,
    ``out(e + S - C) - out(e)``, and added to ``plate`` converted to the output space,
    multiplied by ``coverage`` (an EXR's alpha, ``(H, W, 1)``) for a premultiplied plate.
    When nothing was painted (``S == C``) the result is the plate's own conversion, bit
    for bit the plate when the output space is the input's.
    """
    painted = working + (stylised.astype(np.float32) - content.astype(np.float32))
    change = convert(painted, plan.working, plan.output) - convert(working, plan.working,
                                                                   plan.output)
    if coverage is not None:
        change *= coverage
    return convert(plate, plan.input, plan.output) + change
