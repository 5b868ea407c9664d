"""Head-motion curves over time for several clips and people (paper Fig. 3b).

The paper plots the six head-motion coefficients of two identities, four videos
each, to show that one person moves alike across videos and differently from
another person. ``plot_head_motion`` draws the same figure for any clips: one
panel per coefficient, one colour per person, one line style per video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.constants import VIDEO_FPS
from toolkit.viz.figure import save_figure

COEFFICIENT_NAMES = (
    "rotation x (pitch, deg)",
    "rotation y (yaw, deg)",
    "rotation z (roll, deg)",
    "translation x (px)",
    "translation y (px)",
    "translation z (px)",
)
LINE_STYLES = ("-", "--", ":", "-.")


@dataclass
class MotionSeries:
    """Head motion h_t of one clip, (T, 6): axis-angle rotation (rad) + translation."""

    motion: np.ndarray
    person: str
    video: str


def plot_head_motion(series: list[MotionSeries], out: str | Path, max_seconds: float = 10.0, title: str = "") -> Path:
    """Write the Fig. 3(b)-style PNG; translation is shown relative to each clip's mean."""

    fig = head_motion_figure(series, max_seconds, title)
    out = Path(out)
    save_figure(fig, out, dpi=110)
    return out


def head_motion_figure(series: list[MotionSeries], max_seconds: float = 10.0, title: str = ""):
    """The Fig. 3(b)-style matplotlib figure (one panel per coefficient, one colour per person)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("plot_head_motion needs at least one clip")
    people = sorted({s.person for s in series})
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.5), sharex=True)
    video_index: dict[str, int] = {}
    videos_per_person = {p: len({s.video for s in series if s.person == p}) for p in people}
    for s in series:
        n = min(len(s.motion), int(max_seconds * VIDEO_FPS))
        t = np.arange(n) / VIDEO_FPS
        m = np.asarray(s.motion[:n], np.float64).copy()
        m[:, :3] = np.degrees(m[:, :3])
        m[:, 3:] -= m[:, 3:].mean(axis=0)
        pid = people.index(s.person)
        vid = video_index.setdefault(s.person + "\0" + s.video, sum(k.startswith(s.person + "\0") for k in video_index))
        for j, ax in enumerate(axes.flat):
            ax.plot(
                t,
                m[:, j],
                color=colours(pid % 10),
                linestyle=LINE_STYLES[vid % len(LINE_STYLES)],
                linewidth=1.2,
                label=_label(s, videos_per_person[s.person]) if j == 0 else None,
            )
    for j, ax in enumerate(axes.flat):
        ax.set_title(COEFFICIENT_NAMES[j], fontsize=10)
        ax.grid(alpha=0.3)
        if j >= 3:
            ax.set_xlabel("time (s)")
    fig.legend(loc="lower center", ncol=min(4, len(series)), fontsize=8, frameon=False)
    fig.suptitle(title or "Head motion coefficients over time (cf. paper Fig. 3b)")
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig


def _label(series: MotionSeries, videos_of_person: int) -> str:
    """Legend text in plain words: the person (and the video, when the person has several)."""
    return series.person if videos_of_person == 1 else f"{series.person}: {series.video}"
