"""Unprojection (paper Sec. 4.1): a textured 3D face mesh from the most frontal frame.

The paper feeds the most frontal reference frame ``y_tM`` to a PRNet-style
network. Here the mesh is the dense landmark mesh of the default tracker
(MediaPipe FaceLandmarker: 468 surface points plus 10 iris points) with
MediaPipe's own triangulation, made watertight where a renderer needs it and
extended beyond the face oval:

* the 852 tesselation triangles (read from the installed ``mediapipe`` package,
  which lists them as closed edge triples; verified: 1322 edges, 88 boundary
  edges = face oval 36 + two eye openings 16 + 16 + inner lips 20);
* the eye openings filled by a fan around their centroid (texture: the eyes of
  the frontal frame);
* the mouth opening filled by a fan around a centre vertex set back into the
  mouth; textured from the frame where its mouth is open, else with a dark
  mouth-interior colour (so that a mouth opened by the expression shows a
  mouth, not stretched lip pixels);
* a ring of vertices outside the face oval (more above the brows, so the mesh
  reaches up the forehead; a little beyond the jaw line), pushed back in depth,
  whose blending weight is 0: it is the feathered boundary along which the
  projected face fades into the background frame.

Vertices live in the *canonical head frame* of the motion disentangler:
``l_t ~= s_t R_t c + T_t`` (``docs/ARCHITECTURE.md``), so a tracked landmark
``l`` of the frontal frame ``t_M`` has canonical position
``c = R_tM^T (l - T_tM) / s_tM`` and the mesh at any other pose is
``s_t R_t c + T_t``: the paper's Eq. (1) ``V_t = R_t^-1 (R_tM V_tM + T_tM - T_t)``
written for this tracker's (forward, scaled) pose convention.

The texture is the frontal frame itself with each vertex's own projected
position in that frame as its texture coordinate: no resampling into an
atlas, so the rendered face at the frontal pose reproduces the frame exactly.
Vertices the frontal frame does not see well (turned away, or hidden behind
the nose) get a low blending weight, so a profile-ish frontal frame falls back
to the matched background frame there instead of smearing.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.rigid import axis_angle_to_matrix

#: MediaPipe surface landmarks (the 10 iris points 468-477 are not in the tesselation)
N_SURFACE = 468
#: landmark ids used below (MediaPipe canonical face-mesh numbering)
NOSE_TIP = 1
UPPER_LIP_TOP = 0
CHIN = 152
FOREHEAD_TOP = 10
INNER_LIP_UPPER = 13
INNER_LIP_LOWER = 14
MOUTH_CORNERS = (78, 308)
#: rows of mouth-interior colour appended under the texture image (see FaceMesh.texture)
_MOUTH_STRIP_ROWS = 4


class HairOverForeheadWarning(UserWarning):
    """The texture frame's forehead is partly hair: those points take the matched reference frame instead.

    Its own category, so that a caller which already reports the reference check for hair
    (:func:`toolkit.render.checks.reference_warnings`) can drop this repeat by category, not by its text.
    """


class MeshBuildError(ToolkitError):
    """The frontal frame or its landmarks cannot make a face mesh."""

    code = "mesh-build"


@dataclass(frozen=True)
class FaceTopology:
    """The fixed triangulation ``F^M`` of the landmark mesh (shared by every clip)."""

    triangles: np.ndarray  # (852, 3) int32, MediaPipe tesselation, consistent winding
    oval: np.ndarray  # (36,) ordered outer boundary loop
    eyes: tuple[np.ndarray, np.ndarray]  # ordered boundary loops of the two eye openings
    mouth: np.ndarray  # (20,) ordered inner-lip boundary loop


@functools.lru_cache(maxsize=1)
def mediapipe_topology() -> FaceTopology:
    """MediaPipe's face-mesh triangulation and its boundary loops.

    Raises:
        MeshBuildError: if the ``mediapipe`` package is not installed.
    """
    try:
        from mediapipe.tasks.python.vision import FaceLandmarksConnections
    except ImportError as exc:  # pragma: no cover - mediapipe is a core dependency
        raise MeshBuildError(
            "The face mesh topology comes from the 'mediapipe' package, which is not importable.",
            "Install the project's requirements (pip install -r requirements.txt).",
        ) from exc
    edges = [(c.start, c.end) for c in FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION]
    if len(edges) % 3:
        raise MeshBuildError(
            "mediapipe's tesselation is not a list of edge triples; this mediapipe version is not supported.",
            "Install mediapipe==1.2.3.",
        )
    tris = []
    for i in range(0, len(edges), 3):
        (a, b), (b2, c), (c2, a2) = edges[i : i + 3]
        if not (b == b2 and c == c2 and a == a2):
            raise MeshBuildError(
                "mediapipe's tesselation triples are not closed triangles; unsupported mediapipe version.",
                "Install mediapipe==1.2.3.",
            )
        tris.append((a, b, c))
    triangles = np.asarray(tris, dtype=np.int32)
    loops = boundary_loops(triangles)
    loops.sort(key=len, reverse=True)
    oval = loops[0]
    mouth = next(lp for lp in loops[1:] if INNER_LIP_UPPER in lp)
    eyes = tuple(lp for lp in loops[1:] if lp is not mouth)
    if len(eyes) != 2:
        raise MeshBuildError(
            f"Expected 4 boundary loops in the face mesh (oval, 2 eyes, mouth), found {len(loops)}.",
            "Install mediapipe==1.2.3.",
        )
    return FaceTopology(triangles, oval, (eyes[0], eyes[1]), mouth)


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Ordered boundary loops (edges used by one triangle), following the triangles' winding."""
    directed = {}
    count: dict[tuple[int, int], int] = {}
    for tri in triangles:
        for k in range(3):
            a, b = int(tri[k]), int(tri[(k + 1) % 3])
            key = (min(a, b), max(a, b))
            count[key] = count.get(key, 0) + 1
            directed[(a, b)] = True
    nxt = {}
    for a, b in directed:
        if count[(min(a, b), max(a, b))] == 1:
            nxt[a] = b
    loops = []
    seen: set[int] = set()
    for start in list(nxt):
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        v = nxt[start]
        while v != start:
            loop.append(v)
            seen.add(v)
            v = nxt[v]
        loops.append(np.asarray(loop, dtype=np.int32))
    return loops


