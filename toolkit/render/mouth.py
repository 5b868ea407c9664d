"""Mouth interior from the reference frames (teeth, tongue, cavity), warped to the target lip contour.

The mesh's mouth opening is a fan of triangles around a centre vertex (:mod:`toolkit.render.mesh`),
textured by the mesh's one texture frame: its teeth when that frame shows them, else a dark
gradient. Stretched to a wider target opening, one frame's interior reads wrong: teeth stretched
to fill the opening, no dark cavity, and an eye (or dlib) sees lips less open than they are.

:class:`MouthInterior` repaints the fan's pixels per target frame from the reference frame whose
mouth shape is nearest to the target's (as Eq. 3 of the paper weighs references by landmark
similarity): each fan triangle of the rendered mouth is mapped to the same triangle of that
reference frame (its inner-lip landmarks and their centroid), so the interior is warped to the
target lip contour. When the target lips close the fan has no area and nothing of the interior
remains. A reference whose own mouth is closed has no interior to give: the mesh's own fill stays
(the dark gradient when no reference shows an open mouth, e.g. a single photo: no teeth are made up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.render.lips import lip_opening
from toolkit.render.mesh import FaceMesh, _polygon_area, mediapipe_topology

#: iBUG-68 mouth points (outer 48-59, inner 60-67): the mouth-shape descriptor
MOUTH_68 = tuple(range(48, 68))


#: a reference whose inner-lip opening is below this fraction of the target's is not preferred for the interior
OPENING_MARGIN = 1.0


def mouth_shape(points68: np.ndarray) -> np.ndarray:
    """``(T, 60)`` mouth shape descriptor: the mouth points centred on their mean (canonical frame)."""
    p = np.asarray(points68, np.float64).reshape(-1, 68, 3)[:, MOUTH_68]
    return (p - p.mean(axis=1, keepdims=True)).reshape(len(p), -1)


@dataclass
class MouthInterior:
    """The reference frames' mouth interiors and shapes, for one mesh."""

    frames: np.ndarray  # (K, H, W, 3) uint8 reference frames (the mesh's pixel space)
    loop_uv: np.ndarray  # (K, L, 2) float32 inner-lip loop in each reference frame's pixels
    centre_uv: np.ndarray  # (K, 2) float32 loop centroid
    shapes: np.ndarray  # (K, 60) mouth shape descriptors (canonical frame)
    usable: np.ndarray  # (K,) bool: the frame shows an open mouth (an interior to give)
    faces_start: int  # first mouth-fan triangle in the mesh's faces
    #: (K,) inner-lip gap / mouth width of each reference (canonical frame); None = not used in the choice
    gaps: np.ndarray | None = None

    @classmethod
    def from_references(
        cls,
        mesh: FaceMesh,
        frames: np.ndarray,
        landmarks: np.ndarray,
        frontal68: np.ndarray,
        usable: np.ndarray | None = None,
        min_open_area: float = 0.004,
    ) -> MouthInterior:
        """Args: the mesh, the ``K`` reference frames, their tracked landmarks ``(K, N, 3)`` (MediaPipe,
        pixels), their canonical ``frontal68``; ``usable`` (K,) excludes frames (occluded, not
        detected); ``min_open_area``: inner-mouth / face-oval area below which a mouth is closed."""
        topo = mediapipe_topology()
        lm = np.asarray(landmarks, np.float64)
        loop = lm[:, topo.mouth, :2]
        mouth_area = np.abs([_polygon_area(p) for p in loop])
        face_area = np.abs([_polygon_area(p) for p in lm[:, topo.oval, :2]])
        ok = np.isfinite(lm).all(axis=(1, 2)) & (mouth_area > min_open_area * np.maximum(face_area, 1e-9))
        if usable is not None:
            ok &= np.asarray(usable, bool)
        return cls(
            frames=np.asarray(frames),
            loop_uv=np.nan_to_num(loop).astype(np.float32),
            centre_uv=np.nan_to_num(loop.mean(axis=1)).astype(np.float32),
            shapes=mouth_shape(np.nan_to_num(frontal68)),
            usable=ok,
            faces_start=int(mesh.mouth_faces_start),
            gaps=lip_opening(np.nan_to_num(frontal68)),
        )

    def choose(self, target68: np.ndarray) -> np.ndarray:
        """``(T,)`` index of the reference whose mouth is nearest each target's (-1: none usable)."""
        target = mouth_shape(target68)
        if not self.usable.any():
            return np.full(len(target), -1, np.int64)
        dist = ((target[:, None, :] - self.shapes[None, :, :]) ** 2).sum(axis=-1)
        dist[:, ~self.usable] = np.inf
        if self.gaps is not None:
            # a reference opened less than the target has lips where the target shows its cavity: squeezed into a
            # thin opening, its "interior" is lip-coloured and the lips read as closed (andrew_clip_2: dlib saw 21 %
            # closed frames where the rendered geometry had 8 %). Prefer references opened at least as far.
            narrower = self.gaps[None, :] < OPENING_MARGIN * lip_opening(target68)[:, None]
            wide_enough = np.where(narrower, np.inf, dist)
            has_wide = np.isfinite(wide_enough).any(axis=1)
            dist = np.where(has_wide[:, None], wide_enough, dist)
        return np.argmin(dist, axis=1).astype(np.int64)

    def paint(
        self,
        image: np.ndarray,
        triangle: np.ndarray,
        barycentric: np.ndarray,
        index: np.ndarray,
        lips_xy: np.ndarray | None = None,
    ) -> None:
        """Overwrite the mouth-fan pixels of ``image`` (B, H, W, 3) in place from references ``index`` (B,).

        ``lips_xy`` (B, L, 2): the rendered inner-lip loop in output pixels; only its bounding box is
        searched for fan pixels (the whole frame otherwise, ~10x slower at 256x256).
        """
        n_loop = self.loop_uv.shape[1]
        index = np.asarray(index)
        h, w = triangle.shape[1:]
        parts_b, parts_y, parts_x = [], [], []
        for f in np.flatnonzero(index >= 0):
            if lips_xy is None:
                x0, y0, x1, y1 = 0, 0, w, h
            else:
                lo = np.floor(lips_xy[f].min(axis=0)).astype(int) - 1
                hi = np.ceil(lips_xy[f].max(axis=0)).astype(int) + 2
                x0, y0 = max(0, lo[0]), max(0, lo[1])
                x1, y1 = min(w, hi[0]), min(h, hi[1])
                if x1 <= x0 or y1 <= y0:
                    continue
            sub = triangle[f, y0:y1, x0:x1]
            ys, xs = np.nonzero((sub >= self.faces_start) & (sub < self.faces_start + n_loop))
            if ys.size:
                parts_b.append(np.full(ys.size, f))
                parts_y.append(ys + y0)
                parts_x.append(xs + x0)
        if not parts_b:
            return
        b, y, x = np.concatenate(parts_b), np.concatenate(parts_y), np.concatenate(parts_x)
        jj = triangle[b, y, x] - self.faces_start
        k = index[b]
        bary = barycentric[b, y, x].astype(np.float32)
        # fan triangle j = (loop[j+1], loop[j], centre)
        uv = (
            bary[:, :1] * self.loop_uv[k, (jj + 1) % n_loop]
            + bary[:, 1:2] * self.loop_uv[k, jj]
            + bary[:, 2:] * self.centre_uv[k]
        )
        image[b, y, x] = _bilinear(self.frames, k, uv)


def _bilinear(frames: np.ndarray, k: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``frames[k]`` at pixel positions ``uv`` (landmark convention: centres at +0.5)."""
    h, w = frames.shape[1:3]
    x = np.clip(uv[:, 0] - 0.5, 0, w - 1.001)
    y = np.clip(uv[:, 1] - 0.5, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = frames
    c00 = f[k, y0, x0].astype(np.float32)
    c01 = f[k, y0, x0 + 1].astype(np.float32)
    c10 = f[k, y0 + 1, x0].astype(np.float32)
    c11 = f[k, y0 + 1, x0 + 1].astype(np.float32)
    out = (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
