"""Which benchmark clips' speech alignment depended on Whisper's temperature fallback (random sampling).

Before the greedy-only fix, faster-whisper re-decoded a segment by sampling (temperature 0.2 ... 1.0) whenever
the greedy transcript scored below its thresholds (mean log-prob < -1, compression ratio > 2.4), so those clips'
viseme columns (Bilabial-Closed, Vowel/Bilabial and their GT columns) came out differently from run to run. For
each clip of each benchmark this aligns the driving speech (the runner's own segment) twice with the old
settings (fresh cache each time) and once greedy-only, and prints whether the greedy transcript would have
triggered the fallback and whether the two old runs agreed.

    PYTHONPATH=$PWD python scripts/bench/viseme_alignment_determinism.py [--benchmark BENCH.json ...]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    from eval.benchmark import load_benchmark
    from eval.video import clip_audio
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.metrics import lipsync

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--benchmark",
        action="append",
        default=None,
        help="benchmark json (repeatable; default: shared_av10, shared_val8_k8, shared_val8_k1)",
    )
    ap.add_argument("--out", default=None, help="write the per-clip table as json here")
    args = ap.parse_args()
    benches = args.benchmark or [
        f"eval/benchmarks/{b}.json" for b in ("shared_av10", "shared_val8_k8", "shared_val8_k1")
    ]
    asr, _ = lipsync._whisper_asr(None)
    rows = []
    for bench_path in benches:
        bench = load_benchmark(bench_path)
        for clip in bench.clips:
            audio = clip_audio(clip.video, clip.audio, clip.n_frames)[clip.tau * SAMPLES_PER_FRAME :]
            audio = np.ascontiguousarray(audio, np.float32)
            old = []
            for _ in range(2):  # the old settings: faster-whisper's default temperature fallback
                segments, _ = asr.transcribe(
                    audio,
                    language="en",
                    word_timestamps=True,
                    beam_size=1,
                    condition_on_previous_text=False,
                    vad_filter=False,
                )
                old.append([(s.text, round(s.avg_logprob, 6), s.temperature) for s in segments])
            lipsync._ALIGN_CACHE.clear()
            greedy = lipsync.align_speech(audio)
            sampled = any(t > 0 for run in old for _, _, t in run)
            rows.append(
                {
                    "benchmark": bench_path,
                    "clip": clip.clip_id,
                    "greedy_logprob": round(greedy.mean_logprob, 4),
                    "greedy_applicable": greedy.applicable,
                    "old_used_sampling": sampled,
                    "old_runs_agree": old[0] == old[1],
                }
            )
            r = rows[-1]
            print(
                f"{bench_path.split('/')[-1]:24s} {clip.clip_id[:48]:48s} greedy lp {r['greedy_logprob']:7.3f} "
                f"applicable {r['greedy_applicable']!s:5s} old sampled {sampled!s:5s} old agree {r['old_runs_agree']}",
                flush=True,
            )
    n = len(rows)
    print(
        f"{sum(r['old_used_sampling'] for r in rows)} of {n} clip segments used the sampled fallback; "
        f"{sum(not r['old_runs_agree'] for r in rows)} gave different transcripts in two old runs"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
