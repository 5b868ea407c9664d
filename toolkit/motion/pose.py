"""The one head-pose type: ``l = s R(r) c + T`` per frame (paper Sec. 3.3, Eq. 1).

Every stage that holds head poses holds a :class:`HeadPose`: the motion disentangler's output
(:class:`toolkit.motion.HeadMotion`), a preprocessed clip (:class:`toolkit.data.records.ClipRecord`),
the renderer's reference track, the pipeline's reference and driving videos, the motion the pipeline
hands to the renderer, and the Fig. 16 controls. The paper's head motion ``h_t`` (axis-angle rotation
and translation, ``(T, 6)``) is a view of it (:attr:`HeadPose.motion`), used where a learner reads or
writes arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError


def _frozen(values: np.ndarray | Sequence[float], shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(values, np.float32).reshape(shape)  # a copy: nobody else can change it
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class HeadPose:
    """Head poses of T frames: rotation (T, 3) axis-angle radians, translation (T, 3) crop pixels, scale (T,).

    Frozen: the arrays are float32 copies that cannot be written, so a pose handed from one stage to
    the next cannot be changed under it. Slicing (``pose[a:b]``, ``pose[indices]``) gives a HeadPose.
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        n = int(np.asarray(self.rotation).reshape(-1, 3).shape[0])
        shapes = (np.shape(self.rotation), np.shape(self.translation), np.shape(self.scale))
        if np.size(self.translation) != 3 * n or np.size(self.scale) != n:
            raise ToolkitError(
                f"A head pose needs one rotation (3), translation (3) and scale per frame; got shapes {shapes}.",
                "Give rotation (T, 3), translation (T, 3) and scale (T,).",
            )
        object.__setattr__(self, "rotation", _frozen(self.rotation, (n, 3)))
        object.__setattr__(self, "translation", _frozen(self.translation, (n, 3)))
        object.__setattr__(self, "scale", _frozen(self.scale, (n,)))

    @classmethod
    def from_motion(cls, motion: np.ndarray, scale: np.ndarray | float) -> HeadPose:
        """From the paper's ``h_t`` (T, 6) (rotation, translation) and a scale per frame (or one for all)."""
        h = np.asarray(motion, np.float32).reshape(-1, 6)
        s = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1), (len(h),))
        return cls(h[:, :3], h[:, 3:], s)

    @classmethod
    def held(cls, rotation: np.ndarray, translation: np.ndarray, scale: float, n: int) -> HeadPose:
        """One pose held for ``n`` frames."""
        r = np.asarray(rotation, np.float32).reshape(1, 3)
        t = np.asarray(translation, np.float32).reshape(1, 3)
        return cls(np.repeat(r, n, 0), np.repeat(t, n, 0), np.full(n, float(scale), np.float32))

    @classmethod
    def concat(cls, poses: Sequence[HeadPose]) -> HeadPose:
        return cls(
            np.concatenate([p.rotation for p in poses]),
            np.concatenate([p.translation for p in poses]),
            np.concatenate([p.scale for p in poses]),
        )

    @property
    def motion(self) -> np.ndarray:
        """The paper's head motion ``h_t`` = [rotation, translation], (T, 6) float32."""
        return np.concatenate([self.rotation, self.translation], axis=1)

    def __len__(self) -> int:
        return int(self.rotation.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> HeadPose:
        """The poses of some frames (an int gives a one-frame pose)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return HeadPose(self.rotation[index], self.translation[index], self.scale[index])


class PoseViews:
    """Read-only views of a holder's ``pose`` (:class:`HeadPose`) under the names the tracker uses.

    For the records that hold a pose beside other per-frame data (``HeadMotion``, ``ClipRecord``,
    the renderer's ``ReferenceTrack``): the pose is stored once, in ``pose``.
    """

    pose: HeadPose

    @property
    def rotation(self) -> np.ndarray:
        return self.pose.rotation

    @property
    def translation(self) -> np.ndarray:
        return self.pose.translation

    @property
    def scale(self) -> np.ndarray:
        return self.pose.scale

    @property
    def head_motion(self) -> np.ndarray:
        """The paper's h_t = [rotation, translation], (T, 6) float32."""
        return self.pose.motion
