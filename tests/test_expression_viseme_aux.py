"""Psi's auxiliary viseme objective (loss.viseme, issue 16 session 12): labels, masking, training only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_expression_v2 import TINY_WHISPER
from tests.test_learners import _config, records, speech_dir  # noqa: F401 - module fixtures reused

torch = pytest.importorskip("torch")


def _alignment(phones, applicable=True, dropped=0):
    from toolkit.metrics.lipsync import Phone, SpeechAlignment

    return SpeechAlignment(
        applicable, "" if applicable else "not English", "", -0.3, [Phone(*p) for p in phones], 3, dropped
    )


def test_viseme_frame_labels_follow_the_phones_and_mask_what_is_unknown() -> None:
    from toolkit.metrics.lipsync import NO_VISEME, VISEME_CLASSES, viseme_frame_labels

    cls = {name: i for i, name in enumerate(VISEME_CLASSES)}
    # 25 fps: frame k's centre is (k + 0.5) * 40 ms
    phones = [("M", 0.08, 0.16), ("AA", 0.16, 0.28), ("F", 0.28, 0.32), ("UW", 0.32, 0.40), ("S", 0.40, 0.44)]
    lab = viseme_frame_labels(_alignment(phones), 14)
    expected = ["silence"] * 2 + ["bilabial"] * 2 + ["open_vowel"] * 3 + ["labiodental"] + ["rounded"] * 2
    expected += ["consonant"] + ["silence"] * 3
    assert lab.tolist() == [cls[e] for e in expected]
    # a dropped word leaves speech without phones: frames outside the phones are unknown, not silence
    lab = viseme_frame_labels(_alignment(phones, dropped=1), 14)
    assert (lab[:2] == NO_VISEME).all() and (lab[11:] == NO_VISEME).all() and lab[2] == cls["bilabial"]
    # audio that is not English: no label anywhere (masked out of the loss)
    assert (viseme_frame_labels(_alignment(phones, applicable=False), 14) == NO_VISEME).all()


def test_forward_with_audio_is_the_forward() -> None:
    from toolkit.learners.expression import ExpressionNet, ExpressionNetConfig, VisemeHeadModel

    torch.manual_seed(0)
    net = ExpressionNet(ExpressionNetConfig(frontend="whisper", feature_dim=6, context_frames=2, frame_dim=4)).eval()
    w, ref = torch.randn(5, 5, 6), torch.randn(5, 20)
    out, a = net.forward_with_audio(w, ref)
    assert torch.equal(out, net(w, ref)) and a.shape == (5, net.config.audio_dim)
    pred, logits = VisemeHeadModel(net, 7).eval()(w, ref)
    assert torch.equal(pred, out) and logits.shape == (5, 7)


def _fake_labels(clips, cache_dir="", log=None):
    """Stand-in for the Whisper + pocketsphinx labelling: class = frame index mod 7, the first 30 frames unlabelled."""
    return [np.where(np.arange(c.n_frames) < 30, -1, np.arange(c.n_frames) % 7) for c in clips]


def test_viseme_head_trains_masks_unlabelled_frames_and_stays_out_of_the_checkpoint(
    records,  # noqa: F811 - pytest fixture
    speech_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
) -> None:
    import toolkit.learners.data as data
    from toolkit.learners.expression import ExpressionLearner, VisemeHeadModel
    from toolkit.learners.tasks import ExpressionTask
    from toolkit.learners.train import train

    monkeypatch.setattr(data, "viseme_labels", _fake_labels)
    on = [*TINY_WHISPER, "loss.viseme=0.5"]
    run = tmp_path / "run"
    train(_config("expression", records, speech_dir, *on), run, progress=False)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    assert rows and all(np.isfinite(r["loss_viseme"]) and r["loss_viseme"] > 0 for r in rows)
    learner = ExpressionLearner.load(run / "model")  # Psi alone: strict load, no head tensors
    assert not any("head" in k for k in learner.net.state_dict())
    summary = learner.info["data"]
    assert summary["viseme_labelled_frames"] > 0 and summary["viseme_unlabelled_frames"] > 0

    task = ExpressionTask(_config("expression", records, speech_dir, *on), tmp_path, 0, 1, None)
    assert isinstance(task.model, VisemeHeadModel)
    # labels ride along without changing what is sampled (same batches as a task without them)
    plain = ExpressionTask(_config("expression", records, speech_dir, *TINY_WHISPER), tmp_path, 0, 1, None)
    assert plain.model is plain.net and "viseme_labelled_frames" not in plain.data_summary
    b_on = task.batcher.sample(6, np.random.default_rng(3))
    b_off = plain.batcher.sample(6, np.random.default_rng(3))
    assert "labels" not in b_off and b_on["labels"].shape == (len(b_on["target"]),)
    for key in b_off:
        np.testing.assert_array_equal(b_on[key], b_off[key])
    # only labelled frames enter the loss: a batch without labels gives 0
    task.batcher.labels = [np.full_like(lab, -1) for lab in task.batcher.labels]
    assert task.train_step(np.random.default_rng(0))["loss_viseme"] == 0.0


def test_viseme_labels_read_the_cache_and_drop_unsure_transcripts(tmp_path) -> None:
    import hashlib

    from toolkit.learners.data import ClipData, viseme_labels

    def clip(seed: int, has_audio: bool = True) -> ClipData:
        audio = np.random.default_rng(seed).normal(0, 0.1, 10 * 640).astype(np.float32)
        z = np.zeros((10, 68, 3), np.float32)
        return ClipData(f"c{seed}", "p", has_audio, audio, z, np.zeros((10, 6)), np.ones(10, bool), 0, 0.01)

    clips = [clip(0), clip(1), clip(2), clip(3, has_audio=False)]
    phones = [{"name": "M", "start": 0.0, "end": 0.2}, {"name": "AA", "start": 0.2, "end": 0.4}]
    texts = [("mama", -0.3), ("a bit of " * 12, -0.3), ("mama", -0.9)]  # sure, a repetition loop, unsure
    for c, (text, lp) in zip(clips, texts):
        key = hashlib.sha256(np.ascontiguousarray(c.audio).tobytes()).hexdigest()[:32]
        d = {"applicable": True, "reason": "", "text": text, "mean_logprob": lp, "phones": phones}
        (tmp_path / f"{key}.json").write_text(json.dumps({**d, "words_aligned": 1, "words_dropped": 0, "model": "x"}))
    sure, loop, unsure, silent = viseme_labels(clips, tmp_path)  # from the cache: no Whisper run
    assert sure.tolist() == [1] * 5 + [4] * 5
    assert (loop == -1).all() and (unsure == -1).all() and (silent == -1).all()
