"""Simulated raters with a known ground truth: dry-run a study's analysis before real raters come.

Each simulated rater answers every item of their sequence as a JSON answer
(exactly what the rater page sends), from a ground truth ``truth[method]
[criterion]`` on the study's scale:

* attentive raters (rating design): ``round(truth + rater bias + clip effect +
  noise)``, clipped to the scale; the noise is drawn once per (rater, video),
  so a repeated video gets the same score again up to +-1; a video whose audio
  is offset gets a sync score ``offset_penalty`` lower than without the offset;
* attentive raters (A/B): the method with the higher truth wins with
  probability ``1 / (1 + exp(-(t_a - t_b) / ab_temperature))``; the repeat
  gives the same choices, the offset check is answered right;
* straight-liners (``straightliners``): the same middle score (or always "A")
  for everything, the commonest inattentive behaviour; they fail a check.

Used by the tests (``aggregate`` must recover the truth) and to check how many
raters a study needs (the width of the intervals).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from eval.survey.study import ROLE_OFFSET, ROLE_REPEAT, Study


@dataclass
class SimulationConfig:
    rater_sd: float = 0.7  # spread of rater leniency (scale points)
    clip_sd: float = 0.0  # spread of clip difficulty (scale points)
    noise_sd: float = 1.0  # per-answer noise (scale points)
    offset_penalty: float = 4.0
    ab_temperature: float = 1.0
    seed: int = 0


def simulate_answers(
    study: Study,
    truth: dict[str, dict[str, float]],
    config: SimulationConfig | None = None,
    straightliners: Collection[str] = (),
) -> dict[str, list[dict]]:
    """rater id -> the answers (JSON objects) they would send, in their order."""
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.seed)
    key = study.load_key()
    info = study.info
    clips = sorted({k.clip_id for k in key.values()})
    clip_effect = dict(zip(clips, rng.normal(0, config.clip_sd, len(clips))))
    mid = (info.scale_min + info.scale_max) // 2
    out: dict[str, list[dict]] = {}
    for rater_id, plan in study.plans.items():
        bias = rng.normal(0, config.rater_sd)
        latent: dict[tuple[str, str, str], float] = {}
        answers: list[dict] = []
        choices: dict[str, dict[str, str | int]] = {}
        for item in plan.items:
            if rater_id in straightliners:
                values = {c: ("A" if info.design == "ab" else mid) for c in info.criteria}
            elif info.design == "rating":
                k = key[item.videos[0]]
                values = {}
                for c in info.criteria:
                    lk = (k.method, k.clip_id, c)
                    if lk not in latent:
                        latent[lk] = truth[k.method][c] + bias + clip_effect[k.clip_id] + rng.normal(0, config.noise_sd)
                    v = latent[lk]
                    if item.role == ROLE_REPEAT:
                        v += rng.uniform(-1, 1)
                    if item.role == ROLE_OFFSET and c == "sync":
                        v -= config.offset_penalty
                    values[c] = int(np.clip(round(v), info.scale_min, info.scale_max))
            else:
                ka, kb = key[item.videos[0]], key[item.videos[1]]
                values = {}
                for c in info.criteria:
                    if item.role == ROLE_OFFSET and c == "sync":
                        values[c] = "B" if ka.variant == "offset" else "A"
                    elif item.role == ROLE_REPEAT and item.of in choices:
                        # same choice of method as the first time; the sides are swapped
                        orig = choices[item.of][c]
                        values[c] = "B" if orig == "A" else "A"
                    else:
                        d = (truth[ka.method][c] - truth[kb.method][c]) / config.ab_temperature
                        values[c] = "A" if rng.random() < 1.0 / (1.0 + math.exp(-d)) else "B"
                choices[item.item_id] = values
            answers.append({"item_id": item.item_id, "values": values, "comment": "", "elapsed_ms": 4000})
        out[rater_id] = answers
    return out
