"""The file types the toolkit reads, by suffix (lower case): one list each, used by every front end."""

from __future__ import annotations

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: in the order a folder is searched for a clip's video (eval folder methods): .mp4 first
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".mpg", ".mpeg", ".avi", ".mkv", ".webm", ".m4v", ".gif")
#: in the order a video's sidecar audio is looked for: .wav first
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".mp2", ".wma")
