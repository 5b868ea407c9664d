"""What each learner trains on and how it is scored; the one loop is in ``train.py`` (the generator's
task is ``toolkit.generator.train.GeneratorTask``).

A task owns its data, networks, optimisers, one training step, validation on
the speaker-disjoint split, and the export of an inference checkpoint.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError
from toolkit.learners.config import ExpressionTrainConfig, MotionTrainConfig, TrainConfig
from toolkit.learners.data import (
    ClipData,
    ExpressionBatcher,
    FeatureExpressionBatcher,
    MotionBatcher,
    align_training_clips,
    load_clip_data,
)
from toolkit.learners.expression import KIND as EXPRESSION_KIND
from toolkit.learners.expression import ExpressionNet
from toolkit.learners.motion import KIND as MOTION_KIND
from toolkit.learners.motion import MotionDiscriminator, MotionNet, gaussian_kernel
from toolkit.learners.split import DEFAULT_VAL_GROUPS, Split, speaker_split
from toolkit.learners.train import TrainingTask

if TYPE_CHECKING:
    from toolkit.generator.config import GeneratorTrainConfig

#: validation noise level of the "Must show" list
VAL_NOISE_SNR_DB = 10.0
#: the expression PCA artifact (toolkit.expression.ExpressionPCA.save) written beside the Psi checkpoint
PCA_ARTIFACT_NAME = "expression_pca.npz"


def _records(root: str | Path) -> list[tuple[str, str, bool, int]]:
    """(clip_id, speaker, has_audio, n_frames) of every finished record."""
    import json

    from toolkit.data.records import clip_dir, done_clip_ids

    out = []
    for cid in done_clip_ids(root):
        meta = json.loads((clip_dir(root, cid) / "meta.json").read_text())
        out.append((cid, str(meta.get("speaker", cid)), bool(meta.get("has_audio")), int(meta.get("n_frames", 0))))
    if not out:
        raise ToolkitError(
            f"No preprocessed clips under {root}.",
            "Run `toolkit preprocess VIDEOS... --out DIR` first and pass that DIR as --data.",
        )
    return out


def make_split(config: TrainConfig) -> Split:
    recs = _records(config.data.data)
    groups = list(config.data.val_speakers)
    split = speaker_split([(cid, spk) for cid, spk, _, _ in recs], groups, config.data.val_fraction)
    if not split.train:
        raise ToolkitError("The validation split took every clip; nothing is left to train on.", "Edit val_speakers.")
    return split


def reference_frame(motion: np.ndarray, tau: int) -> int:
    """The most frontal frame t_M among the first tau frames (``toolkit.motion``'s rule, paper Sec. 4.1)."""
    from toolkit.motion.disentangle import frontal_frame_index

    return int(frontal_frame_index(motion[:tau, :3]))


# ================================================================== expression


def smooth_over_time(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(S, T, k) -> the same smoothed along T by a Gaussian of ``sigma`` frames (edges repeated), as
    inference smooths (scipy ``gaussian_filter1d``, mode "nearest", truncated at 4 sigma)."""
    radius = int(4.0 * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    s, t, k = x.shape
    flat = x.permute(0, 2, 1).reshape(s * k, 1, t)
    flat = F.pad(flat, (radius, radius), mode="replicate")
    return F.conv1d(flat, kernel).reshape(s, k, t).permute(0, 2, 1)


def opening_correlation_loss(pred: torch.Tensor, real: torch.Tensor, opening_std: float) -> torch.Tensor:
    """(S, T) predicted and real openings per segment -> mean over segments of 1 - Pearson correlation,
    each segment weighted by the real opening's std (a segment of silence has no timing to learn; the
    small floor keeps a flat prediction from dividing by zero)."""
    p = pred - pred.mean(dim=1, keepdim=True)
    r = real - real.mean(dim=1, keepdim=True)
    floor = (0.05 * opening_std) ** 2
    corr = (p * r).mean(dim=1) / torch.sqrt((p.square().mean(dim=1) + floor) * (r.square().mean(dim=1) + floor))
    weight = r.square().mean(dim=1).sqrt()
    return ((1.0 - corr) * weight).sum() / weight.sum().clamp(min=1e-9)


def _opening_direction(components: np.ndarray) -> np.ndarray:
    """(k,) coefficients -> signed inner-lip opening (mean lower-minus-upper y of the 3 inner-lip pairs)."""
    from toolkit.metrics.lipsync import INNER_LIP_PAIRS

    c = np.asarray(components, np.float32).reshape(len(components), -1, 3)
    return np.mean([c[:, lo, 1] - c[:, up, 1] for up, lo in INNER_LIP_PAIRS], axis=0).astype(np.float32)


def fit_expression_pca(clips: list[ClipData], n_components: int, fitted_on: str = "") -> Any:
    """Fit the project's expression PCA (``toolkit.expression``) on the clips' frontalised 68 landmarks.

    Frames where the face was only interpolated (not detected) are left out of the fit.
    """
    from toolkit.expression.pca import ExpressionPCA

    frames = np.concatenate([c.frontal68[c.detected] if c.detected.any() else c.frontal68 for c in clips])
    return ExpressionPCA(n_components=n_components).fit(frames, fitted_on=fitted_on)


class ExpressionTask(TrainingTask):
    kind = EXPRESSION_KIND

    def __init__(self, config: ExpressionTrainConfig, run_dir: Path, rank: int, world: int, log: Any) -> None:
        from toolkit.learners.noise import build_noise_bank
        from toolkit.paths import shared_data_dir

        self.config, self.run_dir, self.rank, self.world, self.log = config, run_dir, rank, world, log
        self.split = make_split(config)
        root = config.data.data
        t0 = time.perf_counter()
        train_clips = load_clip_data(root, self.split.train)
        self.val_clips = [c for c in load_clip_data(root, self.split.val) if c.has_audio]
        self.train_clips = train_clips
        self.av_offsets, self.av_dropped = align_training_clips(
            train_clips, config.data.sync_correction_max_frames, config.data.sync_offsets
        )
        # clips whose timing is unsure (data.sync_offsets' drop list) give no speech segments (PCA keeps them)
        dropped = set(self.av_dropped)
        speech_clips = [c for c in train_clips if c.clip_id not in dropped]
        k = config.net.n_components
        if config.pca:
            from toolkit.expression.pca import ExpressionPCA

            pca = ExpressionPCA.load(config.pca)
        else:
            pca = fit_expression_pca(
                train_clips,
                k,
                f"toolkit learners training split of {root}: {len(train_clips)} clips "
                f"(validation groups {', '.join(self.split.val_groups)} held out)",
            )
        n_pca = 0 if pca.components_ is None else pca.components_.shape[0]
        if n_pca != k:
            raise ToolkitError(
                f"The expression PCA has {n_pca} components, the network expects {k}.",
                "Set net.n_components to match, or refit the PCA.",
            )
        mean = np.asarray(pca.mean_, np.float32).reshape(-1)
        comps = np.asarray(pca.components_, np.float32)
        ratio = np.asarray(pca.explained_variance_ratio_, np.float64)
        self.pca = pca
        coeffs = [(c.frontal68.reshape(c.n_frames, -1) - mean) @ comps.T for c in train_clips]
        scale = np.concatenate(coeffs).std(axis=0) + 1e-6
        torch.manual_seed(config.seed)
        self.net = ExpressionNet(config.net)
        self.net.set_pca(mean, comps, scale)
        self.model: nn.Module = self.net
        self.loss_norm = float(np.mean(scale**2))
        speech_dir = config.noise.speech_dir or str(shared_data_dir() / "speech")
        audio_clips = [c.audio for c in speech_clips if c.has_audio]
        self.noise = build_noise_bank(
            audio_clips,
            speech_dir if Path(speech_dir).is_dir() else None,
            seed=config.seed,
            max_babble_files=config.noise.max_babble_files,
        )
        self.batcher: ExpressionBatcher | FeatureExpressionBatcher
        speech_coeffs = [co for c, co in zip(train_clips, coeffs) if c.clip_id not in dropped]
        if config.net.frontend == "whisper":
            self.batcher = FeatureExpressionBatcher(
                speech_clips,
                speech_coeffs,
                self._whisper_tracks(speech_clips),
                config.segment_frames,
                config.net.context_frames,
                config.noise.probability,
                config.single_reference_probability,
                config.data.tau,
                config.net.identity,
            )
        else:
            self.batcher = ExpressionBatcher(
                speech_clips,
                speech_coeffs,
                config.segment_frames,
                self.noise if config.noise.probability > 0 else None,
                config.noise.probability,
                config.noise.snr_levels_db,
                config.noise.gain_db,
                config.single_reference_probability,
                config.data.tau,
            )
        # the inner-lip opening is linear in the coefficients: opening(delta) = delta @ opening_direction
        from toolkit.learners.evaluation import mouth_opening

        self.opening_direction = torch.from_numpy(_opening_direction(comps))
        self.opening_std = float(np.concatenate([mouth_opening(c.frontal68) for c in train_clips]).std() + 1e-6)
        viseme_summary = self._set_up_visemes(speech_clips) if config.loss.viseme > 0 else {}
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        self.val_noise = self._validation_noise()
        self.data_summary = {
            "split": self.split.describe(),
            "train_clips_with_audio": len(self.batcher.clips),
            "av_offsets_corrected_frames": self.av_offsets,
            **({"av_offsets_source": config.data.sync_offsets} if config.data.sync_offsets else {}),
            **({"av_unsure_clips_dropped": self.av_dropped} if self.av_dropped else {}),
            "train_frames_with_audio": int(sum(c.n_frames for c in self.batcher.clips)),
            "pca_fit_frames": int(sum(c.n_frames for c in train_clips)),
            "pca_explained_variance_ratio": [round(float(x), 5) for x in ratio],
            "pca_explained_variance_total": round(float(ratio.sum()), 5),
            "val_clips": [c.clip_id for c in self.val_clips],
            "val_frames": int(sum(c.n_frames for c in self.val_clips)),
            "frontend": self.frontend_provenance(),
            "noise_items": self.noise.kinds(),
            "noise_seconds": {k: round(v, 1) for k, v in self.noise.seconds().items()},
            **viseme_summary,
            "load_seconds": round(time.perf_counter() - t0, 1),
        }

    def _set_up_visemes(self, speech_clips: list[ClipData]) -> dict[str, Any]:
        """loss.viseme: frame labels of the training clips (after their re-alignment), the class weights and the
        training-only head (``self.model`` = :class:`VisemeHeadModel`; ``self.net`` stays Psi alone)."""
        from toolkit.learners.data import viseme_labels
        from toolkit.learners.expression import VisemeHeadModel
        from toolkit.metrics.lipsync import VISEME_CLASSES

        labels = viseme_labels(speech_clips, self.config.viseme_cache, self.log)
        self.batcher.set_labels(speech_clips, labels)
        assert self.batcher.labels is not None
        used = np.concatenate(self.batcher.labels)
        counts = np.bincount(used[used >= 0], minlength=len(VISEME_CLASSES)).astype(np.float64)
        if counts.sum() == 0:
            raise ToolkitError(
                "loss.viseme is on but no training frame has a viseme label (no English speech aligned).",
                "Train on English talking-head clips, or set loss.viseme=0.",
            )
        freq = np.maximum(counts, 1.0) / counts.sum()
        weights = freq**-self.config.loss.viseme_class_power
        weights /= float((weights * freq).sum())  # frame-weighted mean 1
        self.viseme_weights = torch.as_tensor(weights, dtype=torch.float32)
        self.model = VisemeHeadModel(self.net, len(VISEME_CLASSES))
        return {
            "viseme_labelled_frames": int(counts.sum()),
            "viseme_unlabelled_frames": int((used < 0).sum()),
            "viseme_class_frames": dict(zip(VISEME_CLASSES, counts.astype(int).tolist())),
            "viseme_class_weights": dict(zip(VISEME_CLASSES, np.round(weights, 3).tolist())),
        }

    def frontend_provenance(self) -> dict[str, Any]:
        """Which speech front end (and which Whisper model, by SHA-256) the network was trained on."""
        net = self.config.net
        if net.frontend != "whisper":
            return {"frontend": "logmel (fixed 80-band log-mel of the raw window x_{t-3:t+4})"}
        from toolkit.audio.whisper import whisper_frontend

        return {**whisper_frontend(net.whisper_model or None).provenance, "context_frames": net.context_frames}

    def _whisper_tracks(self, clips: list[ClipData]) -> list[list[np.ndarray]]:
        """Per clip: the clean Whisper track, then ``noisy_tracks`` tracks of the audio mixed with noise at a
        random SNR of the configured levels (seeded per clip). Features are cached per audio content."""
        from toolkit.learners.data import mix_relative_to_clip
        from toolkit.learners.expression import whisper_track

        cfg, net = self.config, self.config.net
        out: list[list[np.ndarray]] = []
        t0 = time.perf_counter()
        for i, c in enumerate(clips):
            tracks = []
            if c.has_audio:
                tracks.append(whisper_track(c.audio, c.n_frames, net.context_frames, net.whisper_model))
                # seeded by the clip's id, so that a clip's noisy features (and their cache) do not depend on
                # which other clips are in the set
                rng = np.random.default_rng([cfg.seed, 7, int(hashlib.sha1(c.clip_id.encode()).hexdigest()[:8], 16)])
                for _ in range(cfg.noisy_tracks if cfg.noise.probability > 0 else 0):
                    snr = float(cfg.noise.snr_levels_db[int(rng.integers(len(cfg.noise.snr_levels_db)))])
                    piece, _ = self.noise.sample(c.audio.size, rng)
                    noisy = mix_relative_to_clip(c.audio, piece, snr, c.speech_power)
                    tracks.append(whisper_track(noisy, c.n_frames, net.context_frames, net.whisper_model))
            out.append(tracks)
            if self.log is not None and (i + 1) % 25 == 0:
                self.log.info(f"whisper features: {i + 1}/{len(clips)} clips, {time.perf_counter() - t0:.0f} s")
        return out

    def _validation_noise(self) -> list[np.ndarray]:
        """One fixed noise waveform per validation clip (seeded; a random item of the noise set)."""
        rng = np.random.default_rng(self.config.seed + 10_007)
        return [self.noise.sample(c.audio.size, rng)[0] for c in self.val_clips]

    # -- loop interface
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.model = DistributedDataParallel(self.model)

    def set_lr(self, factor: float) -> float:
        for g in self.opt.param_groups:
            g["lr"] = self.config.optim.lr * factor
        return self.config.optim.lr * factor

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        cfg, w = self.config, self.config.loss
        b = self.batcher.sample(cfg.optim.batch_size, rng)
        self.model.train()
        out = self.model(
            torch.from_numpy(b["windows"]), torch.from_numpy(b["reference"]), torch.from_numpy(b["n_reference"])
        )
        pred, logits = out if isinstance(out, tuple) else (out, None)
        target = torch.from_numpy(b["target"])
        seg = (-1, cfg.segment_frames, pred.shape[-1])
        if w.smoothed_prediction and cfg.net.smooth_frames > 0:
            pred = smooth_over_time(pred.reshape(seg), cfg.net.smooth_frames).reshape(pred.shape)
        terms = {"mse": F.mse_loss(pred, target) / self.loss_norm}
        p_seg, t_seg = pred.reshape(seg), target.reshape(seg)
        scale = self.net.coeff_scale
        if w.velocity > 0:
            terms["velocity"] = F.mse_loss(p_seg.diff(dim=1), t_seg.diff(dim=1)) / self.loss_norm
        if w.std_match > 0:
            terms["std_match"] = ((p_seg.std(dim=1) - t_seg.std(dim=1)).abs() / scale).mean()
        if w.opening > 0:
            terms["opening"] = ((pred - target) @ self.opening_direction).abs().mean() / self.opening_std
        if w.opening_correlation > 0:
            terms["opening_correlation"] = opening_correlation_loss(
                p_seg @ self.opening_direction, t_seg @ self.opening_direction, self.opening_std
            )
        if logits is not None:
            labels = torch.from_numpy(b["labels"])
            terms["viseme"] = (
                F.cross_entropy(logits, labels, weight=self.viseme_weights, ignore_index=-1)
                if bool((labels >= 0).any())
                else logits.sum() * 0.0
            )
        loss = sum(getattr(w, k) * v for k, v in terms.items())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = nn.utils.clip_grad_norm_(self.net.parameters(), cfg.optim.grad_clip)
        if logits is not None:  # the head apart, so that Psi's clipping is the same as without it
            inner: Any = getattr(self.model, "module", self.model)  # DDP wraps the VisemeHeadModel
            nn.utils.clip_grad_norm_(inner.head.parameters(), cfg.optim.grad_clip)
        self.opt.step()
        noisy = b["noisy"] if "noisy" in b else np.isfinite(b["snr"])
        out = {"loss": float(loss.item()), "grad_norm": float(gn), "noisy_fraction": float(np.mean(noisy))}
        out.update({f"loss_{k}": float(v.item()) for k, v in terms.items()})
        return out

    @torch.no_grad()
    def validate(self, step: int = 0) -> dict[str, float]:
        """Mouth LMD on frames tau.. of every validation clip, mean over clips; the shipped inference path.

        psi: identity = the tau reference frames, calibrated on their audio; psi_single: identity = the
        most frontal reference frame t_M (the paper's single image), no calibration; psi_10db: as psi
        with the clip's audio mixed with noise at 10 dB SNR; still_ref: frame t_M held still;
        still_mean: the reference frames' mean held still; val_mean: the clip's own mean expression
        over the scored frames (an oracle).
        """
        from toolkit.learners.evaluation import mouth_lmd
        from toolkit.learners.expression import ExpressionLearner, reference_identity
        from toolkit.learners.noise import mix_at_snr
        from toolkit.metrics.lipsync import reenactment_scores

        lips: dict[str, list[float]] = {}

        learner = ExpressionLearner(self.net)
        tau, cap = self.config.data.tau, self.config.data.val_max_frames
        sums: dict[str, list[float]] = {}
        for clip, noise in zip(self.val_clips, self.val_noise):
            if clip.n_frames <= tau:
                continue
            r = reference_frame(clip.motion, tau)
            sl = slice(tau, min(clip.n_frames, tau + cap))
            gt = clip.frontal68[sl]
            refs = clip.frontal68[:tau]
            noisy = mix_at_snr(clip.audio, noise, VAL_NOISE_SNR_DB)
            ref_n = tau * SAMPLES_PER_FRAME
            preds = {
                "psi": learner.predict(clip.audio, refs, clip.audio[:ref_n], normalise=False)[sl],
                "psi_single": learner.predict(clip.audio, clip.frontal68[r], normalise=False)[sl],
                "psi_10db": learner.predict(noisy, refs, noisy[:ref_n], normalise=False)[sl],
                "still_ref": np.repeat(clip.frontal68[r][None], len(gt), axis=0),
                "still_mean": np.repeat(refs.mean(axis=0, keepdims=True), len(gt), axis=0),
                "still_neutral": np.repeat(reference_identity(refs, "neutral")[0][None], len(gt), axis=0),
                "val_mean": np.repeat(gt.mean(axis=0, keepdims=True), len(gt), axis=0),
            }
            for name, pred in preds.items():
                sums.setdefault(name, []).append(mouth_lmd(pred, gt))
            for name in ("psi", "psi_single"):
                for key, value in reenactment_scores(preds[name], gt).items():
                    lips.setdefault(f"val_{name}_{key}", []).append(value)
        out = {f"val_mouth_lmd_{k}": float(np.mean(v)) for k, v in sums.items()}
        out.update(
            {k: float(np.nanmedian(v)) if k.endswith("Closure-Err") else float(np.nanmean(v)) for k, v in lips.items()}
        )
        if sums:
            out["val_lmd_ratio"] = out["val_mouth_lmd_psi"] / out["val_mouth_lmd_still_ref"]  # psi / still_ref
        return out

    def export(self, folder: Path, extra: dict[str, Any]) -> Path:
        """The inference checkpoint (PCA basis inside it) + the PCA artifact beside it (``expression_pca.npz``)."""
        from toolkit.io.checkpoint import save_model

        state = {k: v for k, v in self.net.state_dict().items()}
        meta = {"net": asdict(self.config.net), "train_config": asdict(self.config), "data": self.data_summary, **extra}
        save_model(folder, state, self.kind, meta)
        self.pca.save(Path(folder) / PCA_ARTIFACT_NAME)
        return Path(folder)


# ================================================================== motion


def motion_statistics(clips: list[ClipData]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global mean pose, std of clip mean poses, pooled within-clip std), per coefficient."""
    means = np.stack([c.motion.mean(axis=0) for c in clips])
    frames = np.array([c.n_frames for c in clips], np.float64)
    within = np.sqrt(sum(((c.motion - c.motion.mean(0)) ** 2).sum(0) for c in clips) / frames.sum())
    return means.mean(axis=0), means.std(axis=0), within


def reference_amplitude(clips: list[ClipData], tau: int, within: np.ndarray, statistic: str = "median") -> np.ndarray:
    """Median (or mean) over the clips' non-overlapping tau-frame windows of each coefficient's std, in units of
    ``within`` (the pooled within-clip std): how much a full reference of a typical training person moves (the
    prior amplitude for references too short to tell; the mean is the expected spread, the median the median
    person's, smaller: a few lively clips move much more than most)."""
    stds = [
        c.motion[s : s + tau].std(axis=0) / np.maximum(within, 1e-6)
        for c in clips
        for s in range(0, c.n_frames - tau + 1, tau)
    ]
    if statistic not in ("median", "mean"):
        raise ToolkitError(f"Unknown amplitude statistic {statistic!r}.", "Use 'median' or 'mean'.")
    reduce = np.median if statistic == "median" else np.mean
    return reduce(np.stack(stds), axis=0).astype(np.float32)


def high_frequency_share(motion: torch.Tensor, cutoff_hz: float = 3.0, fps: float = 25.0) -> torch.Tensor:
    """(B, L, C) -> (B, C) share of the spectral power above ``cutoff_hz`` (mean removed, Hann window, f > 0);
    the differentiable twin of eval.metrics.motion_naturalness.high_frequency_share."""
    x = motion - motion.mean(dim=1, keepdim=True)
    x = x * torch.hann_window(x.shape[1], periodic=False, dtype=x.dtype)[None, :, None]
    power = torch.fft.rfft(x, dim=1).abs().square()
    f = torch.fft.rfftfreq(x.shape[1], d=1.0 / fps)
    return power[:, f > cutoff_hz].sum(dim=1) / power[:, f > 0].sum(dim=1).clamp_min(1e-8)


#: Phi v3's spectrum-shape bands (Hz): slow drift, slow sway, sway, fast, jitter (band_match loss)
MOTION_BANDS_HZ: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, float("inf"))


def band_powers(motion: torch.Tensor, edges: tuple[float, ...] = MOTION_BANDS_HZ, fps: float = 25.0) -> torch.Tensor:
    """(B, L, C) -> (B, C, len(edges) - 1) spectral power (mean removed, Hann window, per frame) in each band
    (edges[i], edges[i + 1]] (the last band is high_frequency_share's f > 3 Hz); the bands cover f > 0."""
    x = motion - motion.mean(dim=1, keepdim=True)
    x = x * torch.hann_window(x.shape[1], periodic=False, dtype=x.dtype)[None, :, None]
    power = torch.fft.rfft(x, dim=1).abs().square() / x.shape[1]  # (B, F, C)
    f = torch.fft.rfftfreq(x.shape[1], d=1.0 / fps)
    return torch.stack([power[:, (f > lo) & (f <= hi)].sum(dim=1) for lo, hi in itertools.pairwise(edges)], dim=2)


def band_shares(motion: torch.Tensor, edges: tuple[float, ...] = MOTION_BANDS_HZ, fps: float = 25.0) -> torch.Tensor:
    """(B, L, C) -> (B, C, len(edges) - 1) share of the spectral power in each band of ``band_powers``; the
    shares of a coefficient sum to 1."""
    power = band_powers(motion, edges, fps)
    return power / power.sum(dim=2, keepdim=True).clamp_min(1e-8)


def band_power_mismatch(pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean |log band power of pred - of real| over coefficients and bands, each power averaged over the batch
    (one sequence's band power is a noisy draw; the batch's is the population's). The floor (1e-3 of the real
    total) keeps bands where real motion has almost nothing from dominating."""
    p, r = band_powers(pred).mean(dim=0), band_powers(real).mean(dim=0)  # (C, bands)
    floor = 1e-3 * r.sum(dim=1, keepdim=True).detach()
    return (torch.log(p + floor) - torch.log(r + floor)).abs().mean()


def soft_beat_alignment(rotation_deg: torch.Tensor, closeness: torch.Tensor, envelope_sigma: float) -> torch.Tensor:
    """Differentiable twin of toolkit.metrics.head_motion's beat alignment, per sequence (B,).

    ``rotation_deg`` (B, L, 3) axis-angle in degrees, ``closeness`` (B, L) exp(-d^2 / (2 sigma^2)) of each frame
    to its nearest audio onset. The angular speed (norm of the rotation's first difference; entry t is the motion
    into frame t) is smoothed like the metric's velocity envelope; every frame gets a soft motion-beat weight, the
    geometric mean of how much the envelope drops into it from both sides (0 unless it is a local minimum), and
    the score is the weighted mean closeness of the beats to onsets.
    """
    speed = rotation_deg.diff(dim=1).norm(dim=2)
    speed = torch.cat([speed[:, :1], speed], dim=1)
    half = max(1, int(math.ceil(3 * envelope_sigma)))
    k = gaussian_kernel(envelope_sigma, 2 * half + 1).to(speed)
    env = F.conv1d(F.pad(speed[:, None], (half, half), mode="replicate"), k[None, None])[:, 0]
    drop = torch.relu(env[:, :-2] - env[:, 1:-1]) * torch.relu(env[:, 2:] - env[:, 1:-1])
    depth = (drop + 1e-10).sqrt()
    return (depth * closeness[:, 1:-1]).sum(dim=1) / depth.sum(dim=1).clamp_min(1e-6)


class MotionTask(TrainingTask):
    kind = MOTION_KIND

    def __init__(self, config: MotionTrainConfig, run_dir: Path, rank: int, world: int, log: Any) -> None:
        self.config, self.run_dir, self.rank, self.world, self.log = config, run_dir, rank, world, log
        self.split = make_split(config)
        root = config.data.data
        t0 = time.perf_counter()
        clips = load_clip_data(root, self.split.train)
        self.av_offsets, _ = align_training_clips(
            clips, config.data.sync_correction_max_frames, config.data.sync_offsets
        )
        if not config.use_silent_clips:
            clips = [c for c in clips if c.has_audio]
        self.train_clips = clips
        self.val_clips = [c for c in load_clip_data(root, self.split.val) if c.has_audio]
        mean, pose_std, within = motion_statistics(clips)
        torch.manual_seed(config.seed)
        self.net = MotionNet(config.net)
        self.net.set_statistics(mean, pose_std, within)
        if config.net.prior_amplitude_frames > 0:
            self.net.prior_amplitude.copy_(torch.from_numpy(reference_amplitude(clips, config.data.tau, within)))
        self.disc = MotionDiscriminator(config.net.disc_hidden)
        self.model: nn.Module = self.net
        self.disc_model: nn.Module = self.disc
        self.batcher = MotionBatcher(clips, config.predict_frames, logmel=self.net.stem.logmel)
        o = config.optim
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        self.opt_d = torch.optim.AdamW(self.disc.parameters(), lr=config.disc_lr, betas=(0.5, 0.999))
        self.data_summary = {
            "split": self.split.describe(),
            "train_clips": len(clips),
            "train_clips_silent": int(sum(not c.has_audio for c in clips)),
            "av_offsets_corrected_frames": self.av_offsets,
            "train_frames": int(sum(c.n_frames for c in clips)),
            "val_clips": [c.clip_id for c in self.val_clips],
            "val_frames": int(sum(c.n_frames for c in self.val_clips)),
            "motion_mean": mean.round(5).tolist(),
            "pose_std": pose_std.round(5).tolist(),
            "within_clip_std": within.round(5).tolist(),
            **(
                {"prior_amplitude": self.net.prior_amplitude.numpy().round(5).tolist()}
                if config.net.prior_amplitude_frames > 0
                else {}
            ),
            "load_seconds": round(time.perf_counter() - t0, 1),
        }

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net, "disc": self.disc}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt, "disc": self.opt_d}

    def wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.model = DistributedDataParallel(self.net)
        self.disc_model = DistributedDataParallel(self.disc)

    def set_lr(self, factor: float) -> float:
        for g in self.opt.param_groups:
            g["lr"] = self.config.optim.lr * factor
        for g in self.opt_d.param_groups:
            g["lr"] = self.config.disc_lr * factor
        return self.config.optim.lr * factor

    def sample_tau(self, rng: np.random.Generator) -> int:
        """The batch's reference length: the full tau, 1 (a single photo) or uniform in 1..tau-1 (one draw
        decides, so a recipe without ``single_tau_probability`` draws exactly as before)."""
        tau = self.config.data.tau
        if tau <= 1:
            return tau
        draw = rng.random()
        if draw < self.config.full_tau_probability:
            return tau
        if draw < self.config.full_tau_probability + self.config.single_tau_probability:
            return 1
        return int(rng.integers(1, tau))

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        cfg, w = self.config, self.config.loss
        tau = self.sample_tau(rng)
        long = cfg.long_predict_frames > 0 and rng.random() < cfg.long_probability
        if long:
            b = self.batcher.sample(cfg.long_batch_size or cfg.optim.batch_size, tau, rng, cfg.long_predict_frames)
        else:
            b = self.batcher.sample(cfg.optim.batch_size, tau, rng)
        ref = torch.from_numpy(b["ref_motion"])
        target = torch.from_numpy(b["target"])
        noise = torch.from_numpy(rng.standard_normal((len(ref), cfg.net.noise_dim, target.shape[1])).astype(np.float32))
        self.model.train()
        ref_w, drv_w = torch.from_numpy(b["ref_windows"]), torch.from_numpy(b["driving_windows"])
        if w.reconstruct_mean:
            # one forward for the sample and the mean motion (noise zero): the batch twice (DDP-friendly)
            _, both = self.model(
                torch.cat([ref, ref]), torch.cat([ref_w, ref_w]), torch.cat([drv_w, drv_w]),
                torch.cat([noise, torch.zeros_like(noise)]),
            )  # fmt: skip
            rel, rel_rec = both[: len(ref)], both[len(ref) :]
        else:
            _, rel = self.model(ref, ref_w, drv_w, noise)
            rel_rec = rel
        target_rel = (target - ref.mean(dim=1, keepdim=True)) / self.net.motion_std

        # discriminator: real vs generated (mean, std) statistics, one forward for both (DDP-friendly)
        stats_real = MotionDiscriminator.statistics(target_rel)
        stats_fake = MotionDiscriminator.statistics(rel)
        scores = self.disc_model(torch.cat([stats_real, stats_fake.detach()]))
        n = len(ref)
        loss_d = 0.5 * ((scores[:n] - 1).square().mean() + scores[n:].square().mean())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # generator (encoder f + extrapolator); D's plain module, so no second DDP reduction on D
        loss_rec = F.l1_loss(rel_rec, target_rel)
        loss_std = (rel.std(dim=1) - target_rel.std(dim=1)).abs().mean()
        vel, vel_t = rel.diff(dim=1), target_rel.diff(dim=1)
        loss_vel = (vel.std(dim=1) - vel_t.std(dim=1)).abs().mean()
        loss_speed = (vel.abs().mean(dim=1) - vel_t.abs().mean(dim=1)).abs().mean()
        acc, acc_t = vel.diff(dim=1), vel_t.diff(dim=1)
        loss_acc = (acc.abs().mean(dim=1) - acc_t.abs().mean(dim=1)).abs().mean()
        loss_hf = (high_frequency_share(rel) - high_frequency_share(target_rel)).abs().mean()
        loss_adv = (self.disc(stats_fake) - 1).square().mean()
        loss_band = (band_shares(rel) - band_shares(target_rel)).abs().sum(dim=2).mean()
        loss_band_power = band_power_mismatch(rel, target_rel) if w.band_power_match > 0 else rel.new_zeros(())
        loss_beat = rel.new_zeros(())
        closeness = torch.from_numpy(b["beat_closeness"])
        with_beats = torch.isfinite(closeness).all(dim=1)
        if w.beat_align > 0 and bool(with_beats.any()):
            from toolkit.metrics.head_motion import ENVELOPE_SIGMA_FRAMES

            rot_deg = torch.rad2deg(rel[with_beats, :, :3] * self.net.motion_std[:3])
            loss_beat = 1.0 - soft_beat_alignment(rot_deg, closeness[with_beats], ENVELOPE_SIGMA_FRAMES).mean()
        loss = (
            w.reconstruction * loss_rec
            + w.std_match * loss_std
            + w.velocity_match * loss_vel
            + w.speed_match * loss_speed
            + w.acceleration_match * loss_acc
            + w.spectrum_match * loss_hf
            + w.band_match * loss_band
            + w.band_power_match * loss_band_power
            + w.beat_align * loss_beat
            + w.adversarial * loss_adv
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = nn.utils.clip_grad_norm_(self.net.parameters(), cfg.optim.grad_clip)
        self.opt.step()
        return {
            "loss": loss.item(),
            "rec_l1": loss_rec.item(),
            "std_match": loss_std.item(),
            "vel_match": loss_vel.item(),
            "speed_match": loss_speed.item(),
            "acc_match": loss_acc.item(),
            "hf_match": loss_hf.item(),
            "band_match": loss_band.item(),
            "band_power_match": loss_band_power.item(),
            "beat_loss": loss_beat.item(),
            "predict_frames": float(target.shape[1]),
            "adv_g": loss_adv.item(),
            "loss_d": loss_d.item(),
            "tau": float(tau),
            "grad_norm": float(gn),
        }

    @torch.no_grad()
    def predict_clip(self, clip: ClipData, tau: int, n_frames: int, seed: int) -> np.ndarray:
        from toolkit.learners.data import windows_for_frames

        self.net.eval()
        ref = torch.from_numpy(clip.motion[:tau])[None]
        ref_w = torch.from_numpy(windows_for_frames(clip.audio, 0, tau))[None]
        drv_w = torch.from_numpy(windows_for_frames(clip.audio, tau, n_frames))[None]
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, self.config.net.noise_dim, n_frames, generator=g)
        return self.net(ref, ref_w, drv_w, noise)[0][0].numpy()

    @torch.no_grad()
    def validate(self, step: int = 0) -> dict[str, float]:
        from toolkit.learners.evaluation import motion_scores, reference_loop

        tau, cap = self.config.data.tau, self.config.data.val_max_frames
        rows: dict[str, list[dict[str, float]]] = {}
        for clip in self.val_clips:
            if clip.n_frames < tau + 16:
                continue
            n = min(clip.n_frames - tau, cap)
            gt = clip.motion[tau : tau + n]
            preds = {
                "phi": self.predict_clip(clip, tau, n, seed=self.config.seed),
                "still": np.repeat(clip.motion[tau - 1][None], n, axis=0),
                "ref_loop": reference_loop(clip.motion[:tau], n),
            }
            audio = clip.audio[tau * SAMPLES_PER_FRAME : (tau + n) * SAMPLES_PER_FRAME]
            for name, pred in preds.items():
                rows.setdefault(name, []).append(motion_scores(pred, gt, audio=audio))
        out: dict[str, float] = {}
        for name, rs in rows.items():
            for key in dict.fromkeys(k for r in rs for k in r):
                vals = np.array([r.get(key, np.nan) for r in rs], np.float64)
                out[f"val_{name}_{key}"] = float(vals[np.isfinite(vals)].mean()) if np.isfinite(vals).any() else np.nan
        return out

    def export(self, folder: Path, extra: dict[str, Any]) -> Path:
        from toolkit.io.checkpoint import save_model

        meta = {"net": asdict(self.config.net), "train_config": asdict(self.config), "data": self.data_summary, **extra}
        return save_model(folder, dict(self.net.state_dict()), self.kind, meta)


def make_task(
    config: TrainConfig | GeneratorTrainConfig, run_dir: Path, rank: int, world: int, log: Any, device: str = "cpu"
) -> TrainingTask:
    """The task of a recipe: the expression or motion learner (on the CPU), or the generator."""
    from toolkit.generator.config import GeneratorTrainConfig

    if isinstance(config, ExpressionTrainConfig):
        return ExpressionTask(config, run_dir, rank, world, log)
    if isinstance(config, MotionTrainConfig):
        return MotionTask(config, run_dir, rank, world, log)
    if isinstance(config, GeneratorTrainConfig):
        from toolkit.generator.train import GeneratorTask

        return GeneratorTask(config, run_dir, rank, world, log, device)
    raise ToolkitError(
        f"No training task for config {type(config).__name__}.", "Use model expression, motion or generator."
    )


__all__ = ["DEFAULT_VAL_GROUPS", "SAMPLES_PER_FRAME", "ExpressionTask", "MotionTask", "make_task"]