@dataclass
class MeshConfig:
    """How the landmark mesh is completed and textured."""

    #: ring outside the face oval, as a fraction of the face's half-height: above the brows ...
    extend_forehead: float = 0.22
    #: ... at the temples/cheeks ...
    extend_side: float = 0.05
    #: ... and below the jaw line
    extend_jaw: float = 0.06
    #: ring pushed back (further from the camera) by this fraction of the face's half-height
    ring_depth: float = 0.15
    #: texture of the face-oval vertices sampled this far inside the silhouette (fraction of the face width).
    #: 0.03 removes the hair smear on a cheek turned > 35 deg towards the camera, but measured on 5 clips at
    #: their true poses it lowers face-mask SSIM (0.752 -> 0.736) and the source-pose PSNR (~50 -> ~36 dB): off
    silhouette_inset: float = 0.0
    #: mouth centre vertex set back by this fraction of the mouth width
    mouth_depth: float = 0.15
    #: inner-mouth area / face area above which the frame's own open mouth is the mouth texture
    open_mouth_min_area: float = 0.004
    #: mouth-interior colour used when the frontal frame's mouth is closed (RGB)
    mouth_colour: tuple[int, int, int] = (72, 30, 34)
    #: a vertex whose surface is turned away by more than this (degrees from facing the camera)
    #: in the frontal frame is not trusted as texture (blending weight fades to 0 at the limit)
    max_texture_angle_deg: float = 95.0
    #: width of that fade, degrees
    texture_angle_fade_deg: float = 20.0
    #: a vertex further than this behind the nearest surface in the frontal frame is occluded
    #: (fraction of the temple-to-temple face width; small self-occlusions such as the nostrils stay)
    occlusion_tolerance: float = 0.05
    #: a forehead vertex whose colour is darker than this fraction of the face's skin (cheeks, nose) is
    #: hair (a fringe), not face: its blending weight is 0, so the matched reference frame shows there.
    #: Measured on the shared clips: fringe 0.22, bare foreheads >= 0.50 (shadows, hairline); None = off
    hair_luminance: float | None = 0.42
    #: blending weight of the face-oval vertices (the render fades from the next landmarks in to 0 across the
    #: ring). Below 1 the matched reference frame, moved with the head (toolkit.render.align), gives the face's
    #: outer edge: its real cheek contour, jaw line and hairline instead of the texture frame's, stretched. The
    #: 3D-warp output uses toolkit.render.warp3d.BASELINE_OUTLINE_WEIGHT; the learned generator's inputs keep 1
    #: (its checkpoints were trained on those masks)
    outline_weight: float = 1.0
    #: warn when the frontal frame's face is smaller than this (pixels between temples)
    min_face_width_px: float = 40.0
    #: warn when the frontal frame's head rotation exceeds this (degrees): its texture is one-sided
    max_frontal_rotation_deg: float = 25.0


