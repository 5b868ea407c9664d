"""Make the app's video example: assets/example_video.mp4, a talking astronaut made by this project.

The app offers two examples, a photo and a video, each with speech. The photo is
the embedded example's portrait (``skimage.data.astronaut()``, public domain,
NASA); the video is that portrait animated by this project's own pipeline
(learned head motion and expression, 3D-aware renderer) on the first
``--seconds`` of the project's synthesised speech (``assets/example_speech.wav``),
so it is small, has its own speech track, and carries no third-party licence
(see assets/README.md). Run again after the models change:

    .venv/bin/python scripts/make_app_examples.py [--seconds 3.2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.constants import SAMPLES_PER_FRAME, VIDEO_FPS  # noqa: E402

EXAMPLE_VIDEO = ROOT / "assets" / "example_video.mp4"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.2)
    ap.add_argument("--out", type=Path, default=EXAMPLE_VIDEO)
    args = ap.parse_args(argv)

    from toolkit.demo import example_inputs
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    image, speech = example_inputs()
    speech = speech[: int(args.seconds * VIDEO_FPS) * SAMPLES_PER_FRAME]
    config = GenerationConfig(k=1, seed=0, crf=26)
    result = TalkingHeadPipeline(config).generate(image, speech, args.out)
    print(f"wrote {result.summary()}; {args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
