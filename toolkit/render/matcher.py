"""Motion matcher (paper Sec. 4.1, Eq. 2): the reference frame with the nearest head motion.

For each target head motion ``h_t`` the matcher picks, among the ``K``
reference frames' motions ``h_1..K``, the one with the least cost
``c_t = min_k ||h_t - h_k||^2``; that frame ``y_ts`` supplies the background
(hair, neck, scene) of the output frame.

``h = [rotation (3, radians), translation (3, pixels)]`` mixes units, so the
literal Eq. (2) is dominated by the translation. :class:`MatcherConfig`
weighs the two parts: the default measures translation in units of
``translation_unit_px`` pixels (60 px: a 6-pixel shift costs as much as
0.1 rad = 5.7 degrees of rotation on a 256-pixel crop, about what moves the
visible background by the same amount), optionally normalised by the target
scale. ``MatcherConfig(translation_unit_px=1.0, normalise_by_scale=False)``
is the paper's formula exactly.

Training helpers from the paper: "we manipulate the selection of ``y_ts`` by
increasing the cost" -> ``rank`` (take the r-th nearest instead of the
nearest) and ``exclude`` (never match a frame to itself).

Continuous output (video): matching every frame independently makes the
chosen reference frame flip back and forth when two references cost about the
same, and each flip is a jump of the background, hair and body. Given a
:class:`MatchState` (kept across the chunks of one video), the matcher keeps
the current reference until another one is clearly nearer (its cost below
``1 - switch_margin`` of the current one's) and the current one has been held
``min_hold_frames``; every switch starts a cross-fade of ``crossfade_frames``
from the old reference frame (``MatchResult.fade_from`` / ``fade_weight``,
used by the renderer and by paste-back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError


@dataclass
class MatcherConfig:
    """Weights of Eq. (2)'s cost ``||W (h_t - h_k)||^2``."""

    rotation_weight: float = 1.0
    #: translation differences are divided by this many pixels
    translation_unit_px: float = 60.0
    #: use only the image-plane translation (x, y); the orthographic depth offset moves nothing on screen
    image_plane_only: bool = True
    #: divide translation differences by the target's scale s_t (face-size independent matching)
    normalise_by_scale: bool = False
    #: continuous output only (with a MatchState): switch when the new cost < (1 - margin) x the current cost
    switch_margin: float = 0.3
    #: continuous output only: keep a reference frame at least this many frames (0.8 s) before switching again
    min_hold_frames: int = 20
    #: continuous output only: frames (0.5 s) over which the old reference frame fades into the new one; with 5
    #: frames a 15-grey-level switch still stepped 2.5 per frame, above a still real background's changes
    crossfade_frames: int = 12


@dataclass
class MatchResult:
    """Per target frame: index into the reference frames and its cost ``c_t``."""

    index: np.ndarray  # (T,) int64
    cost: np.ndarray  # (T,) float32
    #: (T,) int64 reference still fading out at this frame, -1 = none (continuous matching only)
    fade_from: np.ndarray | None = None
    #: (T,) float32 weight of ``index`` while ``fade_from`` fades out (1 = no cross-fade)
    fade_weight: np.ndarray | None = None


@dataclass
class MatchState:
    """What continuous matching carries from one chunk of a video to the next."""

    current: int = -1
    held: int = 0
    fade_from: int = -1
    fade_step: int = 0


def motion_cost(
    target: np.ndarray,
    references: np.ndarray,
    config: MatcherConfig | None = None,
    target_scale: np.ndarray | None = None,
) -> np.ndarray:
    """Pairwise costs ``(T, K)`` between target motions ``(T, 6)`` and reference motions ``(K, 6)``."""
    cfg = config or MatcherConfig()
    tgt = _as_motion(target, "target")
    ref = _as_motion(references, "reference")
    d = tgt[:, None, :] - ref[None, :, :]  # (T, K, 6)
    rot = d[..., :3] * cfg.rotation_weight
    trans = d[..., 3:]
    if cfg.image_plane_only:
        trans = trans[..., :2]
    trans = trans / cfg.translation_unit_px
    if cfg.normalise_by_scale and target_scale is not None:
        s = np.asarray(target_scale, np.float64).reshape(-1, 1, 1)
        trans = trans / np.maximum(s, 1e-6)
    return (np.sum(rot**2, axis=-1) + np.sum(trans**2, axis=-1)).astype(np.float32)