@dataclass
class FaceMesh:
    """The textured mesh ``M`` of the paper, in the canonical head frame.

    The first ``n_landmarks`` vertices are the tracker's landmarks (same ids),
    followed by the iris points, the fill centres and the outer ring. The
    texture is the frontal frame with ``_MOUTH_STRIP_ROWS`` rows of
    mouth-interior colour appended below it (used when the mouth is closed in
    the frontal frame).
    """

    vertices: np.ndarray  # (V, 3) float32, canonical head frame
    faces: np.ndarray  # (F, 3) int32
    uv: np.ndarray  # (V, 2) float32, texture pixel coordinates (x, y) on the landmark convention
    texture: np.ndarray  # (Ht, Wt, 3) uint8
    alpha: np.ndarray  # (V,) float32 blending weight of the rendered face over the background
    lower_face: np.ndarray  # (V,) float32 in [0, 1]: how much the expression may move each vertex
    n_landmarks: int
    source_index: int
    source_rotation: np.ndarray  # (3,) axis-angle of the frontal frame
    source_translation: np.ndarray  # (3,)
    source_scale: float
    #: (H, W) of the frontal frame = the tracker's pixel space (the texture has extra rows below)
    frame_size: tuple[int, int]
    #: vertex ids of the mouth fill (centre + duplicated inner-lip loop)
    mouth_fill: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    #: index of the mouth fan's first triangle in ``faces``: fan triangle ``j`` is
    #: (inner-lip loop[j+1], loop[j], centre), loop = ``mediapipe_topology().mouth``
    mouth_faces_start: int = -1
    mouth_textured: bool = False
    warnings: list[str] = field(default_factory=list)
    build_seconds: float = 0.0

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def posed(
        self,
        rotation: np.ndarray,
        translation: np.ndarray,
        scale: np.ndarray | float,
        offsets: np.ndarray | None = None,
    ) -> np.ndarray:
        """Vertex positions at head poses ``(R_t, T_t, s_t)``: ``s_t R_t (c + d_t) + T_t`` (Eq. 1).

        Args:
            rotation: ``(T, 3)`` axis-angle or ``(T, 3, 3)`` matrices.
            translation: ``(T, 3)``.
            scale: ``(T,)`` or a float.
            offsets: optional ``(T, V, 3)`` canonical-frame vertex offsets ``d_t`` (expression).

        Returns:
            ``(T, V, 3)`` float32 in the tracker's pixel space.
        """
        rot = np.asarray(rotation, dtype=np.float64)
        mats = rot if rot.ndim == 3 else axis_angle_to_matrix(rot.reshape(-1, 3))
        trans = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
        n = mats.shape[0]
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), (n,))
        verts = np.broadcast_to(self.vertices.astype(np.float64), (n, *self.vertices.shape))
        if offsets is not None:
            verts = verts + np.asarray(offsets, dtype=np.float64).reshape(n, -1, 3)
        out = np.einsum("tij,tvj->tvi", mats, verts) * s[:, None, None] + trans[:, None, :]
        return out.astype(np.float32)


