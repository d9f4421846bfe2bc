"""``videostyle render``: its options, and the call into the pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from .. import flow as flowmod
from ..config import DEFAULT_PRESET, INIT_LATER, PRESETS
from ..errors import Interrupted
from ..settings import RenderSettings
from ..video import CODECS
from . import options as o
from .app import app, echo, errors, note, warn
from .progress import StopFlag, frame_bar, interrupted

Quality = o.choice("Quality", tuple(PRESETS))
Codec = o.choice("Codec", CODECS)
_RENDER = RenderSettings(source=Path(), styles=(), output=Path())

RENDER_OPTIONS = (
    o.Opt("source", Path | None, None, "Video file, folder of frames, or pattern like "
          "shot_%04d.png (or from --config).", argument=True, extra={"metavar": "[SOURCE]"}),
    replace(o.STYLE, type=list[Path] | None, default=None),
    o.Opt("output", Path | None, None, "Output video (.mp4/.mov/.mkv) or out_%04d.png.",
          decls=("--output", "-o")),
    o.Opt("quality", Quality, Quality(DEFAULT_PRESET),
          "Preset for size, iterations, flow and long-term offsets."),
    o.Opt("size", int | None, None, "Longest side in pixels [default: the --quality preset's, "
          "never above the source's].", extra={"min": 16}),
    o.Opt("frames", str | None, None, "START:END frame numbers, inclusive; either end "
          "optional. A video's frames are numbered from 1, a sequence's by the numbers in its "
          "file names (plate.1001.exr: 1001)."),
    o.Opt("fps", str | None, None, "Frame rate of an image sequence, e.g. 24 or 24000/1001 "
          "(image sequences only; a video keeps its own)."),
    o.Opt("iterations", str | None, None, "N, or FIRST,REST for the first and the later "
          "frames; with --passes one N for every pass and frame. A frame started "
          "coarse-to-fine (--start-size; the first, or every frame with --independent) "
          "counts the work of N iterations at the output size: 90 % run there, the rest on "
          "the smaller scales [default: from --quality]."),
    o.OPTIMIZER,
    o.Opt("first_frame_init", str, _RENDER.image.init, "First frame starts from: content, "
          "random, style, or a file (with --independent every frame; with --passes every "
          "frame of pass 1, default random there)."),
    o.Opt("init", str, _RENDER.init, f"Later frames start from: {', '.join(INIT_LATER)} "
          "(single-pass chained renders only)."),
    o.Opt("independent", bool, False, "Each frame on its own (flickers).",
          decls=("--independent",)),
    o.Opt("flow", str | None, None, f"Flow estimator ({', '.join(flowmod.ESTIMATOR_NAMES)}) "
          "or a folder of forward_i_j.flo/backward_j_i.flo files named by frame numbers, as "
          "makeOptFlow.sh writes them [default: from --quality]."),
    o.Opt("warp", o.Warp, o.Warp(_RENDER.warp), "Resampling of earlier stylised frames into "
          "the current one (bilinear: the reference's; lanczos keeps fine strokes sharper)."),
    o.Opt("long_term", str | None, None, "Temporal offsets J, e.g. 1,10,20,40 (1 = "
          "short-term only) [default: from --quality]."),
    o.Opt("temporal_weight", float | None, None, "Weight of the temporal loss [default: "
          "1.0e6, the reference's strength relative to content; half that with --passes].",
          extra={"min": 0.0}),
    *o.ENGINE_OPTIONS,
    o.Opt("style_mask", list[str] | None, None, "One mask per --style, same order: an image, "
          "or a frame sequence whose file numbers are the frame numbers (white = this style "
          "applies there).", decls=("--style-mask",), extra={"metavar": "MASK"}),
    *o.NETWORK_OPTIONS,
    o.Opt("codec", Codec, Codec("h264"), "Video output only: h264 (.mp4/.mov/.mkv), prores "
          "(ProRes 422 HQ, .mov), ffv1 (lossless, .mkv or .mov), prores4444 / prores4444xq "
          "(.mov, with the source's alpha)."),
    o.Opt("bit_depth", int, _RENDER.bit_depth,
          "Bits per channel (8 or 16) of an image-sequence output only."),
    o.Opt("workdir", Path | None, None,
          "Run folder [default: OUTPUT without extension + .videostyle]."),
    o.Opt("restart", bool, False, "Discard the run folder's frames, start over.",
          decls=("--restart",)),
    o.Opt("passes", int, _RENDER.passes, "Multi-pass: number of passes over all frames (1: "
          "single pass; the reference uses 15 of 100 iterations).", extra={"min": 1}),
    o.Opt("temporal_after_pass", int, _RENDER.temporal_after_pass,
          "Multi-pass only: first pass with the temporal loss.", extra={"min": 1}),
    o.Opt("blend_weight", float, _RENDER.blend_weight, "Multi-pass only: weight b of the "
          "warped neighbour in a frame's start image.", extra={"min": 0.0}),
    o.Opt("deterministic", bool, False, "Bitwise-reproducible render and resume: "
          "deterministic torch/cuDNN algorithms; a resume on another device, thread count, "
          "torch or machine is refused instead of warned (on a CPU that refusal is its "
          "effect; the CPU kernels are deterministic already).", decls=("--deterministic",)),
    o.Opt("crf", int | None, None, f"h264 only: quality, 0 (lossless) to 51 [default: "
          f"{_RENDER.crf}].", extra={"min": 0, "max": 51}),
    o.Opt("input_colorspace", str | None, None, "OpenColorIO colour space of the source "
          "[default: an EXR's header, else the config's scene_linear role, for EXR; sRGB "
          "(color_picking role) for PNG/TIFF/JPEG and video]. Config: $OCIO, else the "
          "built-in CG config."),
    o.Opt("output_colorspace", str | None, None, "OpenColorIO colour space of the output "
          "[default: the input's]."),
    o.QUIET,
    o.Opt("overwrite", bool, False, "Replace an existing output that this render's run folder "
          "did not write (a resume or a re-encode rewrites its own output without it; an "
          "input is never replaced).", decls=("--overwrite",)),
    o.CONFIG,
    *o.FARM_OPTIONS,
    o.Opt("chunks", int | None, None, "Render the shot in K overlapping chunks, each a chained "
          "render of its own (in the run folder's chunks/), blended across the seams: on the "
          "farm's workers with --workers/--ray-address, else here one after another; >= 2 "
          "(see docs/farm.md).", extra={"min": 2, "metavar": "K"}),
    o.Opt("chunk_overlap", int | None, None, "With --chunks: frames neighbouring chunks both "
          "render, blended across the seam [default: 5, the measured value].",
          extra={"min": 0}),
)


@o.command(app, "render", RENDER_OPTIONS)
def render(ctx: typer.Context, **values: Any) -> None:
    """Stylise a video: videostyle render in.mp4 --style painting.jpg -o out.mp4

    Runs can be interrupted at any time (Ctrl-C); the same command resumes.
    """
    from ..networks import network_for, resolve_device
    from ..pipeline import Renderer, check_render
    from ..settings import resolve_render

    if values["config"] is not None or any(values[n.name] is not None for n in o.FARM_OPTIONS) \
            or None in (values["source"], values["style"], values["output"]) \
            or values["chunks"] is not None:  # chunks: rendered and stitched by videostyle.chunked
        from .batch import render_shots

        render_shots(ctx, values, shot_file=values["config"], single=True)
        return
    stop = StopFlag()
    quiet, output, workdir = values["quiet"], values["output"], values["workdir"]
    with errors():
        given = o.given(ctx, values, exclude=("source", "style", "output", "quality", "device",
                                               "quiet", "config", *o.FARM_NAMES))
        resolved = resolve_render(values["source"], tuple(values["style"]), output,
                                  quality=values["quality"], given=given)
        settings = resolved.settings
        device = resolve_device(values["device"])
        checked = check_render(settings, device)  # every check, before the network loads
        for message in resolved.notes:  # a refused render says only why
            note(message)
        net = network_for(settings.engine, weights=given.get("weights"), device=device)
        stop.install()
        with frame_bar(quiet) as (on_frame, on_iteration):
            renderer = Renderer(settings, network=net, device=device, on_frame=on_frame,
                                on_iteration=on_iteration, should_stop=stop, on_note=note,
                                checked=checked)
            try:
                result = renderer.run()
            except KeyboardInterrupt:  # a second Ctrl-C: stop at once
                interrupted(stop, output, workdir)
            except Exception as exc:
                if isinstance(exc, Interrupted) or stop.signal is not None:
                    interrupted(stop, output, workdir)
                raise
        for warning in result.warnings:
            warn(warning)
        if not quiet:
            echo(f"wrote {result.output} ({result.frames} frames at {result.fps} fps, "
                 f"{result.computed} computed now; run folder {result.workdir})")
