"""Compiled (numba) kernels of the rasteriser, texture shading and blending.

Imported only when the numba backend is used (numba is an optional
dependency; :mod:`toolkit.render.rasterize` has pure-numpy equivalents).
Top-level functions so that numba's on-disk cache (``cache=True``) works:
the first use in a fresh environment compiles them (a few seconds), later
processes load the compiled code.

The batch kernels are serial on purpose: numba's thread pool (``parallel=True``)
was measured to be *slower* on the project's 2 shared cores (every parallel
region waits for its slowest thread, and a loaded machine deschedules one;
one 256x256 blend went from 0.3 ms to 33 ms). Callers that want parallelism
run independent clips in separate processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, fastmath=False, nogil=True)
def raster_one(v, faces, zbuf, tri, bary):
    h, w = zbuf.shape
    for f in range(faces.shape[0]):
        i0 = faces[f, 0]
        i1 = faces[f, 1]
        i2 = faces[f, 2]
        x0 = v[i0, 0]
        y0 = v[i0, 1]
        z0 = v[i0, 2]
        x1 = v[i1, 0]
        y1 = v[i1, 1]
        z1 = v[i1, 2]
        x2 = v[i2, 0]
        y2 = v[i2, 1]
        z2 = v[i2, 2]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        # NaN/inf area (a non-finite vertex) fails this test too
        if not abs(area) >= 1e-9 or not (math.isfinite(z0) and math.isfinite(z1) and math.isfinite(z2)):
            continue
        inv = 1.0 / area
        # pixels whose centre (c + 0.5) can fall inside the triangle
        cmin = max(math.ceil(min(x0, x1, x2) - 0.5), 0)
        cmax = min(math.floor(max(x0, x1, x2) - 0.5), w - 1)
        rmin = max(math.ceil(min(y0, y1, y2) - 0.5), 0)
        rmax = min(math.floor(max(y0, y1, y2) - 0.5), h - 1)
        for r in range(rmin, rmax + 1):
            cy = r + 0.5
            for c in range(cmin, cmax + 1):
                cx = c + 0.5
                w0 = ((x1 - cx) * (y2 - cy) - (x2 - cx) * (y1 - cy)) * inv
                if w0 < -1e-5:
                    continue
                w1 = ((x2 - cx) * (y0 - cy) - (x0 - cx) * (y2 - cy)) * inv
                if w1 < -1e-5:
                    continue
                w2 = 1.0 - w0 - w1
                if w2 < -1e-5:
                    continue
                z = w0 * z0 + w1 * z1 + w2 * z2
                if z < zbuf[r, c]:
                    zbuf[r, c] = z
                    tri[r, c] = f
                    bary[r, c, 0] = w0
                    bary[r, c, 1] = w1
                    bary[r, c, 2] = w2


@numba.njit(cache=True, nogil=True)
def raster_batch(verts, faces, zbuf, tri, bary):
    for b in range(verts.shape[0]):
        raster_one(verts[b], faces, zbuf[b], tri[b], bary[b])


@numba.njit(cache=True, nogil=True)
def shade_one(tri, bary, face_uv, face_alpha, texture, image, mask, box):
    # box = (row0, row1, col0, col1): the mesh's pixel bounding box; nothing outside it is covered.
    # face_uv (F, 3, 2) / face_alpha (F, 3): each triangle's corner attributes, gathered once per batch (one
    # indirection less per pixel); float32 throughout (the texture is uint8: float64 bought nothing)
    th, tw = texture.shape[0], texture.shape[1]
    umax = np.float32(tw - 1.0)
    vmax = np.float32(th - 1.0)
    half = np.float32(0.5)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for r in range(box[0], box[1]):
        for c in range(box[2], box[3]):
            f = tri[r, c]
            if f < 0:
                continue
            b0 = bary[r, c, 0]
            b1 = bary[r, c, 1]
            b2 = bary[r, c, 2]
            # landmark convention: texel i's centre is at i + 0.5
            u = b0 * face_uv[f, 0, 0] + b1 * face_uv[f, 1, 0] + b2 * face_uv[f, 2, 0] - half
            v = b0 * face_uv[f, 0, 1] + b1 * face_uv[f, 1, 1] + b2 * face_uv[f, 2, 1] - half
            a = b0 * face_alpha[f, 0] + b1 * face_alpha[f, 1] + b2 * face_alpha[f, 2]
            mask[r, c] = min(max(a, zero), one)
            # bilinear lookup, clamped to the texture (border replicate)
            u = min(max(u, zero), umax)
            v = min(max(v, zero), vmax)
            x0 = min(int(u), tw - 2) if tw > 1 else 0
            y0 = min(int(v), th - 2) if th > 1 else 0
            fx = u - x0
            fy = v - y0
            x1 = min(x0 + 1, tw - 1)
            y1 = min(y0 + 1, th - 1)
            w00 = (one - fx) * (one - fy)
            w01 = fx * (one - fy)
            w10 = (one - fx) * fy
            w11 = fx * fy
            for k in range(3):
                val = (
                    texture[y0, x0, k] * w00
                    + texture[y0, x1, k] * w01
                    + texture[y1, x0, k] * w10
                    + texture[y1, x1, k] * w11
                )
                image[r, c, k] = np.uint8(min(val + half, np.float32(255.0)))


@numba.njit(cache=True, nogil=True)
def shade_batch(tri, bary, face_uv, face_alpha, texture, image, mask, boxes):
    for b in range(tri.shape[0]):
        shade_one(tri[b], bary[b], face_uv, face_alpha, texture, image[b], mask[b], boxes[b])


@numba.njit(cache=True, nogil=True)
def blend_batch(fg, mask, bg, out):
    for b in range(fg.shape[0]):
        for r in range(fg.shape[1]):
            for c in range(fg.shape[2]):
                m = mask[b, r, c]
                if m <= 0.0:
                    for k in range(3):
                        out[b, r, c, k] = bg[b, r, c, k]
                elif m >= 1.0:
                    for k in range(3):
                        out[b, r, c, k] = fg[b, r, c, k]
                else:
                    for k in range(3):
                        out[b, r, c, k] = np.uint8(m * fg[b, r, c, k] + (1.0 - m) * bg[b, r, c, k] + 0.5)


@numba.njit(cache=True, nogil=True)
def crossfade_into(frame, faded, weight, out):
    # the arithmetic of toolkit.render.matcher.crossfade_pixels' numpy form, operation by operation (numpy 2
    # promotion): float32(weight) * float32(frame) in float32, widened; + (1 - weight) * faded in float64;
    # + 0.5; clipped to [0, 255]; truncated to uint8
    w32 = np.float32(weight)
    rest = 1.0 - weight
    a = frame.ravel()
    b = faded.ravel()
    o = out.ravel()
    for i in range(a.size):
        v = np.float64(w32 * np.float32(a[i])) + rest * np.float64(b[i])
        v = v + 0.5
        v = min(max(v, 0.0), 255.0)
        o[i] = np.uint8(v)