def canonical_vertices(
    landmarks: np.ndarray, rotation: np.ndarray, translation: np.ndarray, scale: float
) -> np.ndarray:
    """Tracked landmarks of one frame -> canonical head frame: ``R^T (l - T) / s`` (inverse of the pose)."""
    mat = axis_angle_to_matrix(np.asarray(rotation).reshape(1, 3))[0]
    return ((np.asarray(landmarks, np.float64) - np.asarray(translation, np.float64)) @ mat) / float(scale)


def build_face_mesh(
    frame: np.ndarray,
    landmarks: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    scale: float,
    config: MeshConfig | None = None,
    source_index: int = 0,
) -> FaceMesh:
    """Unproject one frame into a textured face mesh.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB, the (most frontal) reference frame ``y_tM``.
        landmarks: ``(N, 3)`` tracked landmarks of that frame in its pixel coordinates
            (MediaPipe layout, ``N`` = 468 or 478).
        rotation, translation, scale: that frame's head pose from the motion disentangler.
        config: mesh options.
        source_index: the frame's index in its clip (kept for reference).

    Raises:
        MeshBuildError: wrong shapes, non-finite landmarks, or a degenerate face.
    """
    t0 = time.perf_counter()
    cfg = config or MeshConfig()
    img = np.asarray(frame)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise MeshBuildError(
            f"The frontal frame must be an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}.",
            "Pass a decoded video frame.",
        )
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 3 or lm.shape[0] < N_SURFACE:
        raise MeshBuildError(
            f"The mesh needs the {N_SURFACE}+ MediaPipe face-mesh landmarks (N, 3), got {lm.shape}.",
            "Track the reference clip with the 'mediapipe' tracking backend.",
        )
    if not np.isfinite(lm).all():
        raise MeshBuildError(
            "The frontal frame's landmarks contain NaN/inf (the face was not tracked on that frame).",
            "Pick a frame where the face was detected (track.detected) as the mesh source.",
        )
    rot = np.asarray(rotation, np.float64).reshape(3)
    trans = np.asarray(translation, np.float64).reshape(3)
    s = float(scale)
    if not (np.isfinite(rot).all() and np.isfinite(trans).all() and np.isfinite(s) and s > 0):
        raise MeshBuildError(
            "The frontal frame's head pose is not finite (or its scale is not positive).",
            "Re-run the motion disentangler on the reference clip.",
        )
    topo = mediapipe_topology()
    notes: list[tuple[str, type[UserWarning]]] = []
    h, w = img.shape[:2]
    n_lm = lm.shape[0]
    canon = canonical_vertices(lm, rot, trans, s)  # (N, 3)

    face_w = float(np.linalg.norm(lm[234, :2] - lm[454, :2]))  # temple to temple, pixels
    if face_w < cfg.min_face_width_px:
        notes.append(
            (
                f"tiny face: {face_w:.0f} px between the temples (< {cfg.min_face_width_px:.0f}); the rendered "
                "face will be blurry. Use a tighter crop of the reference video.",
                UserWarning,
            )
        )
    angle = float(np.degrees(np.linalg.norm(rot)))
    if angle > cfg.max_frontal_rotation_deg:
        notes.append(
            (
                f"profile-ish frontal frame: its head is turned {angle:.0f} deg (> {cfg.max_frontal_rotation_deg:.0f});"
                " the far side of the face has no texture and falls back to the matched reference frame.",
                UserWarning,
            )
        )

    verts = [canon]
    uv_lm = lm[:, :2].copy()
    # the face-oval vertices sit on the visible silhouette, where hair and background begin: sample their
    # texture a little inside, so a cheek turned towards the camera is not smeared with hair
    oval_pts = uv_lm[topo.oval]
    inward = oval_pts.mean(0) - oval_pts
    inward /= np.linalg.norm(inward, axis=1, keepdims=True) + 1e-9
    uv_lm[topo.oval] = oval_pts + inward * cfg.silhouette_inset * face_w
    uvs = [uv_lm]
    faces = [topo.triangles]
    alpha = [np.ones(n_lm)]
    n = n_lm

    # eye openings: fan around the centroid (textured by the frame's own eyes)
    for loop in topo.eyes:
        centre = canon[loop].mean(0)
        verts.append(centre[None])
        uvs.append(lm[loop, :2].mean(0)[None])
        alpha.append(np.ones(1))
        faces.append(_fan(loop, n))
        n += 1

    # mouth opening: centre set back into the mouth; own texture if open, dark interior otherwise
    mouth_loop = topo.mouth
    mouth_open_area = abs(_polygon_area(lm[mouth_loop, :2]))
    face_area = abs(_polygon_area(lm[topo.oval, :2]))
    mouth_textured = mouth_open_area > cfg.open_mouth_min_area * face_area
    mouth_w = float(np.linalg.norm(canon[MOUTH_CORNERS[0]] - canon[MOUTH_CORNERS[1]]))
    centre = canon[mouth_loop].mean(0) + np.array([0.0, 0.0, cfg.mouth_depth * mouth_w])
    mouth_faces_start = sum(len(f) for f in faces)
    if mouth_textured:
        verts.append(centre[None])
        uvs.append(lm[mouth_loop, :2].mean(0)[None])
        alpha.append(np.ones(1))
        faces.append(_fan(mouth_loop, n))
        mouth_fill = np.array([n], np.int32)
        n += 1
    else:
        # duplicate the inner-lip loop so its copies can point at the mouth-colour strip
        k = len(mouth_loop)
        verts.append(np.concatenate([centre[None], canon[mouth_loop]]))
        strip_y = h + _MOUTH_STRIP_ROWS / 2.0
        # centre samples the dark end of the strip, the loop copies its lighter end
        uvs.append(np.concatenate([[[0.5, strip_y]], np.tile([[w - 0.5, strip_y]], (k, 1))]))
        alpha.append(np.ones(k + 1))
        dup = np.arange(n + 1, n + 1 + k, dtype=np.int32)
        faces.append(_fan(dup, n))
        mouth_fill = np.arange(n, n + 1 + k, dtype=np.int32)
        n += k + 1

    # outer ring: extends the oval outwards in the canonical frontal plane; blending weight 0
    oval = topo.oval
    ring, ring_uv = _outer_ring(canon, lm, oval, rot, trans, s, cfg)
    verts.append(ring)
    uvs.append(ring_uv)
    alpha.append(np.zeros(len(oval)))
    ring_ids = np.arange(n, n + len(oval), dtype=np.int32)
    faces.append(_strip(oval, ring_ids))
    n += len(oval)

    vertices = np.concatenate(verts).astype(np.float32)
    all_faces = np.concatenate(faces).astype(np.int32)
    uv = np.concatenate(uvs).astype(np.float32)
    alpha_v = np.concatenate(alpha).astype(np.float32)
    # iris points are not in any triangle: their weight is irrelevant but keep it defined
    # visibility in the frontal frame: do not trust texture the frame does not show
    # the inner lips and the hole fills curl away from the camera by construction: no facing test there
    no_facing_test = np.concatenate([mouth_loop, mouth_fill, np.arange(n_lm, n_lm + len(topo.eyes))])
    vis = _texture_visibility(
        vertices, all_faces, rot, trans, s, (h, w), cfg.occlusion_tolerance * face_w, cfg, no_facing_test
    )
    alpha_v = alpha_v * vis
    alpha_v[oval] *= cfg.outline_weight
    if cfg.hair_luminance is not None:
        hair = forehead_hair(img, lm, canon, cfg.hair_luminance)
        alpha_v[: len(hair)][hair] = 0.0
        if hair.any():
            notes.append(
                (
                    f"hair over the forehead: {int(hair.sum())} forehead points of the texture frame are hair, not "
                    "skin; the matched reference frame shows there",
                    HairOverForeheadWarning,
                )
            )
    lower = _lower_face_weight(vertices, canon, n_lm, oval, ring_ids)
    tex = np.concatenate([img, _mouth_strip(w, cfg)], axis=0)
    for note, category in notes:
        warnings.warn(note, category, stacklevel=2)

    return FaceMesh(
        vertices=vertices,
        faces=all_faces,
        uv=uv,
        texture=np.ascontiguousarray(tex),
        alpha=alpha_v,
        lower_face=lower.astype(np.float32),
        n_landmarks=n_lm,
        source_index=int(source_index),
        source_rotation=rot.astype(np.float32),
        source_translation=trans.astype(np.float32),
        source_scale=s,
        frame_size=(int(h), int(w)),
        mouth_fill=mouth_fill,
        mouth_faces_start=int(mouth_faces_start),
        mouth_textured=bool(mouth_textured),
        warnings=[note for note, _ in notes],
        build_seconds=time.perf_counter() - t0,
    )


