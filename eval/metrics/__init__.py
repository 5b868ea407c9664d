"""Metrics of the benchmarking suite, each a small module with pure functions on arrays.

- :mod:`eval.metrics.ssim_psnr`: SSIM (colour) and PSNR (grey) per frame
- :mod:`eval.metrics.fid`: FID through pytorch-fid's InceptionV3
- :mod:`eval.metrics.csim`: identity cosine similarity (ArcFace / substitute / CSIM-dlib)
- :mod:`eval.metrics.lse`: lip-sync LSE-D / LSE-C with a user-supplied SyncNet
- :mod:`eval.metrics.motion_naturalness`: head-motion velocity, acceleration, spectrum, jumps

The metrics the learners also validate with live in :mod:`toolkit.metrics` (the dependency runs one
way: eval imports toolkit, never the reverse) and are re-exported here, so ``from eval.metrics import
lmd`` works:

- :mod:`toolkit.metrics.lmd`: landmark distances LMD (author), M-LMD, F-LMD
- :mod:`toolkit.metrics.head_motion`: pose diversity and beat alignment
- :mod:`toolkit.metrics.lipsync`: lip sync without SyncNet (mouth-opening correlation, closures, visemes)

Per-video features feeding them are computed and cached by :mod:`eval.features`.
"""

from toolkit.metrics import head_motion, lipsync, lmd

__all__ = ["head_motion", "lipsync", "lmd"]
