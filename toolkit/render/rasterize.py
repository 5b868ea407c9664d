"""Z-buffer triangle rasterisers (orthographic camera, pixel-space vertices).

Every backend takes vertices already in the output image's pixel space
(``x`` right, ``y`` down, ``z`` = depth, larger = further from the camera, the
tracker's orthographic convention of ``docs/ARCHITECTURE.md``) and returns
:class:`Fragments`: for every pixel the index of the nearest triangle, its
barycentric coordinates and its depth. Attributes (texture coordinates,
blending weights) are interpolated afterwards by :func:`interpolate`, which is
backend independent. Because the camera is orthographic, screen-space linear
interpolation is exact (no perspective correction).

Pixel ``(row, col)`` is sampled at its centre ``(col + 0.5, row + 0.5)``: a
landmark at normalised image position ``u`` sits at pixel coordinate
``u * W``, so the centre of pixel ``i`` is ``i + 0.5``.

Backends (see :func:`available_backends`, :func:`pick_backend`):

``numba``
    a compiled scanline-over-bounding-box rasteriser, frames of a batch in
    parallel threads. Default on CPU (fastest measured here, see
    ``scripts/bench/render_speed.py``).
``numpy``
    a vectorised pure-numpy rasteriser (triangles grouped by bounding-box
    size, z-test resolved by sorting fragments). Always available; the
    fallback when numba is not installed.
``pytorch3d``
    ``pytorch3d.renderer.mesh.rasterize_meshes`` where pytorch3d is installed
    (it is not installable on the project machines, so this path is not
    measured here); picked automatically only when a CUDA device is present.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError

BACKENDS: tuple[str, ...] = ("numba", "numpy", "pytorch3d")

#: barycentric tolerance: pixels exactly on a shared edge belong to both triangles (z-test decides)
_EDGE_EPS = 1e-5


class RenderBackendError(ToolkitError):
    """The requested rasteriser backend cannot be used here."""

    code = "render-backend"


@dataclass
class Fragments:
    """Per-pixel rasterisation result for a batch of ``B`` frames of ``H x W`` pixels.

    ``triangle`` is -1 where no triangle covers the pixel; ``barycentric``
    weights the triangle's three vertices (they sum to 1); ``depth`` is +inf
    on empty pixels.
    """

    triangle: np.ndarray  # (B, H, W) int32
    barycentric: np.ndarray  # (B, H, W, 3) float32 (undefined where triangle is -1)
    depth: np.ndarray  # (B, H, W) float32
    #: (B, 4) int64 row0, row1, col0, col1 (exclusive ends) containing every covered pixel; None = unknown
    box: np.ndarray | None = None

    @property
    def covered(self) -> np.ndarray:
        """(B, H, W) bool: pixels covered by the mesh."""
        return self.triangle >= 0


@functools.lru_cache(maxsize=1)
def _available() -> tuple[str, ...]:
    found = []
    if _numba_installed():
        found.append("numba")
    found.append("numpy")
    if importlib.util.find_spec("pytorch3d") is not None:
        found.append("pytorch3d")
    return tuple(found)


def available_backends() -> list[str]:
    """Backends that can run in this environment, in order of preference."""
    return list(_available())


def pick_backend(name: str = "auto") -> str:
    """Resolve ``"auto"`` (or check an explicit name) to a backend that runs here.

    ``auto`` prefers pytorch3d only where it is installed *and* a CUDA device is
    present (on CPU the compiled numba rasteriser is faster for a ~1k-triangle
    face mesh), then numba, then numpy.
    """
    found = available_backends()
    if name == "auto":
        if "pytorch3d" in found and _cuda_available():
            return "pytorch3d"
        return "numba" if "numba" in found else "numpy"
    if name not in BACKENDS:
        raise RenderBackendError(f"Unknown render backend '{name}'.", f"Use one of: auto, {', '.join(BACKENDS)}.")
    if name not in found:
        raise RenderBackendError(
            f"Render backend '{name}' is not installed here.",
            f"Use 'auto' or one of the available backends: {', '.join(found)}.",
        )
    return name


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    height: int,
    width: int,
    backend: str = "auto",
    into: Fragments | None = None,
) -> Fragments:
    """Rasterise a batch of posed meshes that share one topology.

    Args:
        vertices: ``(B, V, 3)`` or ``(V, 3)`` float, output-pixel coordinates.
        faces: ``(F, 3)`` int vertex indices.
        height, width: output size in pixels.
        backend: ``auto`` or a name from :data:`BACKENDS`.
        into: preallocated ``(B, H, W)`` / ``(B, H, W, 3)`` arrays (any content; ``box`` ignored) that the
            result is written into: a caller rendering many batches reuses one set instead of faulting in
            fresh pages for every batch (at 512x512, allocation was a third of the rasteriser's time).

    Returns:
        :class:`Fragments` with a leading batch axis (``B = 1`` for a single mesh).
    """
    verts = np.asarray(vertices, dtype=np.float32)
    if verts.ndim == 2:
        verts = verts[None]
    if verts.ndim != 3 or verts.shape[-1] != 3:
        raise ToolkitError(
            f"vertices must have shape (B, V, 3) or (V, 3), got {np.shape(vertices)}.",
            "Pass pixel-space x, y, depth per vertex.",
        )
    tris = np.ascontiguousarray(faces, dtype=np.int32)
    if tris.ndim != 2 or tris.shape[1] != 3 or (tris.size and (tris.min() < 0 or tris.max() >= verts.shape[1])):
        raise ToolkitError("faces must be (F, 3) indices into the vertices.", "Check the mesh topology.")
    if height < 1 or width < 1:
        raise ToolkitError(f"Output size {height}x{width} is empty.", "Give a positive height and width.")
    name = pick_backend(backend)
    if into is not None and (
        into.triangle.shape != (verts.shape[0], height, width)
        or into.depth.shape != into.triangle.shape
        or into.barycentric.shape != (*into.triangle.shape, 3)
    ):
        raise ToolkitError(
            f"Buffers {into.triangle.shape} / {into.depth.shape} / {into.barycentric.shape} do not fit "
            f"{verts.shape[0]} frames of {height}x{width}.",
            "Give buffers of (B, H, W) and (B, H, W, 3) for the batch.",
        )
    # triangles with a non-finite vertex are skipped by every backend
    if name == "numba":
        return _rasterize_numba(verts, tris, height, width, into)
    frags = (_rasterize_pytorch3d if name == "pytorch3d" else _rasterize_numpy)(verts, tris, height, width)
    if into is None:
        return frags
    into.triangle[...] = frags.triangle
    into.barycentric[...] = frags.barycentric
    into.depth[...] = frags.depth
    return Fragments(into.triangle, into.barycentric, into.depth, frags.box)


def interpolate(fragments: Fragments, faces: np.ndarray, attributes: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Interpolate per-vertex attributes over the covered pixels.

    Args:
        attributes: ``(V, C)`` (shared by the batch) or ``(B, V, C)``.
        fill: value of uncovered pixels.

    Returns:
        ``(B, H, W, C)`` float32.
    """
    attrs = np.asarray(attributes, dtype=np.float32)
    tri = fragments.triangle
    b, h, w = tri.shape
    out = np.full((b, h, w, attrs.shape[-1]), fill, dtype=np.float32)
    bi, yi, xi = np.nonzero(tri >= 0)
    if bi.size == 0:
        return out
    corner = faces[tri[bi, yi, xi]]  # (P, 3) vertex ids
    bary = fragments.barycentric[bi, yi, xi]  # (P, 3)
    if attrs.ndim == 2:
        vals = attrs[corner]  # (P, 3, C)
    else:
        vals = attrs[bi[:, None], corner]
    out[bi, yi, xi] = np.einsum("pk,pkc->pc", bary, vals)
    return out


# ----------------------------------------------------------------------------- numba


def _rasterize_numba(verts: np.ndarray, faces: np.ndarray, h: int, w: int, into: Fragments | None = None) -> Fragments:
    from toolkit.render import _kernels

    raster_one, raster_batch = _kernels.raster_one, _kernels.raster_batch
    b = verts.shape[0]
    if into is None:
        zbuf = np.full((b, h, w), np.inf, dtype=np.float32)
        tri = np.full((b, h, w), -1, dtype=np.int32)
        # read only where a triangle covers the pixel: no need to clear (a full pass over B x H x W x 3 floats)
        bary = np.empty((b, h, w, 3), dtype=np.float32)
    else:
        zbuf, tri, bary = into.depth, into.triangle, into.barycentric
        zbuf.fill(np.inf)
        tri.fill(-1)
    verts = np.ascontiguousarray(verts)
    if b == 1:
        # one frame: skip the thread pool's start-up cost
        raster_one(verts[0], faces, zbuf[0], tri[0], bary[0])
    else:
        raster_batch(verts, faces, zbuf, tri, bary)
    return Fragments(tri, bary, zbuf, _pixel_box(verts, faces, h, w))


def _pixel_box(verts: np.ndarray, faces: np.ndarray, h: int, w: int) -> np.ndarray:
    """(B, 4) row0, row1, col0, col1 (exclusive) around every finite vertex used by a triangle, clipped."""
    used = verts[:, np.unique(faces), :2]
    finite = np.isfinite(used).all(axis=-1, keepdims=True)
    lo = np.floor(np.where(finite, used, np.inf).min(axis=1)) - 1
    hi = np.ceil(np.where(finite, used, -np.inf).max(axis=1)) + 1
    box = np.stack([lo[:, 1], hi[:, 1], lo[:, 0], hi[:, 0]], axis=1)
    box = np.nan_to_num(box, posinf=0.0, neginf=0.0)
    return np.clip(box, 0, [h, h, w, w]).astype(np.int64)


@functools.lru_cache(maxsize=1)
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _use_numba(use_numba: bool | None) -> bool:
    return _numba_installed() if use_numba is None else bool(use_numba)


def shade_textured(
    fragments: Fragments,
    faces: np.ndarray,
    uv: np.ndarray,
    alpha: np.ndarray,
    texture: np.ndarray,
    use_numba: bool | None = None,
    into: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Texture lookup (bilinear, UVs in texture pixels on the landmark convention) and blending weight.

    ``use_numba``: compiled kernel (None = where numba is installed) or numpy + OpenCV.
    ``into``: ``(image, mask)`` arrays to write into, all zeros (e.g. slices of a caller's ``np.zeros``
    output: no per-batch allocation nor copy).
    Returns ``(image (B, H, W, 3) uint8, mask (B, H, W) float32)``; both 0 off the mesh.
    """
    tri = fragments.triangle
    b, h, w = tri.shape
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    uv = np.ascontiguousarray(uv, dtype=np.float32)
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    texture = np.ascontiguousarray(texture, dtype=np.uint8)
    if into is None:
        image = np.zeros((b, h, w, 3), np.uint8)
        mask = np.zeros((b, h, w), np.float32)
    else:
        image, mask = into
        fits = image.shape == (b, h, w, 3) and mask.shape == (b, h, w)
        if not fits or image.dtype != np.uint8 or mask.dtype != np.float32:
            raise ToolkitError(
                f"Shading buffers {image.dtype} {image.shape} / {mask.dtype} {mask.shape} do not fit "
                f"{b} frames of {h}x{w}.",
                "Give a uint8 (B, H, W, 3) image and a float32 (B, H, W) mask.",
            )
    if _use_numba(use_numba):
        from toolkit.render import _kernels

        shade_one, shade_batch = _kernels.shade_one, _kernels.shade_batch
        bary = np.ascontiguousarray(fragments.barycentric, dtype=np.float32)
        face_uv = np.ascontiguousarray(uv[faces])  # (F, 3, 2)
        face_alpha = np.ascontiguousarray(alpha[faces])  # (F, 3)
        boxes = fragments.box if fragments.box is not None else np.tile(np.array([0, h, 0, w], np.int64), (b, 1))
        boxes = np.ascontiguousarray(boxes, dtype=np.int64)
        if b == 1:
            shade_one(tri[0], bary[0], face_uv, face_alpha, texture, image[0], mask[0], boxes[0])
        else:
            shade_batch(tri, bary, face_uv, face_alpha, texture, image, mask, boxes)
        return image, mask
    import cv2

    vals = interpolate(fragments, faces, np.concatenate([uv, alpha[:, None]], axis=1), fill=-1.0)
    covered = fragments.covered
    for k in range(b):
        image[k] = cv2.remap(
            texture, vals[k, ..., 0] - 0.5, vals[k, ..., 1] - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    image[~covered] = 0
    mask[:] = np.where(covered, np.clip(vals[..., 2], 0.0, 1.0), 0.0)
    return image, mask


def blend(
    foreground: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    use_numba: bool | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``mask * foreground + (1 - mask) * background`` for uint8 ``(B, H, W, 3)`` batches.

    ``out``: a contiguous uint8 array of the frames' shape to write into; it may be ``background``
    itself (each pixel is read before it is written), which saves a frame-sized buffer per frame.
    """
    fg = np.ascontiguousarray(foreground, dtype=np.uint8)
    bg = np.ascontiguousarray(background, dtype=np.uint8)
    m = np.ascontiguousarray(mask, dtype=np.float32)
    if fg.shape != bg.shape or m.shape != fg.shape[:-1]:
        raise ToolkitError(
            f"Cannot blend foreground {fg.shape}, mask {m.shape} and background {bg.shape}.",
            "Give frames and masks of one size.",
        )
    if out is not None and (out.shape != fg.shape or out.dtype != np.uint8 or not out.flags.c_contiguous):
        raise ToolkitError(
            f"Cannot blend into a {out.dtype} {out.shape} array.", "Give a contiguous uint8 array of the frames' shape."
        )
    if _use_numba(use_numba):
        from toolkit.render import _kernels

        out = np.empty_like(fg) if out is None else out
        _kernels.blend_batch(fg, m, bg, out)
        return out
    mm = m[..., None]
    blended = np.clip(mm * fg + (1.0 - mm) * bg.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    if out is None:
        return blended
    out[...] = blended
    return out


# ----------------------------------------------------------------------------- numpy


def _rasterize_numpy(verts: np.ndarray, faces: np.ndarray, h: int, w: int) -> Fragments:
    b = verts.shape[0]
    tri_out = np.full((b, h, w), -1, dtype=np.int32)
    bary_out = np.zeros((b, h, w, 3), dtype=np.float32)
    z_out = np.full((b, h, w), np.inf, dtype=np.float32)
    for k in range(b):
        _rasterize_numpy_one(verts[k].astype(np.float64), faces, h, w, tri_out[k], bary_out[k], z_out[k])
    return Fragments(tri_out, bary_out, z_out)


def _rasterize_numpy_one(
    v: np.ndarray, faces: np.ndarray, h: int, w: int, tri_out: np.ndarray, bary_out: np.ndarray, z_out: np.ndarray
) -> None:
    p = v[faces]  # (F, 3, 3)
    x, y = p[..., 0], p[..., 1]
    with np.errstate(invalid="ignore"):
        area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    finite = np.isfinite(p).all(axis=(1, 2))
    x = np.where(finite[:, None], x, 0.0)
    y = np.where(finite[:, None], y, 0.0)
    cmin = np.clip(np.ceil(x.min(1) - 0.5), 0, w).astype(np.int64)
    cmax = np.clip(np.floor(x.max(1) - 0.5), -1, w - 1).astype(np.int64)
    rmin = np.clip(np.ceil(y.min(1) - 0.5), 0, h).astype(np.int64)
    rmax = np.clip(np.floor(y.max(1) - 0.5), -1, h - 1).astype(np.int64)
    bw = cmax - cmin + 1
    bh = rmax - rmin + 1
    keep = (np.abs(area) > 1e-9) & (bw > 0) & (bh > 0) & finite
    if not keep.any():
        return
    # group triangles by bounding-box size (powers of two) so each group is one dense array op
    side = np.maximum(bw, bh)
    bucket = np.ceil(np.log2(np.maximum(side, 1))).astype(np.int64)
    pix_all, z_all, f_all, b0_all, b1_all = [], [], [], [], []
    for bk in np.unique(bucket[keep]):
        ids = np.nonzero(keep & (bucket == bk))[0]
        n = int(2**bk)
        off = np.arange(n)
        cols = cmin[ids, None, None] + off[None, None, :]  # (n_t, 1, n)
        rows = rmin[ids, None, None] + off[None, :, None]  # (n_t, n, 1)
        cx = cols + 0.5
        cy = rows + 0.5
        x0, x1, x2 = (x[ids, i, None, None] for i in range(3))
        y0, y1, y2 = (y[ids, i, None, None] for i in range(3))
        inv = 1.0 / area[ids, None, None]
        w0 = ((x1 - cx) * (y2 - cy) - (x2 - cx) * (y1 - cy)) * inv
        w1 = ((x2 - cx) * (y0 - cy) - (x0 - cx) * (y2 - cy)) * inv
        w2 = 1.0 - w0 - w1
        inside = (
            (w0 >= -_EDGE_EPS)
            & (w1 >= -_EDGE_EPS)
            & (w2 >= -_EDGE_EPS)
            & (cols <= cmax[ids, None, None])
            & (rows <= rmax[ids, None, None])
        )
        t_i, r_i, c_i = np.nonzero(inside)
        if t_i.size == 0:
            continue
        rr = rows[t_i, r_i, 0]
        cc = cols[t_i, 0, c_i]
        ww0 = w0[t_i, r_i, c_i]
        ww1 = w1[t_i, r_i, c_i]
        ww2 = 1.0 - ww0 - ww1
        fid = ids[t_i]
        z = ww0 * p[fid, 0, 2] + ww1 * p[fid, 1, 2] + ww2 * p[fid, 2, 2]
        pix_all.append(rr * w + cc)
        z_all.append(z)
        f_all.append(fid)
        b0_all.append(ww0)
        b1_all.append(ww1)
    if not pix_all:
        return
    pix = np.concatenate(pix_all)
    z = np.concatenate(z_all)
    fid = np.concatenate(f_all)
    b0 = np.concatenate(b0_all)
    b1 = np.concatenate(b1_all)
    # nearest fragment per pixel: sort by (pixel, depth) and keep the first of each pixel
    order = np.lexsort((z, pix))
    pix_sorted = pix[order]
    first = np.ones(pix_sorted.shape, dtype=bool)
    first[1:] = pix_sorted[1:] != pix_sorted[:-1]
    win = order[first]
    flat_tri = tri_out.reshape(-1)
    flat_z = z_out.reshape(-1)
    flat_bary = bary_out.reshape(-1, 3)
    flat_tri[pix[win]] = fid[win]
    flat_z[pix[win]] = z[win]
    flat_bary[pix[win], 0] = b0[win]
    flat_bary[pix[win], 1] = b1[win]
    flat_bary[pix[win], 2] = 1.0 - b0[win] - b1[win]


# ----------------------------------------------------------------------------- pytorch3d


def _rasterize_pytorch3d(verts: np.ndarray, faces: np.ndarray, h: int, w: int) -> Fragments:  # pragma: no cover
    """pytorch3d path (not installable on the project machines; see module docstring).

    pytorch3d's NDC space has +x to the left and +y up, with the shorter image
    side spanning [-1, 1]; its rasteriser keeps the fragment of *smallest* z,
    matching our depth convention (larger = further).
    """
    import torch
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    s = float(min(h, w))
    v = torch.as_tensor(verts, dtype=torch.float32, device=device)
    # pixel centre (c + 0.5) -> NDC; pytorch3d puts pixel centres of the short side at
    # (2i + 1) / s - 1 (flipped), and the long side extends past +-1 by the aspect ratio
    ndc_x = -((v[..., 0] * 2.0 - w) / s)
    ndc_y = -((v[..., 1] * 2.0 - h) / s)
    # shift depth so every value is positive (pytorch3d skips fragments with z < 0)
    z_min = v[..., 2].amin()
    z = v[..., 2] - z_min + 1.0
    meshes = Meshes(
        verts=list(torch.stack([ndc_x, ndc_y, z], dim=-1)),
        faces=[torch.as_tensor(faces, dtype=torch.int64, device=device)] * v.shape[0],
    )
    pix_to_face, zbuf, bary, _ = rasterize_meshes(
        meshes, image_size=h if h == w else (h, w), blur_radius=0.0, faces_per_pixel=1, perspective_correct=False
    )
    # packed face ids -> per-mesh ids
    f = pix_to_face[..., 0]
    f = torch.where(f >= 0, f % faces.shape[0], f)
    depth = torch.where(f >= 0, zbuf[..., 0] + z_min - 1.0, torch.full_like(zbuf[..., 0], float("inf")))
    return Fragments(
        f.to(torch.int32).cpu().numpy(),
        bary[..., 0, :].float().cpu().numpy(),
        depth.float().cpu().numpy(),
    )
