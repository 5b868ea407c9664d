"""Project-wide constants shared by every stage.

The paper samples audio at 50 kHz (Appendix A.1). We use 16 kHz everywhere:
speech carries almost nothing above 8 kHz, the lip-sync metric (SyncNet) and
most speech corpora use 16 kHz, and it makes the audio windows 3x cheaper on a
CPU. At 25 fps one video frame is exactly 640 audio samples, so audio and video
stay sample-aligned without rounding.
"""

from __future__ import annotations

VIDEO_FPS: int = 25
AUDIO_SAMPLE_RATE: int = 16_000
SAMPLES_PER_FRAME: int = AUDIO_SAMPLE_RATE // VIDEO_FPS  # 640

#: the paper's audio window x_{t-3:t+4} (Sec. 3.2, "0.04 x 7 Sec"): a half-open
#: slice, frames t-3 .. t+3, 7 frames of 40 ms = 4480 samples at 16 kHz
AUDIO_WINDOW_BEFORE: int = 3
AUDIO_WINDOW_AFTER: int = 4  # exclusive
AUDIO_WINDOW_FRAMES: int = AUDIO_WINDOW_BEFORE + AUDIO_WINDOW_AFTER  # 7

#: reference clip length (frames) used by the head motion learner and benchmarks
TAU: int = 64

#: number of expression PCA components (Appendix A.2)
N_EXPRESSION_PCA: int = 20

#: synthetic head motions around the frontal pose (paper Fig. 16; toolkit.render.controls.synthetic_motion)
SYNTHETIC_KINDS: tuple[str, ...] = ("nod", "shake", "tilt", "circle")
