"""Speed and memory of the speech front ends, measured in the same run.

    nice -n 10 .venv/bin/python scripts/bench/speech_features.py [--seconds 30] [--long-seconds 600]
        [--expression checkpoints/expression] [--json out.json]

* real-time factor (compute seconds per second of audio, wall clock) of the Whisper encoder features
  (``toolkit.audio.whisper``, no cache) with one CTranslate2 thread and with one per core (the default
  follows torch's thread count, i.e. all cores unless OMP_NUM_THREADS says otherwise), and, as the
  baseline in the same run, of the v1 log-mel window front end (``toolkit.audio.features.audio_windows``
  + ``LogMel``, one thread); their ratios, and the largest difference between the two thread counts'
  features;
* the Silero VAD speech gate (``toolkit.audio.vad``, per video frame) on the same audio;
* the expression learner's whole ``predict`` on ``--seconds`` of audio (features + network), cold cache;
* peak resident memory (ru_maxrss) of a child process that runs the pipeline's chunked expression
  prediction (``toolkit.pipeline.models.predict_expression`` chunks of 60 s) on ``--long-seconds`` of audio.

The audio is real speech from ``../shared/data/speech`` looped to length. Say the machine's load
when quoting the numbers: the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SPEECH = "speech/ggerganov__whisper.cpp__jfk.wav"


def _speech(seconds: float) -> np.ndarray:
    from toolkit.io.media import read_audio
    from toolkit.paths import shared_data_dir

    a = read_audio(shared_data_dir() / SPEECH)
    n = int(seconds * 16000)
    return np.tile(a, n // a.size + 1)[:n].astype(np.float32)


def _timed(fn, repeats: int = 2) -> float:
    """Best of ``repeats`` wall times (render_speed.timeit, the benches' one definition)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from render_speed import timeit

    return timeit(fn, repeats)


def _long_run(expression: str, seconds: float) -> None:
    """Child process: chunked expression prediction on long audio, then print the peak RSS."""
    from toolkit.learners.expression import ExpressionLearner

    learner = ExpressionLearner.load(expression)
    audio = _speech(seconds)
    n = audio.size // 640
    refs = np.load(Path(expression) / "expression_pca.npz")["mean"].reshape(1, 68, 3).astype(np.float32)
    out = []
    step = 1500  # toolkit.pipeline.models.EXPRESSION_CHUNK
    ctx = learner.context_frames
    for start in range(0, n, step):
        stop = min(n, start + step)
        lo, hi = max(0, start - ctx), min(n, stop + ctx)
        out.append(learner.predict(audio[lo * 640 : hi * 640], refs)[start - lo : stop - lo])
    assert sum(len(o) for o in out) == n
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--long-seconds", type=float, default=600.0)
    ap.add_argument("--expression", default=str(ROOT / "checkpoints" / "expression"))
    ap.add_argument("--json")
    ap.add_argument("--child-long", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.child_long:
        _long_run(args.expression, args.long_seconds)
        return 0
    from toolkit.audio.features import audio_windows
    from toolkit.audio.whisper import WhisperFrontEnd
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.learners.frontend import LogMel

    audio = _speech(args.seconds)
    n = audio.size // 640
    front = WhisperFrontEnd(threads=1)
    front.compute(audio[:16000], 25)  # load the model once, outside the timing
    cores = os.cpu_count() or 1
    front_all = WhisperFrontEnd(threads=cores)
    front_all.compute(audio[:16000], 25)
    logmel = LogMel()

    def run_logmel() -> None:
        with torch.no_grad():
            logmel(torch.from_numpy(np.array(audio_windows(audio, n))))

    t_whisper = _timed(lambda: front.compute(audio, n))
    t_whisper_all = _timed(lambda: front_all.compute(audio, n))
    thread_diff = float(np.abs(front.compute(audio, n) - front_all.compute(audio, n)).max())
    t_logmel = _timed(run_logmel)
    from toolkit.audio.vad import frame_speech_probability

    frame_speech_probability(audio[:16000], 25)  # load the model once, outside the timing
    t_vad = _timed(lambda: frame_speech_probability(audio, n))
    learner = ExpressionLearner.load(args.expression)
    refs = np.load(Path(args.expression) / "expression_pca.npz")["mean"].reshape(1, 68, 3).astype(np.float32)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TOOLKIT_CACHE"] = cache  # cold feature cache
        t_predict = _timed(lambda: learner.predict(audio, refs), repeats=1)
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-long",
            "--expression",
            args.expression,
            "--long-seconds",
            str(args.long_seconds),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TOOLKIT_CACHE": tempfile.mkdtemp()},
        check=True,
    )
    peak = json.loads(child.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    res = {
        "audio_seconds": args.seconds,
        "whisper_features_rtf": t_whisper / args.seconds,
        "logmel_baseline_rtf": t_logmel / args.seconds,
        "whisper_over_logmel": t_whisper / max(t_logmel, 1e-9),
        "whisper_threads_all": cores,
        "whisper_features_rtf_all_threads": t_whisper_all / args.seconds,
        "whisper_all_threads_over_logmel": t_whisper_all / max(t_logmel, 1e-9),
        "whisper_thread_count_max_abs_feature_diff": thread_diff,
        "silero_vad_rtf": t_vad / args.seconds,
        "expression_predict_rtf_cold_cache": t_predict / args.seconds,
        "expression_frontend": learner.config.frontend,
        "long_audio_seconds": args.long_seconds,
        "long_audio_peak_rss_mb": peak,
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
