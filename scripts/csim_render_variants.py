"""Does a renderer setting recover identity? ``3d-warp-landmark`` on chosen benchmark clips with config overrides,
CSIM per clip against the real frames (the evaluation's network, substitute, labelled), beside ``static``.

Each variant is the ``3d-warp-landmark`` method of ``eval/adapters/pipeline.py`` (landmark-driven self-reenactment,
pasted back) with ``GenerationConfig`` overrides; frames at the evaluation size (256), dlib 68 points, CSIM as
``toolkit evaluate`` computes it (mean over frames of the cosine to the real frame's embedding).

    PYTHONPATH=$PWD .venv/bin/python scripts/csim_render_variants.py --clips kim AOC ... \
        --variant base= --variant size512=size=512 --variant noexpr=expression_scale=0 --out variants.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_overrides(text: str) -> dict:
    out: dict = {}
    for part in filter(None, text.split(",")):
        key, value = part.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", default=str(ROOT / "eval/benchmarks/shared_val8_k8.json"))
    ap.add_argument("--clips", nargs="+", required=True, help="substrings of clip ids")
    ap.add_argument("--variant", action="append", required=True, help="NAME=key=value,key=value (NAME= : none)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from eval.adapters.pipeline import PipelineMethod
    from eval.benchmark import load_benchmark
    from eval.landmarks68 import Dlib68
    from eval.methods import MethodInputs
    from eval.metrics.csim import CsimConfig, cosine_per_frame, csim, describe, make_embedder
    from eval.video import clip_audio, read_native_frames, to_eval_frame

    bench = load_benchmark(args.benchmark)
    dlib = Dlib68()
    embedder = make_embedder(CsimConfig())
    result: dict = {"csim": describe(embedder, "ground-truth"), "clips": {}}
    seed = int(bench.protocol.get("seed", 0))
    for clip in bench.clips:
        if not any(s in clip.clip_id for s in args.clips):
            continue
        native = read_native_frames(clip.video, 0, clip.n_frames)
        inputs = MethodInputs.for_clip(
            clip, native, clip_audio(clip.video, clip.audio, clip.n_frames), seed, with_driving_video=True
        )
        gt = np.stack([to_eval_frame(f) for f in native[clip.tau : clip.tau + clip.n_driving]])
        e_gt = embedder.embed(gt, dlib.video(gt).points)
        static = np.repeat(to_eval_frame(native[clip.frontal_index])[None], len(gt), axis=0)
        row = {"static": csim(embedder.embed(static, dlib.video(static).points), e_gt)}
        for spec in args.variant:
            name, _, text = spec.partition("=")
            method = PipelineMethod(renderer="3d-warp", driving="landmarks", name=name)
            method.config = dataclasses.replace(method.config, **parse_overrides(text)).validate()
            frames = np.stack([to_eval_frame(f) for f in method.generate(inputs)])
            cos = cosine_per_frame(embedder.embed(frames, dlib.video(frames).points), e_gt)
            row[name] = float(np.nanmean(cos))
        result["clips"][clip.clip_id] = row
        print(clip.clip_id[:45], " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
