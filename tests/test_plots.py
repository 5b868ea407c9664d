"""Head-motion plots say in plain words what each curve is, and draw the reference beside the generated."""

from __future__ import annotations

import numpy as np

from toolkit.pipeline.views import plot_pose_curves, pose_curve_series
from toolkit.viz.motion_plot import MotionSeries, head_motion_figure


def _legend(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def _motion(n: int, seed: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(size=(n, 6)) * 0.01, axis=0).astype(np.float32)


def test_a_photo_reference_is_drawn_with_the_generated_curve(tmp_path) -> None:
    generated, photo_pose = _motion(50, 0), _motion(1, 1)
    fig = head_motion_figure(pose_curve_series(generated, photo_pose), max_seconds=2.0)
    assert _legend(fig) == ["reference (photo: one pose)", "generated"]
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    reference_line = fig.axes[0].lines[0].get_ydata()
    assert np.ptp(reference_line) == 0 and len(reference_line) == 50  # the one pose, held over the clip
    out = plot_pose_curves(generated, tmp_path / "pose.png", reference_motion=photo_pose)
    assert out.stat().st_size > 10_000


def test_legends_name_people_and_videos_without_codes() -> None:
    video_pair = pose_curve_series(_motion(40, 0), _motion(30, 1))
    assert _legend(head_motion_figure(video_pair)) == ["reference", "generated"]
    clips = [
        MotionSeries(_motion(30, i), person, video)
        for i, (person, video) in enumerate([("Obama", "clip 1"), ("Obama", "clip 2"), ("Andrew", "clip 1")])
    ]
    labels = _legend(head_motion_figure(clips))
    assert labels == ["Obama: clip 1", "Obama: clip 2", "Andrew"]  # the video is named where a person has several
    assert not any("PID" in x or "VID" in x for x in labels)
