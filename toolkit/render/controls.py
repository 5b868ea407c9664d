"""Controllable re-rendering (paper Fig. 16): new head motion or new expression for a reference clip.

Three controls, each producing target poses / expressions for
:class:`toolkit.render.warp3d.Warp3D` (and so for the learned generator):

* :func:`retarget_motion` - another clip's head motion, applied *relative to
  an anchor pose of that clip*, on top of a target pose of the reference
  (rotation composed, translation rescaled by the face-size ratio);
* :func:`synthetic_motion` - a nod (pitch), shake (yaw), tilt (roll) or
  circle, as a sine of given amplitude and period around the reference's
  frontal pose;
* :func:`transfer_expression` - another clip's expression (its frontalised
  68 points relative to its own median face), rescaled to the reference
  face by the ratio of face widths and added to the reference's 68 points,
  with the driver's own inner-lip gap.

Their one user is the pipeline (``toolkit generate --motion VIDEO|FILE|nod|shake|tilt|circle``,
``--expression VIDEO``); ``toolkit render-demo`` is a front end of that pipeline, so the demo
and ``generate`` give the same head and mouth.
"""

from __future__ import annotations

import numpy as np

from toolkit.constants import SYNTHETIC_KINDS
from toolkit.errors import ToolkitError
from toolkit.motion.pose import HeadPose
from toolkit.motion.rigid import axis_angle_to_matrix, matrix_to_axis_angle


def retarget_motion(driving: HeadPose, anchor: HeadPose, target: HeadPose, translation_gain: float = 1.0) -> HeadPose:
    """A driving head motion, relative to its one-frame ``anchor`` pose, applied on top of the one-frame ``target``.

    ``R_t = R_drv,t R_anchor^T R_target`` (the same head turn from the target's pose),
    ``T_t = T_target + g (T_drv,t - T_anchor) r``, ``s_t = s_drv,t r`` with ``r = s_target / s_anchor``.
    The pipeline's ``--motion VIDEO`` and ``--motion FILE`` use it.
    """
    if len(anchor) != 1 or len(target) != 1:
        raise ToolkitError("retarget_motion takes one anchor pose and one target pose.", "Pass pose[i] for each.")
    drv_rot = driving.rotation.astype(np.float64)
    drv_trans = driving.translation.astype(np.float64)
    rel = axis_angle_to_matrix(drv_rot) @ axis_angle_to_matrix(anchor.rotation.astype(np.float64)).transpose(0, 2, 1)
    rot = matrix_to_axis_angle(rel @ axis_angle_to_matrix(target.rotation.astype(np.float64)))
    ratio = float(target.scale[0]) / max(float(anchor.scale[0]), 1e-6)
    anchor_trans = anchor.translation.astype(np.float64)
    trans = target.translation.astype(np.float64) + translation_gain * (drv_trans - anchor_trans) * ratio
    return HeadPose(rot, trans, driving.scale * np.float32(ratio))


def synthetic_motion(
    kind: str, n_frames: int, reference: HeadPose, amplitude_deg: float = 15.0, period_frames: float = 50.0
) -> HeadPose:
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
    ref_mat = axis_angle_to_matrix(reference.rotation[:1].astype(np.float64))[0]
    rot = matrix_to_axis_angle(from_yaw_pitch_roll(ypr) @ ref_mat[None])
    held = HeadPose.held(reference.rotation[0], reference.translation[0], float(reference.scale[0]), n_frames)
    return HeadPose(rot, held.translation, held.scale)


def transfer_expression(driving68: np.ndarray, reference68: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """Another clip's expression on the reference face (paper Fig. 16, upper part): ``(n, 68, 3)`` float32.

    The driver's frontalised 68 points minus its own neutral face (per-point median over the clip) are
    added to the reference's neutral face, scaled by the ratio of face widths (jaw extent) so a wide
    face opens its mouth as wide; the inner-lip gap is then set to the driver's own
    (toolkit.render.lips), so the lips close exactly when the driver's do. ``reference68`` is either one
    face ``(68, 3)`` (a photo: its expression is the neutral) or the reference clip's faces ``(N, 68, 3)``,
    whose per-point median is the neutral, as for the driver: one frame's expression (a smile at t_M)
    would otherwise be added to every output frame (AOC's rendered mouth was 11-15 % wider than the real
    one in self-reenactment). All points are canonical-frame iBUG-68 (the motion disentangler's
    ``frontal68``). ``n_frames`` longer than the clip plays it back and forth. The pipeline's
    ``--expression VIDEO`` and ``toolkit render-demo --expression-from`` both use it.
    """
    from toolkit.render.lips import set_inner_lip_gap
    from toolkit.timeline import back_and_forth

    drv = np.asarray(driving68, np.float64).reshape(-1, 68, 3)
    ref = np.nanmedian(np.asarray(reference68, np.float64).reshape(-1, 68, 3), axis=0)
    neutral = np.median(drv, axis=0)
    ratio = face_width(ref) / max(face_width(neutral), 1e-6)
    order = back_and_forth(len(drv) if n_frames is None else n_frames, len(drv))
    target = ref[None] + ratio * (drv - neutral[None])[order]
    return set_inner_lip_gap(target, drv[order], ratio)


def face_width(points68: np.ndarray) -> float:
    """Horizontal extent of the jaw line (iBUG points 0-16) of one 68-point face: its size for transfers."""
    jaw = np.asarray(points68)[:17, 0]
    return float(jaw.max() - jaw.min())