def match_motion(
    target: np.ndarray,
    references: np.ndarray,
    config: MatcherConfig | None = None,
    target_scale: np.ndarray | None = None,
    rank: int | np.ndarray = 0,
    exclude: np.ndarray | None = None,
    state: MatchState | None = None,
) -> MatchResult:
    """Eq. (2): for every target motion, the reference frame with the least cost.

    Args:
        target: ``(T, 6)`` head motions ``h_t``.
        references: ``(K, 6)`` head motions of the reference frames ``h_1..K``.
        target_scale: ``(T,)`` scales, used when ``config.normalise_by_scale``.
        rank: 0 = nearest (Eq. 2); r > 0 takes the r-th nearest (training-time
            perturbation of ``y_ts``); an array gives one rank per target frame.
        exclude: optional ``(T,)`` reference index never to match for each target
            (-1 = none), e.g. the target frame itself when targets are references.
        state: continuous output (consecutive frames of a video, chunk after chunk):
            switch with hysteresis and cross-fade (see the module docstring); updated in place.

    Returns:
        :class:`MatchResult` with indices into ``references``.
    """
    cost = motion_cost(target, references, config, target_scale).astype(np.float64)
    n_t, n_k = cost.shape
    if exclude is not None:
        ex = np.asarray(exclude, np.int64).reshape(-1)
        if ex.shape[0] != n_t:
            raise ToolkitError(f"exclude has {ex.shape[0]} entries for {n_t} targets.", "Give one index per target.")
        rows = np.nonzero((ex >= 0) & (ex < n_k))[0]
        cost[rows, ex[rows]] = np.inf
        if n_k < 2 and rows.size:
            raise ToolkitError("Excluding the only reference frame leaves nothing to match.", "Give more references.")
    ranks = np.broadcast_to(np.asarray(rank, np.int64).reshape(-1), (n_t,))
    if (ranks < 0).any():
        raise ToolkitError("rank must be >= 0.", "Use 0 for the nearest reference (Eq. 2).")
    available = np.isfinite(cost).sum(axis=1)
    ranks = np.minimum(ranks, available - 1)
    if int(ranks.max(initial=0)) == 0:
        idx = np.argmin(cost, axis=1)
    else:
        order = np.argsort(cost, axis=1, kind="stable")
        idx = order[np.arange(n_t), ranks]
    if state is not None:
        return _continuous(cost, idx, config or MatcherConfig(), state)
    return MatchResult(index=idx.astype(np.int64), cost=cost[np.arange(n_t), idx].astype(np.float32))


def _continuous(cost: np.ndarray, best: np.ndarray, cfg: MatcherConfig, state: MatchState) -> MatchResult:
    """Hysteresis and cross-fade over consecutive frames (costs ``(T, K)``, per-frame best ``(T,)``)."""
    n_t = len(best)
    index = np.empty(n_t, np.int64)
    fade_from = np.full(n_t, -1, np.int64)
    fade_weight = np.ones(n_t, np.float32)
    fade = max(0, int(cfg.crossfade_frames))
    for t in range(n_t):
        b = int(best[t])
        cur = state.current
        if cur < 0 or not np.isfinite(cost[t, cur]):
            state.current, state.held, state.fade_from = b, 0, -1
        elif b != cur and state.held >= cfg.min_hold_frames and cost[t, b] < (1.0 - cfg.switch_margin) * cost[t, cur]:
            state.fade_from, state.fade_step = (cur, 0) if fade > 0 else (-1, 0)
            state.current, state.held = b, 0
        index[t] = state.current
        state.held += 1
        if state.fade_from >= 0:
            state.fade_step += 1
            if state.fade_step > fade:
                state.fade_from = -1
            else:
                fade_from[t] = state.fade_from
                fade_weight[t] = state.fade_step / (fade + 1.0)
    return MatchResult(
        index=index, cost=cost[np.arange(n_t), index].astype(np.float32), fade_from=fade_from, fade_weight=fade_weight
    )


def crossfade_frames(frames: np.ndarray, faded: np.ndarray | None, match: MatchResult) -> np.ndarray:
    """Blend ``frames`` (T, H, W, C) of ``match.index`` with ``faded`` (T, H, W, C), the frames of
    ``match.fade_from``, where a cross-fade runs; ``faded`` may be None when none does."""
    if match.fade_from is None or faded is None or not (match.fade_from >= 0).any():
        return frames
    out = frames.copy()
    for t in np.flatnonzero(match.fade_from >= 0):
        out[t] = crossfade_pixels(frames[t], faded[t], float(match.fade_weight[t]))
    return out


def crossfade_pixels(frame: np.ndarray, faded: np.ndarray, weight: float, out: np.ndarray | None = None) -> np.ndarray:
    """One cross-faded frame: ``weight * frame + (1 - weight) * faded``, rounded, in ``frame``'s dtype.

    ``out``: an array of ``frame``'s shape and dtype to write into (it may be ``frame`` itself). uint8 frames
    go through a compiled kernel where numba is installed (the same arithmetic, bit for bit).
    """
    from toolkit.render.rasterize import _use_numba

    w = float(weight)
    contiguous = all(a.dtype == np.uint8 and a.flags.c_contiguous for a in (frame, faded))
    if contiguous and frame.shape == faded.shape and _use_numba(None):
        from toolkit.render import _kernels

        target = np.empty_like(frame) if out is None else out
        if target.dtype == np.uint8 and target.flags.c_contiguous and target.shape == frame.shape:
            _kernels.crossfade_into(frame, faded, w, target)
            return target
    mixed = np.clip(w * frame.astype(np.float32) + (1 - w) * faded + 0.5, 0, 255).astype(frame.dtype)
    if out is None:
        return mixed
    out[...] = mixed
    return out


def _as_motion(h: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(h, np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ToolkitError(
            f"The {what} head motion must be (N, 6) [rotation (3), translation (3)], got {np.shape(h)}.",
            "Build h_t as np.concatenate([rotation, translation], axis=1).",
        )
    if arr.shape[0] == 0:
        raise ToolkitError(f"No {what} head motions were given.", "Give at least one frame.")
    if not np.isfinite(arr).all():
        raise ToolkitError(f"The {what} head motion contains NaN/inf.", "Interpolate missing frames first.")
    return arr
