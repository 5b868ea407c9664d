"""The matched reference frame moved with the head: no ghost contours where the render meets it.

The 3D-warp output is the rendered face over the matched reference frame ``y_ts`` (Eq. 2). The
matcher picks the reference whose head motion is nearest, but with a handful of references the
nearest can still sit several pixels (or degrees) away, and where the render's weight fades out
across the mesh's outer ring the matched frame's *own* cheek, jaw and hairline show beside the
rendered ones: a second cheek contour, a chin that looks swollen (two jaw lines), a doubled fringe.

:func:`background_flow` moves the matched frame with the head instead: the face-oval landmarks and
the mesh's outer-ring vertices are where they are in the matched frame (its tracked landmarks, its
pose) and where the render puts them (target pose and expression); their displacement is spread
over the image by normalised Gaussian weights, which keeps it smooth, makes it the controls' own
displacement along the outline and lets it fall to zero a few face-widths away (background and
shoulders stay put). The field is computed on a coarse grid (``FLOW_GRID`` cells a side) and
upsampled, so it costs far less than the rasterisation. :func:`warp_by_flow` applies it (a
backward map: output pixel ``p`` samples the matched frame at ``p - D(p)``), to the crop here and,
scaled, to the full-resolution frame at paste-back (``toolkit.pipeline.paste``).
"""

from __future__ import annotations

import numpy as np

#: coarse flow grid, cells per side
FLOW_GRID = 32
#: Gaussian width of a control's influence, as a fraction of the face width (temple to temple)
FLOW_SIGMA = 0.3
#: weight of "no motion" against the controls: the field falls off ~2 sigma beyond the outermost control
FLOW_REST = float(np.exp(-2.0))
#: outside the head's outline (where the render puts it and where the matched frame has it) the flow falls off
#: with this Gaussian width (fraction of the face width): the head's own hair and the neck just below move with it,
#: the scene behind mostly does not (direct AOC self-reenactment, whole-frame / face SSIM: no flow 0.786 / 0.707,
#: unbounded 0.711 / 0.725, bounded with 0.08: 0.796 / 0.737; 0.04 left streaks where the flag is stretched)
FLOW_REACH = 0.08
#: the flow fades to zero over this fraction of the image size at its border
FLOW_BORDER = 0.12


def background_flow(
    source: np.ndarray,
    target: np.ndarray,
    size: tuple[int, int],
    grid: int = FLOW_GRID,
    outline: np.ndarray | None = None,
) -> np.ndarray:
    """Coarse backward flow moving control points ``source`` -> ``target``.

    Args:
        source: ``(T, C, 2)`` control positions in the matched frames (output pixels).
        target: ``(T, C, 2)`` the same controls where the render puts them.
        size: ``(H, W)`` of the output.
        outline: optional ``(T, Q, P, 2)`` polygons per frame (the head's outer ring where the render puts it and
            where the matched frame has it): outside them the flow falls off over ``FLOW_REACH`` face widths, so
            a textured background beside the head (a flag) stays put while the matched head is moved whole.

    Returns:
        ``(T, grid, grid, 2)`` float32 displacement ``D`` at the grid's cell centres (output pixels):
        output pixel ``p`` shows the matched frame's pixel ``p - D(p)``.
    """
    src = np.asarray(source, np.float32)
    dst = np.asarray(target, np.float32)
    h, w = size
    disp = dst - src  # (T, C, 2)
    ok = np.isfinite(disp).all(axis=-1)
    disp = np.where(ok[..., None], disp, 0.0).astype(np.float32)
    x = np.where(ok, dst[..., 0], np.nan)
    width = np.nan_to_num(np.nanmax(x, axis=1, initial=-np.inf) - np.nanmin(x, axis=1, initial=np.inf), nan=1.0)
    sigma = FLOW_SIGMA * np.clip(width, 1.0, None)  # (T,)
    dst = np.where(ok[..., None], dst, np.float32(1e6))
    gy = ((np.arange(grid) + 0.5) * h / grid).astype(np.float32)
    gx = ((np.arange(grid) + 0.5) * w / grid).astype(np.float32)
    # the Gaussian is separable: weight(cell, control) = ey(row, control) * ex(column, control), so the
    # weighted sums are two batched matrix products instead of a (T, G*G, C) distance array
    inv = (0.5 / sigma**2).astype(np.float32)[:, None, None]
    ey = np.exp(-((gy[None, :, None] - dst[:, None, :, 1]) ** 2) * inv)  # (T, G, C)
    ex = np.exp(-((gx[None, :, None] - dst[:, None, :, 0]) ** 2) * inv)  # (T, G, C)
    ex_t = np.ascontiguousarray(ex.transpose(0, 2, 1))  # (T, C, G)
    total = ey @ ex_t  # (T, G rows, G columns)
    flow = np.stack([(ey * disp[:, None, :, d]) @ ex_t for d in (0, 1)], axis=-1) / (total[..., None] + FLOW_REST)

    # nothing moves at the image border: a sample from beyond it would smear the edge row into streaks
    def ramp(centres: np.ndarray, n: int) -> np.ndarray:
        edge = np.minimum(centres, n - centres) / n
        r = np.clip((edge - 0.5 / grid) / FLOW_BORDER, 0.0, 1.0)  # 0 from the outermost cells' centres out
        return r * r * (3.0 - 2.0 * r)

    flow *= np.minimum(ramp(gy, h)[:, None], ramp(gx, w)[None, :])[None, :, :, None]
    if outline is not None:
        flow *= _near_outline(np.asarray(outline, np.float32), size, grid, width)[..., None]
    return flow.astype(np.float32)


