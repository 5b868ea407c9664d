"""The 3D-aware module (paper Sec. 4.1): unprojection, projector (Eq. 1), motion matcher (Eq. 2), 3D-warp.

    from toolkit.render import ReferenceTrack, Warp3D
    warp = Warp3D(reference_frames, ReferenceTrack.from_any(record, reference_ids))
    inputs = warp.generator_inputs(pose, expression68)  # pose: HeadPose (toolkit.motion) of T frames
    inputs.rendered, inputs.mask     # y~_t: the frontal frame's mesh at each target pose (+ blending mask)
    inputs.matched                   # y_ts: the reference frame with the nearest head motion
    frames = warp.render(pose, expression68)          # the 3D-warp baseline

Modules: :mod:`~toolkit.render.mesh` (textured mesh from the most frontal
frame), :mod:`~toolkit.render.project` (Eq. 1 + z-buffer rendering, pose
clamping), :mod:`~toolkit.render.rasterize` (numba / numpy / pytorch3d
rasterisers, auto-picked), :mod:`~toolkit.render.matcher` (Eq. 2),
:mod:`~toolkit.render.rig` (expression -> mouth/jaw vertices),
:mod:`~toolkit.render.warp3d` (composition, generator inputs, ``warp3d_method``),
:mod:`~toolkit.render.controls` (Fig. 16: new motion / expression) and
:mod:`~toolkit.render.cli` (``toolkit render-demo``). Only numpy (and scipy,
OpenCV where images are resized) is imported here; numba loads on first use.
"""

from __future__ import annotations

from toolkit.render.matcher import MatcherConfig, match_motion
from toolkit.render.mesh import FaceMesh, MeshConfig, build_face_mesh
from toolkit.render.project import PoseLimits, ProjectedFace, project_mesh
from toolkit.render.warp3d import GeneratorInputs, ReferenceTrack, Warp3D, Warp3DConfig, compose, warp3d_method

__all__ = [
    "FaceMesh",
    "GeneratorInputs",
    "MatcherConfig",
    "MeshConfig",
    "PoseLimits",
    "ProjectedFace",
    "ReferenceTrack",
    "Warp3D",
    "Warp3DConfig",
    "build_face_mesh",
    "compose",
    "match_motion",
    "project_mesh",
    "warp3d_method",
]
