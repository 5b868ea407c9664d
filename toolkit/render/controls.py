"""Controllable re-rendering (paper Fig. 16): new head motion or new expression for a reference clip.

Three controls, each producing target poses / expressions for
:class:`toolkit.render.warp3d.Warp3D` (and so for the learned generator):

* :func:`retarget_motion` - another clip's head motion, applied *relative to
  that clip's own frontal frame*, on top of the reference's frontal pose
  (rotation composed, translation rescaled by the face-size ratio);
* :func:`synthetic_motion` - a nod (pitch), shake (yaw), tilt (roll) or
  circle, as a sine of given amplitude and period around the reference's
  frontal pose;
* :func:`transfer_expression` - another clip's expression (its frontalised
  68 points relative to its own neutral frame), rescaled to the reference
  face by the outer-eye-corner distance and added to the reference's 68 points.

:func:`render_controls` wires them to a :class:`Warp3D` for the demo CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.rigid import axis_angle_to_matrix, matrix_to_axis_angle

SYNTHETIC_KINDS: tuple[str, ...] = ("nod", "shake", "tilt", "circle")
#: iBUG-68 outer eye corners (subject's right, left): the face-size yardstick for expression transfer
_EYE_CORNERS = (36, 45)


@dataclass
class Pose:
    """Head poses ``l = s R c + T`` (tracker convention): rotation (T, 3) axis-angle, translation (T, 3), scale (T,)."""

    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return int(np.asarray(self.rotation).shape[0])


def retarget_motion(
    reference_rotation: np.ndarray,
    reference_translation: np.ndarray,
    reference_scale: float,
    driving_rotation: np.ndarray,
    driving_translation: np.ndarray,
    driving_scale: np.ndarray,
    driving_anchor: int = 0,
    translation_gain: float = 1.0,
) -> Pose:
    """Apply a driving clip's head motion, relative to its anchor frame, to the reference's pose.

    ``R_t = (R_drv,t R_drv,a^T) R_ref``, ``T_t = T_ref + g (T_drv,t - T_drv,a) s_ref / s_drv,a``,
    ``s_t = s_ref s_drv,t / s_drv,a`` with ``a`` the driving clip's anchor (its frontal frame).
    """
    d_rot = np.asarray(driving_rotation, np.float64).reshape(-1, 3)
    d_trans = np.asarray(driving_translation, np.float64).reshape(-1, 3)
    d_scale = np.asarray(driving_scale, np.float64).reshape(-1)
    n = d_rot.shape[0]
    if d_trans.shape[0] != n or d_scale.shape[0] != n:
        raise ToolkitError("The driving motion's rotation, translation and scale differ in length.", "")
    if not 0 <= driving_anchor < n:
        raise ToolkitError(f"Anchor frame {driving_anchor} is outside the {n} driving frames.", "")
    ref_mat = axis_angle_to_matrix(np.asarray(reference_rotation).reshape(1, 3))[0]
    mats = axis_angle_to_matrix(d_rot)
    rel = mats @ mats[driving_anchor].T[None]
    rot = matrix_to_axis_angle(rel @ ref_mat[None])
    ratio = float(reference_scale) / d_scale[driving_anchor]
    trans = (
        np.asarray(reference_translation, np.float64).reshape(1, 3)
        + translation_gain * (d_trans - d_trans[driving_anchor]) * ratio
    )
    scale = float(reference_scale) * d_scale / d_scale[driving_anchor]
    return Pose(rot.astype(np.float32), trans.astype(np.float32), scale.astype(np.float32))


def synthetic_motion(
    kind: str,
    n_frames: int,
    reference_rotation: np.ndarray,
    reference_translation: np.ndarray,
    reference_scale: float,
    amplitude_deg: float = 15.0,
    period_frames: float = 50.0,
) -> Pose:
    """A synthetic head motion around the reference's pose: ``nod``, ``shake``, ``tilt`` or ``circle``.

    Angles are applied in the camera frame (yaw about the image's vertical axis, pitch about
    its horizontal axis, roll about the viewing axis), about the head's pivot (the canonical
    origin, inside the head), so translation and scale stay the reference's.
    """
    if kind not in SYNTHETIC_KINDS:
        raise ToolkitError(f"Unknown synthetic motion '{kind}'.", f"Use one of: {', '.join(SYNTHETIC_KINDS)}.")
    if n_frames < 1 or period_frames <= 0:
        raise ToolkitError("A synthetic motion needs n_frames >= 1 and a positive period.", "")
    from toolkit.render.project import from_yaw_pitch_roll

    phase = 2.0 * np.pi * np.arange(n_frames) / float(period_frames)
    amp = np.radians(amplitude_deg)
    ypr = np.zeros((n_frames, 3))
    if kind == "shake":
        ypr[:, 0] = amp * np.sin(phase)
    elif kind == "nod":
        ypr[:, 1] = amp * np.sin(phase)
    elif kind == "tilt":
        ypr[:, 2] = amp * np.sin(phase)
    else:  # circle: yaw and pitch a quarter period apart
        ypr[:, 0] = amp * np.sin(phase)
        ypr[:, 1] = amp * np.cos(phase) - amp
    ref_mat = axis_angle_to_matrix(np.asarray(reference_rotation).reshape(1, 3))[0]
    rot = matrix_to_axis_angle(from_yaw_pitch_roll(ypr) @ ref_mat[None])
    trans = np.repeat(np.asarray(reference_translation, np.float32).reshape(1, 3), n_frames, axis=0)
    scale = np.full(n_frames, float(reference_scale), np.float32)
    return Pose(rot.astype(np.float32), trans, scale)


def transfer_expression(
    driving68: np.ndarray, driving_neutral68: np.ndarray, reference68: np.ndarray, gain: float = 1.0
) -> np.ndarray:
    """Another clip's expression on the reference face: ``ref + g (drv_t - drv_neutral) * size_ratio``.

    All three are canonical-frame iBUG-68 points (the motion disentangler's ``frontal68``);
    ``driving_neutral68`` is usually the driving clip's frontal frame or its mean shape.
    Returns ``(T, 68, 3)`` target expressions for the reference's expression rig.
    """
    drv = np.asarray(driving68, np.float64).reshape(-1, 68, 3)
    neutral = np.asarray(driving_neutral68, np.float64).reshape(68, 3)
    ref = np.asarray(reference68, np.float64).reshape(68, 3)
    a, b = _EYE_CORNERS
    size_drv = float(np.linalg.norm(neutral[a] - neutral[b]))
    size_ref = float(np.linalg.norm(ref[a] - ref[b]))
    if size_drv <= 1e-9 or size_ref <= 1e-9:
        raise ToolkitError("Degenerate expression landmarks (zero eye-corner distance).", "Check the tracks.")
    return (ref[None] + gain * (drv - neutral[None]) * (size_ref / size_drv)).astype(np.float32)


def render_controls(
    warp: object,
    n_frames: int,
    motion: Pose | None = None,
    expression68: np.ndarray | None = None,
) -> np.ndarray:
    """Render ``n_frames`` of a :class:`~toolkit.render.warp3d.Warp3D` with optional new motion/expression.

    Without ``motion`` the head stays at the reference's frontal pose; without
    ``expression68`` the mouth keeps the frontal frame's expression.
    """
    from toolkit.render.warp3d import Warp3D

    if not isinstance(warp, Warp3D):
        raise ToolkitError("render_controls needs a Warp3D.", "Build one with Warp3D(frames, track).")
    mesh = warp.mesh
    if motion is None:
        motion = Pose(
            np.repeat(mesh.source_rotation[None], n_frames, 0),
            np.repeat(mesh.source_translation[None], n_frames, 0),
            np.full(n_frames, mesh.source_scale, np.float32),
        )
    n = min(n_frames, len(motion), n_frames if expression68 is None else len(expression68))
    expr = None if expression68 is None else np.asarray(expression68)[:n]
    return warp.render(motion.rotation[:n], motion.translation[:n], motion.scale[:n], expr)
