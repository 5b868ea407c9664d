"""Metrics of the benchmarking suite, each a small module with pure functions on arrays.

- :mod:`eval.metrics.ssim_psnr`: SSIM (colour) and PSNR (grey) per frame
- :mod:`eval.metrics.fid`: FID through pytorch-fid's InceptionV3
- :mod:`eval.metrics.csim`: identity cosine similarity (ArcFace / substitute / CSIM-dlib)
- :mod:`eval.metrics.lmd`: landmark distances LMD (author), M-LMD, F-LMD
- :mod:`eval.metrics.head_motion`: pose diversity and beat alignment
- :mod:`eval.metrics.lse`: lip-sync LSE-D / LSE-C with a user-supplied SyncNet

Per-video features feeding them are computed and cached by :mod:`eval.features`.
"""
