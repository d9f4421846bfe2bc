"""Optical flow: estimators, ``.flo`` files, warping and consistency weights.

Conventions (used by every function in this package)
----------------------------------------------------
* A **flow field** is a displacement field: a numpy ``float32`` array of shape
  ``(H, W, 2)`` in pixels, channel 0 = ``u`` (x, to the right), channel 1 = ``v``
  (y, downwards). For ``flow_a_to_b[y, x] == (u, v)``, pixel ``(x, y)`` of frame
  *a* lands at ``(x + u, y + v)`` in frame *b*. Pixel centres sit at integer
  coordinates; ``(0, 0)`` is the centre of the top-left pixel.
* **Images** are numpy ``float32`` arrays ``(H, W, 3)``, RGB in ``[0, 1]``, or
  torch tensors ``(N, C, H, W)``.
* **Frame numbers** are the 1-based numbers of the *source* video's frames, as in
  the reference implementation's file names: ``forward_i_j.flo`` is the flow
  from frame ``i`` to frame ``j = i + k`` and ``backward_j_i.flo`` the flow from
  frame ``j`` back to frame ``i``.

How the pieces fit for stylising frame ``i`` with the help of frame ``i - 1``
(Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos", 2016):

* ``warp(stylised[i - 1], flow(i -> i-1))`` moves the previous stylised frame into
  frame ``i`` (a *backward* warp: every output pixel looks up where it came from).
* Its per-pixel weights are ``warp_weights(flow(i -> i-1), flow(i-1 -> i))``,
  i.e. the *backward* flow checked against the forward flow; this is the
  reference's ``reliable_j_i.pgm`` produced by ``consistencyChecker backward_j_i.flo
  forward_i_j.flo``.
* With several previous frames (long-term consistency), order the weight maps
  nearest frame first and pass them through :func:`closest_first`.

Modules
-------
* :mod:`~videostyle.flow.flo`: Middlebury ``.flo`` files, :func:`resize_flow`, checks.
* :mod:`~videostyle.flow.estimators`: DIS, Farneback, DeepFlow/TV-L1 and the
  :data:`REGISTRY` of estimator names behind :func:`make_estimator`.
* :mod:`~videostyle.flow.consistency`: the reference's forward-backward check
  (:func:`consistency_weights`, :func:`warp_weights`, :func:`closest_first`).
* :mod:`~videostyle.flow.warp`: :func:`warp` and the differentiable :func:`warp_torch`.
* :mod:`~videostyle.flow.sources`: flows by frame number: :class:`FileFlow` reads the
  reference's precomputed files, :class:`FlowCache` computes flows with a
  :class:`FlowEstimator` and keeps them as ``.flo`` files in the run folder,
  :class:`FlowPrefetcher` computes scheduled pairs on a background thread so the
  optimiser does not wait; :func:`open_flow_source` picks one for a ``--flow`` value.
* :mod:`~videostyle.flow.visualize`: :func:`flow_to_color`, :func:`endpoint_error`.

Every name is importable from ``videostyle.flow`` itself.
"""

from __future__ import annotations

from .consistency import _SMOOTH_KERNEL as _SMOOTH_KERNEL
from .consistency import _consistency_255 as _consistency_255
from .consistency import _filter_axis as _filter_axis
from .consistency import (
    closest_first,
    consistency_labels,
    consistency_weights,
    warp_weights,
)
from .estimators import (
    DEFAULT_DIS_PARAMS,
    DEFAULT_DIS_PRESET,
    DEFAULT_ESTIMATOR,
    ESTIMATOR_NAMES,
    REGISTRY,
    ContribFlow,
    DISFlow,
    EstimatorFactory,
    FarnebackFlow,
    FlowEstimator,
    make_estimator,
)
from .flo import read_flo, resize_flow, write_flo
from .sources import (
    EstimatedFlow,
    FileFlow,
    FlowCache,
    FlowPrefetcher,
    FlowSource,
    FolderFlow,
    flow_filename,
    open_flow_source,
)
from .visualize import endpoint_error, flow_to_color
from .warp import DEFAULT_WARP, WARP_INTERPOLATIONS, warp, warp_torch

__all__ = [
    "DEFAULT_DIS_PARAMS",
    "DEFAULT_DIS_PRESET",
    "DEFAULT_ESTIMATOR",
    "DISFlow",
    "ESTIMATOR_NAMES",
    "ContribFlow",
    "EstimatedFlow",
    "EstimatorFactory",
    "FarnebackFlow",
    "FileFlow",
    "FlowCache",
    "FlowEstimator",
    "FlowPrefetcher",
    "FlowSource",
    "FolderFlow",
    "REGISTRY",
    "closest_first",
    "consistency_labels",
    "consistency_weights",
    "endpoint_error",
    "flow_filename",
    "flow_to_color",
    "make_estimator",
    "open_flow_source",
    "read_flo",
    "resize_flow",
    "warp",
    "warp_torch",
    "WARP_INTERPOLATIONS",
    "DEFAULT_WARP",
    "warp_weights",
    "write_flo",
]
