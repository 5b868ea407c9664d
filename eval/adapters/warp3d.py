"""The benchmarking suite's built-in ``3d-warp`` method (paper's "w/o generator" flavour).

:func:`methods` gives the method to :mod:`eval.methods` (this module is listed in
``eval.methods.METHOD_MODULES``). For one benchmark clip it:

1. tracks the reference video ``y_1..tau`` (default MediaPipe tracker) and
   disentangles its head motion (``toolkit.motion``);
2. builds :class:`~toolkit.render.warp3d.Warp3D` from the benchmark's ``K``
   reference frames plus its most frontal frame ``t_M``; the mesh source is the one of them that is
   near-frontal with open eyes and a mouth near neutral (``choose_texture_frame``; ``t_M`` itself
   unless it blinks or opens its mouth wide);
3. renders ``n_frames`` target poses/expressions and composes them over the
   Eq. (2)-matched reference frame.

The benchmark gives a method nothing from the ground truth, and the audio-driven
learners (head motion Phi, expression Psi) are separate issues, so the target
motion and expression come from providers:

* ``motion="reference-loop"`` (default): the reference clip's own tracked head
  motion replayed back and forth (as the ``reference-loop`` method replays frames);
  ``"static"``: the frontal frame's pose throughout;
* ``expression="frontal"`` (default): the frontal frame's expression (mouth
  still); ``"reference-loop"``: the reference clip's tracked expression replayed;
* or any callable ``provider(inputs, track) -> array`` for either (``track`` is the
  tracked :class:`~toolkit.render.warp3d.ReferenceTrack` of all ``tau`` reference
  frames): motion providers return a :class:`~toolkit.motion.pose.HeadPose` of ``T`` frames,
  expression providers ``(T, 68, 3)`` canonical-frame points (e.g. Psi's PCA output
  decoded to ``frontal68``). This is where the learners plug in.

Why it does not use the pipeline's reference preparation (``toolkit.pipeline.stages.prepare_reference``:
a fixed face crop, resized to the render size, tracked again, rendered at 256 and pasted back): it is the
frozen "w/o generator" baseline of the leaderboards, rendered at the benchmark's own frame geometry, and it
calls the same tracker and motion disentangler as the pipeline (nothing here is a second implementation,
only another framing). The pipeline-prepared 3D warp is benchmarked already, as ``3d-warp-audio`` and
``3d-warp-landmark`` (eval/adapters/pipeline.py). Moving ``3d-warp`` onto the pipeline would change its
numbers, measured by ``scripts/bench/warp3d_via_pipeline.py`` (first 4 clips of shared_av10 cut to 4 s;
eval/benchmarks/results/warp3d_via_pipeline_s10/): LMD 71.45 -> 79.54, CSIM 0.864 -> 0.838, SSIM 0.528 ->
0.516, FID 91.7 -> 97.3, PSNR 14.54 -> 14.40, background jumps 0.086 -> 0.000, one clip's LMD 37.8 -> 98.5.
Part of that is not the framing but the expression: the pipeline has no source for this method's default
(the mesh source's own expression, a frame chosen for a mouth near neutral); its ``reference`` expression
holds t_M's face, open mouth included.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.pose import HeadPose
from toolkit.timeline import back_and_forth

if TYPE_CHECKING:
    from toolkit.render.warp3d import ReferenceTrack

MOTION_SOURCES = ("reference-loop", "static")
EXPRESSION_SOURCES = ("frontal", "reference-loop")


class ThreeDWarpMethod:
    """``3d-warp``: the textured frontal-frame mesh posed per target frame over the matched reference frame."""

    name = "3d-warp"

    def __init__(
        self,
        motion: str | Callable[..., Any] = "reference-loop",
        expression: str | Callable[..., Any] = "frontal",
        backend: str = "auto",
        **_: Any,
    ) -> None:
        if isinstance(motion, str) and motion not in MOTION_SOURCES:
            raise ToolkitError(
                f"Unknown 3d-warp motion source '{motion}'.", f"Use one of: {', '.join(MOTION_SOURCES)}."
            )
        if isinstance(expression, str) and expression not in EXPRESSION_SOURCES:
            raise ToolkitError(
                f"Unknown 3d-warp expression source '{expression}'.", f"Use one of: {', '.join(EXPRESSION_SOURCES)}."
            )
        self.motion = motion
        self.expression = expression
        self.backend = backend
        m = motion if isinstance(motion, str) else getattr(motion, "__name__", "custom")
        e = expression if isinstance(expression, str) else getattr(expression, "__name__", "custom")
        self.description = (
            f"3D-warp baseline (paper Sec. 4.1 without generator): MediaPipe-mesh of the frontal reference frame, "
            f"posed by head motion '{m}', expression '{e}', over the Eq. 2-matched K reference frame"
        )

    def generate(self, inputs: Any) -> Iterator[np.ndarray]:
        from toolkit.motion import disentangle
        from toolkit.render.warp3d import ReferenceTrack, Warp3D, baseline_config
        from toolkit.tracking import make_tracker

        frames = np.asarray(inputs.reference_frames)
        h, w = frames.shape[1:3]
        track = make_tracker("mediapipe", max_side=960).track(frames)
        motion = disentangle(track.landmarks, valid=track.reliable)
        full = ReferenceTrack(track.landmarks, motion.pose, motion.frontal68, track.detected)
        # the K appearance references plus the benchmark's t_M (the mesh source)
        ids = np.array(sorted(set(int(i) for i in inputs.reference_indices) | {int(inputs.frontal_index)}))
        # bound the per-batch buffers (~20 bytes per pixel and frame) on large frames
        batch = max(1, int(64 * 256 * 256 / (h * w)))
        with warnings.catch_warnings():
            # mesh warnings (profile-ish or tiny source face) are kept on warp.mesh.warnings
            warnings.simplefilter("ignore")
            warp = Warp3D(
                frames[ids],
                ReferenceTrack.from_any(full, ids),
                # the texture frame: among these, near-frontal with open eyes and mouth near neutral
                # (toolkit.render.warp3d.choose_texture_frame); the benchmark's t_M is one of the candidates
                baseline_config(backend=self.backend, batch_size=batch),
            )
        n = int(inputs.n_frames)
        pose = self._motion(inputs, full, n)
        expr = self._expression(inputs, full, n)
        for start in range(0, n, batch):
            sl = slice(start, min(n, start + batch))
            out = warp.render(pose[sl], None if expr is None else expr[sl])
            yield from out

    def _motion(self, inputs: Any, track: ReferenceTrack, n: int) -> HeadPose:
        if callable(self.motion):
            return self.motion(inputs, track)[:n]
        if self.motion == "static":
            k = int(inputs.frontal_index)
            idx = np.full(n, k)
        else:
            idx = back_and_forth(n, len(track.pose))
        return track.pose[idx]

    def _expression(self, inputs: Any, track: Any, n: int) -> np.ndarray | None:
        if callable(self.expression):
            return np.asarray(self.expression(inputs, track))[:n]
        if self.expression == "frontal":
            return None
        return track.frontal68[back_and_forth(n, len(track.frontal68))]


def methods() -> dict[str, Callable[..., ThreeDWarpMethod]]:
    """The built-in methods this module adds to :mod:`eval.methods`."""
    return {"3d-warp": lambda **options: ThreeDWarpMethod(**options)}
