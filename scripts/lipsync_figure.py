"""Figure: mouth opening over time, generated (Psi) vs real, with the audio and its phone alignment.

    nice -n 10 .venv/bin/python scripts/lipsync_figure.py --data DIR [--expression checkpoints/expression]
        [--before /path/to/old/expression] [--clips N1 N2] [--seconds 8] [--out docs/img/lipsync_opening.png]

Panels: two speaker-disjoint validation clips driven by their own audio, with the identity taken from
their first tau = 64 frames (reference video, calibrated on the reference audio), and the first clip
again with one frame as the identity (a photo: its most frontal reference frame). Each panel shows the
waveform, the phones (pocketsphinx alignment of Whisper's words; P/B/M red, open vowels blue), the real
mouth opening and Psi's (``toolkit.metrics.lipsync.mouth_opening``: inner-lip gap / inter-ocular distance)
with the closure threshold. ``--before`` adds a second checkpoint's curve (e.g. the previous Psi).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAU = 64


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--expression", default=str(ROOT / "checkpoints" / "expression"))
    ap.add_argument("--before", help="a second checkpoint to draw (e.g. the previous Psi)")
    ap.add_argument("--clips", nargs=2, default=["andrew_clip_2", "741400104"], help="parts of validation clip ids")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "lipsync_opening.png"))
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.constants import SAMPLES_PER_FRAME, VIDEO_FPS
    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.learners.tasks import reference_frame
    from toolkit.metrics.lipsync import BILABIALS, CLOSED_OPENING, OPEN_VOWELS, align_speech, mouth_opening
    from toolkit.viz.figure import save_figure

    learners = {"Psi (this checkpoint)": ExpressionLearner.load(args.expression)}
    if args.before:
        learners = {"Psi before": ExpressionLearner.load(args.before), "Psi after": learners.popitem()[1]}
    ids = done_clip_ids(args.data)
    clips = [load_clip_data(args.data, [next(c for c in ids if part in c)])[0] for part in args.clips]
    panels = [(clips[0], "video"), (clips[1], "video"), (clips[0], "photo")]
    n_show = int(args.seconds * VIDEO_FPS)
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.2 * len(panels)), squeeze=False)
    for ax, (clip, mode) in zip(axes[:, 0], panels):
        n = min(n_show, clip.n_frames - TAU)
        audio = clip.audio[TAU * SAMPLES_PER_FRAME : (TAU + n) * SAMPLES_PER_FRAME]
        t = np.arange(n) / VIDEO_FPS
        real = mouth_opening(clip.frontal68[TAU : TAU + n])
        top = max(0.5, float(np.nanmax(real)) * 1.1)
        # waveform along the top quarter, phones as bands
        wav_t = np.arange(audio.size) / 16000.0
        ax.plot(wav_t, top * 0.87 + 0.1 * top * audio / max(1e-6, np.abs(audio).max()), color="0.75", lw=0.4)
        al = align_speech(audio)
        for p in al.phones:
            color = "tab:red" if p.name in BILABIALS else "tab:blue" if p.name in OPEN_VOWELS else None
            if color:
                ax.axvspan(p.start, p.end, color=color, alpha=0.15, lw=0)
                ax.text((p.start + p.end) / 2, top * 0.74, p.name, fontsize=6, ha="center", color=color)
        ax.plot(t, real, color="k", lw=1.6, label="real")
        refs, ref_audio = clip.frontal68[:TAU], clip.audio[: TAU * SAMPLES_PER_FRAME]
        photo = clip.frontal68[reference_frame(clip.motion, TAU)]
        for (name, learner), color in zip(learners.items(), ["tab:orange", "tab:green"]):
            if mode == "video":
                pred = learner.predict(clip.audio, refs, ref_audio, normalise=False)[TAU : TAU + n]
            else:
                pred = learner.predict(clip.audio, photo, normalise=False)[TAU : TAU + n]
            op = mouth_opening(pred)
            moc = np.corrcoef(op, real)[0, 1] if op.std() > 0 else float("nan")
            ax.plot(t, op, color=color, lw=1.3, label=f"{name}: MOC {moc:.2f}")
        ax.axhline(CLOSED_OPENING, color="0.4", ls=":", lw=0.8, label=f"closed < {CLOSED_OPENING}")
        ident = "reference video (64 frames, calibrated)" if mode == "video" else "one photo (most frontal frame)"
        ax.set_title(f"{clip.clip_id} (validation speaker), identity: {ident}", fontsize=9)
        ax.set_ylim(0, top)
        ax.set_xlim(0, n / VIDEO_FPS)
        ax.set_ylabel("mouth opening / IOD")
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("seconds after the 64 reference frames (phones: P/B/M red, open vowels blue)")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