#: MediaPipe ids on the nose and cheeks: the face's own skin colour (rarely covered by hair)
SKIN_REFERENCE = (1, 4, 5, 195, 197, 50, 280, 101, 330, 36, 266, 205, 425, 118, 347)
#: MediaPipe ids along the top of the brows: forehead = above them
BROW_TOP = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)


def forehead_points(canon: np.ndarray) -> np.ndarray:
    """Ids of the surface landmarks above the brows (canonical frame: a tilted head does not matter)."""
    surface = np.asarray(canon)[:N_SURFACE]
    height = float(np.ptp(surface[:, 1])) or 1.0
    return np.flatnonzero(surface[:, 1] < surface[list(BROW_TOP), 1].min() - 0.02 * height)


def forehead_hair(frame: np.ndarray, landmarks: np.ndarray, canon: np.ndarray, max_luminance: float) -> np.ndarray:
    """(N,) bool: forehead landmarks whose colour in ``frame`` is hair (much darker than the face's skin).

    Skin colour = median over nose and cheek points (3x3 mean each); a point above the brows
    (canonical frame, so a tilted head does not matter) counts as hair when its luminance is below
    ``max_luminance`` times the skin's. A fringe is in every frame, so comparing frames cannot see it.
    """
    img = np.asarray(frame, np.float64)
    lm = np.asarray(landmarks, np.float64)
    h, w = img.shape[:2]

    def colour(ids: np.ndarray) -> np.ndarray:
        x = np.clip(lm[ids, 0].astype(np.int64), 1, w - 2)
        y = np.clip(lm[ids, 1].astype(np.int64), 1, h - 2)
        return np.mean([img[y + dy, x + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)

    forehead = forehead_points(canon)
    hair = np.zeros(len(lm), bool)
    skin = float(np.median(colour(np.asarray(SKIN_REFERENCE)), axis=0).mean())
    if forehead.size and skin > 1.0:
        hair[forehead] = colour(forehead).mean(axis=1) < max_luminance * skin
    return hair


def _fan(loop: np.ndarray, centre: int) -> np.ndarray:
    """Triangles (loop[i], loop[i+1], centre), winding as the boundary loop runs."""
    a = np.asarray(loop, np.int32)
    b = np.roll(a, -1)
    # boundary loops run along the triangles' winding, so the hole's fan must run the opposite way
    return np.stack([b, a, np.full_like(a, centre)], axis=1)


def _strip(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Quad strip between two loops of equal length, two triangles per quad."""
    a = np.asarray(inner, np.int32)
    b = np.asarray(outer, np.int32)
    a1, b1 = np.roll(a, -1), np.roll(b, -1)
    return np.concatenate([np.stack([a1, a, b], 1), np.stack([a1, b, b1], 1)])


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _outer_ring(
    canon: np.ndarray,
    lm: np.ndarray,
    oval: np.ndarray,
    rot: np.ndarray,
    trans: np.ndarray,
    s: float,
    cfg: MeshConfig,
) -> tuple[np.ndarray, np.ndarray]:
    pts = canon[oval]
    centre = pts.mean(0)
    half_h = 0.5 * float(np.ptp(pts[:, 1])) or 1.0
    d = pts[:, :2] - centre[:2]
    # canonical y points down: up = -y. Blend the extension by direction (forehead/side/jaw).
    up = np.clip(-d[:, 1] / (np.linalg.norm(d, axis=1) + 1e-9), -1.0, 1.0)
    ext = np.where(
        up > 0,
        cfg.extend_side + (cfg.extend_forehead - cfg.extend_side) * up**2,
        cfg.extend_side + (cfg.extend_jaw - cfg.extend_side) * up**2,
    )
    direction = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)
    ring = pts.copy()
    ring[:, :2] = pts[:, :2] + direction * (ext[:, None] * half_h)
    ring[:, 2] = pts[:, 2] + cfg.ring_depth * half_h
    mat = axis_angle_to_matrix(rot[None])[0]
    ring_px = (ring @ mat.T) * s + trans
    return ring, ring_px[:, :2]


def _texture_visibility(
    vertices: np.ndarray,
    faces: np.ndarray,
    rot: np.ndarray,
    trans: np.ndarray,
    s: float,
    size: tuple[int, int],
    occlusion_px: float,
    cfg: MeshConfig,
    no_facing_test: np.ndarray,
) -> np.ndarray:
    """(V,) in [0, 1]: how well the frontal frame shows each vertex (facing angle x not occluded)."""
    from toolkit.render.rasterize import rasterize

    mat = axis_angle_to_matrix(rot[None])[0]
    posed = (vertices.astype(np.float64) @ mat.T) * s + trans
    p = posed[faces]
    nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    # front-facing triangles have normals pointing at the camera (-z) with this winding
    vnorm = np.zeros_like(posed)
    for k in range(3):
        np.add.at(vnorm, faces[:, k], nrm)
    length = np.linalg.norm(vnorm, axis=1)
    cos_facing = np.where(length > 0, -vnorm[:, 2] / np.maximum(length, 1e-12), 1.0)
    lim = np.cos(np.radians(cfg.max_texture_angle_deg))
    fade = np.cos(np.radians(cfg.max_texture_angle_deg - cfg.texture_angle_fade_deg)) - lim
    facing = np.clip((cos_facing - lim) / max(fade, 1e-6), 0.0, 1.0)
    facing[no_facing_test] = 1.0
    # occlusion: compare each vertex's depth with the z-buffer at its pixel
    h, w = size
    frags = rasterize(posed[None].astype(np.float32), faces, h, w)
    col = np.clip(np.floor(posed[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.floor(posed[:, 1]).astype(int), 0, h - 1)
    inside = (posed[:, 0] >= 0) & (posed[:, 0] < w) & (posed[:, 1] >= 0) & (posed[:, 1] < h)
    zb = frags.depth[0, row, col]
    occluded = inside & np.isfinite(zb) & (posed[:, 2] > zb + occlusion_px)
    # the hole fills sit behind the closed lips / lids by construction: they are not hidden texture
    occluded[no_facing_test] = False
    vis = facing * (~occluded)
    # outside the frame there is no texture at all
    vis = np.where(inside, vis, 0.0)
    return vis.astype(np.float32)


def _lower_face_weight(
    vertices: np.ndarray, canon: np.ndarray, n_lm: int, oval: np.ndarray, ring_ids: np.ndarray
) -> np.ndarray:
    """(V,) weights: 0 above the nose tip, rising to 1 at the upper lip (canonical y is down)."""
    y_top = canon[NOSE_TIP, 1]
    y_full = canon[UPPER_LIP_TOP, 1]
    t = np.clip((vertices[:, 1] - y_top) / max(y_full - y_top, 1e-9), 0.0, 1.0)
    weight = t * t * (3.0 - 2.0 * t)  # smoothstep
    # ring vertices follow their oval vertex (the ring is pushed outwards, its own y is off)
    weight[ring_ids] = weight[oval]
    return weight


def _mouth_strip(w: int, cfg: MeshConfig) -> np.ndarray:
    """Rows appended below the texture: a dark-to-lighter mouth-interior gradient."""
    base = np.asarray(cfg.mouth_colour, np.float64)
    ramp = np.linspace(0.45, 1.0, w)[:, None] * base[None, :]
    strip = np.broadcast_to(ramp[None], (_MOUTH_STRIP_ROWS, w, 3))
    return np.clip(strip, 0, 255).astype(np.uint8)


def texture_outliers(frames: np.ndarray, landmarks: np.ndarray, threshold: float = 40.0) -> np.ndarray:
    """Per frame, the fraction of face-surface landmarks whose colour is unlike the other frames'.

    Landmarks follow the same patch of skin in every frame, so the colour under
    landmark ``i`` barely changes through a clip, except where something covers
    the face (a hand, a microphone, hair) or the frame is broken. Colours are
    compared with the per-landmark median over the frames, after a per-frame gain
    normalisation (global lighting changes are not occlusion). Used to keep an
    occluded frame from becoming the mesh's texture source.

    Args:
        frames: ``(K, H, W, 3)`` uint8.
        landmarks: ``(K, N, 3)`` pixels (N >= 468; only the surface points are used).
        threshold: colour distance (0-255 RGB units) above which a landmark counts as an outlier.

    Returns:
        ``(K,)`` float in [0, 1]; zeros when fewer than 3 frames are given.
    """
    imgs = np.asarray(frames)
    lm = np.asarray(landmarks, np.float64)[:, :N_SURFACE]
    k, h, w = imgs.shape[:3]
    if k < 3:
        return np.zeros(k, np.float64)
    col = np.clip(np.nan_to_num(lm[..., 0], nan=-1.0).astype(np.int64), 0, w - 1)
    row = np.clip(np.nan_to_num(lm[..., 1], nan=-1.0).astype(np.int64), 0, h - 1)
    colours = imgs[np.arange(k)[:, None], row, col].astype(np.float64)  # (K, N, 3)
    gain = np.median(colours, axis=1, keepdims=True) + 1.0
    normalised = colours / gain * np.median(gain, axis=0, keepdims=True)
    ref = np.median(normalised, axis=0, keepdims=True)
    dist = np.linalg.norm(normalised - ref, axis=-1)
    bad = dist > threshold
    bad |= ~np.isfinite(lm).all(axis=-1)
    return bad.mean(axis=1)


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """Per frame, eyelid gap / eye width of both eyes (MediaPipe ids), ~0.25-0.35 open, < 0.1 closed.

    Used to keep a blink from becoming the mesh's texture source (its eyes would
    stay shut in every rendered frame). 3D distances, so a turned head does not
    read as narrowed eyes.
    """
    lm = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(lm[:, 159] - lm[:, 145], axis=-1) + np.linalg.norm(lm[:, 386] - lm[:, 374], axis=-1)
    width = np.linalg.norm(lm[:, 33] - lm[:, 133], axis=-1) + np.linalg.norm(lm[:, 362] - lm[:, 263], axis=-1)
    return gap / np.maximum(width, 1e-9)
