"""Motion disentangler (paper Sec. 3.3, 4.1): head motion h_t, frontalised landmarks p_t, t_M.

    from toolkit.motion import disentangle, apply_motion
    motion = disentangle(track.landmarks, valid=track.reliable)
    motion.pose: HeadPose (rotation (T, 3) axis-angle rad, translation (T, 3) px, scale (T,)); motion.pose.motion = h_t
    motion.frontal (T, N, 3) | motion.frontal68 (T, 68, 3) | motion.frontal_index (t_M)
    apply_motion(motion.frontal, motion.pose)  # ~= track.landmarks

See :mod:`toolkit.motion.disentangle` (similarity vs rigid) and
:mod:`toolkit.motion.canonical` (canonical face asset, stable points).
"""

from __future__ import annotations

from toolkit.motion.canonical import STABLE_68, CanonicalFace, load_canonical
from toolkit.motion.disentangle import HeadMotion, apply_motion, disentangle, frontal_frame_index
from toolkit.motion.pose import HeadPose
from toolkit.motion.rigid import axis_angle_to_matrix, matrix_to_axis_angle, rotation_angle_deg, umeyama

__all__ = [
    "STABLE_68",
    "CanonicalFace",
    "HeadMotion",
    "HeadPose",
    "apply_motion",
    "axis_angle_to_matrix",
    "disentangle",
    "frontal_frame_index",
    "load_canonical",
    "matrix_to_axis_angle",
    "rotation_angle_deg",
    "umeyama",
]