def _near_outline(outline: np.ndarray, size: tuple[int, int], grid: int, width: np.ndarray) -> np.ndarray:
    """(T, G, G) 1 inside each frame's outline polygons, falling off outside them over ``FLOW_REACH`` face widths."""
    import cv2

    h, w = size
    out = np.ones((len(outline), grid, grid), np.float32)
    cell = np.array([w / grid, h / grid], np.float32)
    for t, polys in enumerate(outline):
        if not np.isfinite(polys).all():
            continue
        inside = np.zeros((grid, grid), np.uint8)
        cv2.fillPoly(inside, [np.round(p / cell - 0.5).astype(np.int32) for p in polys], 1)
        # distance (in cells) from the polygon, converted to pixels with the mean cell size
        dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3) * float(cell.mean())
        reach = max(FLOW_REACH * float(width[t]), 1.0)
        out[t] = np.exp(-0.5 * (dist / reach) ** 2)
    return out


def dense_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One coarse flow ``(G, G, 2)`` upsampled to ``(H, W, 2)`` (bilinear, cell centres kept)."""
    import cv2

    h, w = size
    return cv2.resize(np.asarray(flow, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def warp_by_flow(
    image: np.ndarray, flow: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), out: np.ndarray | None = None
) -> np.ndarray:
    """``image`` (H, W, 3) resampled at ``p - flow(p)``; ``flow`` (h, w, 2) covers the window at ``offset``.

    ``offset`` = (x0, y0) of the window of ``image`` the dense flow covers (paste-back warps only the
    face box of a full frame, but samples from the whole frame); outside the window nothing moves.
    ``out``: an array of ``image``'s shape (not ``image`` itself) the result is written into.
    """
    import cv2

    img = np.asarray(image)
    fh, fw = flow.shape[:2]
    x0, y0 = int(offset[0]), int(offset[1])
    xs = np.arange(fw, dtype=np.float32)[None, :] + np.float32(x0)
    ys = np.arange(fh, dtype=np.float32)[:, None] + np.float32(y0)
    window = cv2.remap(img, xs - flow[..., 0], ys - flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if out is None:
        if (x0, y0) == (0, 0) and (fh, fw) == img.shape[:2]:
            return window
        out = img.copy()
    else:  # the image outside the window (four slabs: the window itself is written once, below)
        out[:y0] = img[:y0]
        out[y0 + fh :] = img[y0 + fh :]
        out[y0 : y0 + fh, :x0] = img[y0 : y0 + fh, :x0]
        out[y0 : y0 + fh, x0 + fw :] = img[y0 : y0 + fh, x0 + fw :]
    out[y0 : y0 + fh, x0 : x0 + fw] = window
    return out


def move_with_flow(
    image: np.ndarray, flow: np.ndarray, min_shift: float = 0.01, out: np.ndarray | None = None
) -> np.ndarray:
    """``image`` (H, W, 3) moved by one coarse flow ``(G, G, 2)``, resampled only where it moves.

    ``out``: an array of ``image``'s shape (not ``image`` itself) the result is written into.
    """
    h, w = image.shape[:2]
    g = flow.shape[0]
    moving = np.abs(flow).max(axis=-1) > min_shift
    if not moving.any():
        if out is None:
            return image
        out[...] = image
        return out
    rows, cols = np.flatnonzero(moving.any(axis=1)), np.flatnonzero(moving.any(axis=0))
    # one cell of margin: the upsampled flow ramps from the last moving cell's centre to the next one's
    y0, y1 = max(0, (rows[0] - 1) * h // g), min(h, (rows[-1] + 2) * h // g)
    x0, x1 = max(0, (cols[0] - 1) * w // g), min(w, (cols[-1] + 2) * w // g)
    dense = dense_flow(flow, (h, w))[y0:y1, x0:x1]
    return warp_by_flow(image, dense, (x0, y0), out)
