"""Multi-pass rendering (Ruder et al., ``artistic_video_multiPass.lua``).

All frames start from one shared image (by default the same noise), and passes alternate
direction: pass ``p`` (1-based) runs forward when odd, backward when even. A frame of
pass ``p > 1`` starts from its pass ``p - 1`` result blended with the neighbour just
processed in this pass (warped into it):
``x' = (x + b c w(x_nb) + b' c' w(x_other)) / (1 + b c + b' c')``, with
``b = blend_weight`` for that neighbour and ``b' = blend_weight_other`` (the reference's
``blendWeight_lastPass``, 0) for the neighbour from the previous pass. The temporal loss
(against that neighbour) is on from ``temporal_after_pass``. Each pass's result of each
frame is stored, so a render resumes inside a pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from . import flow as flowmod
from .jobs import RenderContext, first_init
from .stylize import to_tensor
from .stylizer import FrameJob
from .video import read_image
from .workdir import FrameRecord, png16, sha256_bytes


def flow_pairs(ctx: RenderContext) -> Iterator[tuple[int, int]]:
    """Every flow a multi-pass render reads: between neighbours, both ways."""
    for f in ctx.frames[1:]:
        yield (f, f - 1)
        yield (f - 1, f)


def steps(ctx: RenderContext) -> Iterator[tuple[int, int]]:
    """``(pass, frame)`` in the order they are rendered."""
    for p in range(1, ctx.settings.passes + 1):
        yield from ((p, f) for f in (ctx.frames if p % 2 == 1 else ctx.frames[::-1]))


def job(ctx: RenderContext, p: int, frame: int) -> FrameJob:
    """Pass ``p``'s job for ``frame``."""
    s = ctx.settings
    _, content = ctx.content(frame)
    forward = p % 2 == 1
    near = _warped_neighbour(ctx, p, frame, frame - 1 if forward else frame + 1)
    if p == 1:
        init = first_init(ctx, frame, content, s.engine.seed)  # one shared start image
    else:
        far = _warped_neighbour(ctx, p - 1, frame, frame + 1 if forward else frame - 1)
        x = read_image(ctx.run.pass_path(p - 1, frame))
        num = x.astype(np.float64)
        den = np.ones(x.shape[:2] + (1,))
        for warped, b in ((near, s.blend_weight), (far, s.blend_weight_other)):
            if warped is None or b == 0:
                continue
            image, c = warped
            num += b * c[..., None] * image
            den += b * c[..., None]
        init = to_tensor((num / den).astype(np.float32), ctx.device)
    temporal = []
    if p >= s.temporal_after_pass and near is not None and s.temporal_weight > 0:
        temporal = [ctx.term(*near)]
    return FrameJob(
        frame=frame, content=content, init=init, styles=ctx.frame_targets(frame),
        iterations=s.iterations[0], temporal=temporal,
        temporal_weight=s.temporal_weight if temporal else 0.0,
        label=f"pass {p}, frame {frame}",
    )


def _warped_neighbour(
    ctx: RenderContext, p: int, frame: int, nb: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pass ``p``'s result for frame ``nb`` warped into ``frame``, and its weights."""
    if p < 1 or not ctx.frames[0] <= nb <= ctx.frames[-1]:
        return None
    image = read_image(ctx.run.pass_path(p, nb))
    to_nb, from_nb = ctx.flows.get(frame, nb), ctx.flows.get(nb, frame)
    warped = flowmod.warp(image, to_nb, interpolation=ctx.settings.warp)
    return warped, flowmod.warp_weights(to_nb, from_nb)


def finish(ctx: RenderContext) -> None:
    """The last pass's frames become the render's frames (with original colours)."""
    from .color import original_colors

    s, run = ctx.settings, ctx.run
    for frame in ctx.frames:
        if run.is_done(frame):
            continue
        last = run.pass_path(s.passes, frame)
        data = last.read_bytes()
        if s.image.original_colors:
            content, _ = ctx.content(frame)
            data = png16(original_colors(read_image(last), content, s.image.original_colors))
        record = json.loads(last.with_suffix(".json").read_text())
        record["sha256"] = sha256_bytes(data)
        run.commit(run.frame_path(frame), run.record_path(frame), data, FrameRecord(**record))
