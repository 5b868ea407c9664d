"""The 68-point (iBUG / Multi-PIE) view of every tracker's landmarks.

The paper's pipeline, its metrics (LMD on dlib points 48-67) and its
expression PCA all speak iBUG-68: jaw 0-16, brows 17-26 (17-21 the subject's
right brow, i.e. image left), nose bridge 27-30, nose base 31-35, eyes 36-41
(subject's right) and 42-47, outer lips 48-59, inner lips 60-67.

MediaPipe's 478-point mesh has no such points, so each iBUG point is a fixed
MediaPipe vertex, or a fixed blend of two neighbouring vertices
(``MEDIAPIPE_TO_68``). The table was tuned on real shared clips against dlib's
68-point shape predictor (``scripts/check_landmarks_vs_dlib.py --tune``): for
every iBUG point the vertex, or blend (weights 1/4, 1/2, 3/4) of two vertices
joined by a mesh edge, with the smallest mean distance to dlib's point
(normalised by the inter-ocular distance, dlib 36-45) over 8 clips of
different people; iris points are excluded (they move with the gaze) and the
table is left/right symmetric (MediaPipe's mesh is exactly mirror-symmetric).
On 8 held-out clips (193 frames) the mean distance went from 0.0446 (a
hand-made single-vertex table) to 0.0325; per region: jaw 0.081 -> 0.055,
brows 0.053 -> 0.033, nose 0.028 -> 0.021, eyes 0.021 -> 0.017, outer lips
0.031 -> 0.026, inner lips 0.032 -> 0.031 (dlib's own error on 300-W is of
the same order). Residual differences are definitional, not errors: dlib's jaw follows
the visible silhouette of the face, a mesh vertex stays on the same patch of
skin, so with the head turned the two part by a few percent of the eye
distance; 3D-FAN's jaw behaves like the mesh (surface points), which is what
the 3D motion disentangler needs.
"""

from __future__ import annotations

import numpy as np

#: iBUG-68 region name -> point indices (half-open ranges as in the iBUG annotation)
REGIONS_68: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth_outer": tuple(range(48, 60)),
    "mouth_inner": tuple(range(60, 68)),
}
MOUTH_68: tuple[int, ...] = tuple(range(48, 68))

#: for each iBUG point: (vertex a, vertex b, weight of b); the point is (1-w)*a + w*b.
#: w == 0 means a single vertex. Tuned against dlib (see module docstring).
# fmt: off
MEDIAPIPE_TO_68: tuple[tuple[int, int, float], ...] = (
    # jaw 0-16 (image left -> chin 8 -> image right)
    (127, 227, 0.25), (137, 234, 0.5), (93, 177, 0.75), (58, 215, 0.75), (138, 172, 0.75), (136, 150, 0.25),
    (149, 149, 0.0), (148, 176, 0.25), (152, 152, 0.0), (377, 400, 0.25), (378, 378, 0.0), (365, 379, 0.25),
    (367, 397, 0.75), (288, 435, 0.75), (323, 401, 0.75), (366, 454, 0.5), (356, 447, 0.25),
    # brows 17-21 (image left), 22-26 (image right)
    (70, 124, 0.25), (63, 105, 0.25), (66, 105, 0.5), (66, 107, 0.25), (55, 107, 0.5),
    (285, 336, 0.5), (296, 336, 0.25), (296, 334, 0.5), (293, 334, 0.25), (300, 353, 0.25),
    # nose bridge 27-30, nose base 31-35
    (168, 168, 0.0), (6, 197, 0.5), (5, 195, 0.5), (4, 4, 0.0),
    (75, 240, 0.75), (97, 242, 0.25), (2, 164, 0.25), (326, 462, 0.25), (305, 460, 0.75),
    # eyes 36-41 (image left), 42-47 (image right)
    (7, 33, 0.75), (159, 160, 0.5), (157, 158, 0.75), (155, 173, 0.25), (153, 153, 0.0), (144, 144, 0.0),
    (382, 398, 0.25), (384, 385, 0.75), (386, 387, 0.5), (249, 263, 0.75), (373, 373, 0.0), (380, 380, 0.0),
    # outer lips 48-59
    (61, 146, 0.25), (40, 73, 0.5), (37, 72, 0.25), (0, 11, 0.5), (267, 302, 0.25), (270, 303, 0.5),
    (291, 375, 0.25), (321, 405, 0.5), (314, 314, 0.0), (17, 17, 0.0), (84, 84, 0.0), (91, 181, 0.5),
    # inner lips 60-67
    (78, 95, 0.25), (81, 82, 0.75), (13, 13, 0.0), (311, 312, 0.75), (308, 324, 0.25),
    (317, 402, 0.25), (14, 14, 0.0), (87, 178, 0.25),
)
# fmt: on


def mapping_arrays(
    mapping: tuple[tuple[int, int, float], ...] = MEDIAPIPE_TO_68,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index_a (68,), index_b (68,), weight_b (68,)) of a 478 -> 68 mapping table."""
    a = np.array([m[0] for m in mapping], np.int64)
    b = np.array([m[1] for m in mapping], np.int64)
    w = np.array([m[2] for m in mapping], np.float32)
    return a, b, w


def mediapipe_to_68(landmarks: np.ndarray, mapping: tuple[tuple[int, int, float], ...] = MEDIAPIPE_TO_68) -> np.ndarray:
    """(..., 478 or 468, 3) MediaPipe landmarks -> (..., 68, 3) iBUG-68 view, same coordinates."""
    landmarks = np.asarray(landmarks)
    a, b, w = mapping_arrays(mapping)
    w = w.reshape((1,) * (landmarks.ndim - 2) + (68, 1))
    out = (1.0 - w) * landmarks[..., a, :] + w * landmarks[..., b, :]
    return out.astype(np.float32, copy=False)


def five_points_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 5, 2): eye centres (image left first), nose tip, mouth corners.

    The order is the ArcFace template's: the eye on the image's left (the
    subject's right eye, dlib 36-41), the other eye (42-47), nose tip (30),
    left mouth corner (48), right mouth corner (54).
    """
    lm = np.asarray(landmarks68, np.float32)[..., :2]
    return np.stack(
        [
            lm[..., 36:42, :].mean(axis=-2),
            lm[..., 42:48, :].mean(axis=-2),
            lm[..., 30, :],
            lm[..., 48, :],
            lm[..., 54, :],
        ],
        axis=-2,
    )


#: inner-lip point pairs (upper, lower) of the 68-point scheme, 0-based: the lip gap of the lip-sync
#: metrics (toolkit.metrics.lipsync) and of the renderer's lips (toolkit.render.lips)
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))
#: the outer-lip point that moves with each inner-lip point of those pairs (upper, lower)
OUTER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((50, 58), (51, 57), (52, 56))
