"""The few-shot head motion learner Phi (paper Sec. 3.3, Appendix A.1).

    h_{tau+1:T} = Phi(f(h_{1:tau}, x_{1:tau}), x_{tau+1:T})

* **encoder f** (hypernetwork): the reference motion h_{1:tau} and the audio
  features of x_{1:tau} go through two temporal convolutions, are pooled over
  time (mean and standard deviation, so any tau >= 1 works), joined with the
  reference's own motion statistics, and an MLP turns the result into the
  weights W (6 x 256) and bias b (6) of a linear layer. The MLP's output bias
  holds a base layer (initialised like a normal linear layer); its weights
  start small, so training starts from a plain network and learns how much
  each reference bends it.
* **extrapolator**: the stacked windows x_{t-3:t+4} of the driving audio
  (T - tau, 7, 640) -> the fixed log-mel front end -> **two 2D convolutions**
  -> flatten -> **a 1D temporal convolution** -> (T - tau, 256), then
  residual dilated temporal convolution blocks ("several temporal
  convolutional blocks", Sec. 3.3) that give each frame about 2.6 s of audio
  context, and finally the **dynamic linear layer** {W, b} from f, frame by
  frame -> h_t. A per-frame Gaussian noise input (seeded) lets the model
  produce different plausible motions for the same audio.
* **discriminator D**: the mean and standard deviation over time of a motion
  sequence (12 numbers, motion relative to the reference mean, normalised) ->
  MLP -> a real/fake score. Trained as a least-squares GAN.

Choices where the paper is silent (Fig. 12 is not in the text):

* the network predicts motion *relative to the mean reference pose*, in units
  of the training set's per-coefficient standard deviation; the mean pose is
  added back, so a person keeps their own head position and orientation.
* **calibration on the reference** (few-shot): the dynamic linear layer is
  also applied to the reference frames' audio features, where the true motion
  relative to the reference mean averages to zero; its average output there
  is subtracted from every predicted frame (the bias b cancels). Without it
  the first model drifted: for unseen people it predicted a constant pose
  offset (up to 16 px) that no audio supports.
* **continuity**: the first predicted frames are pulled towards the last
  reference pose with an exponential decay (``anchor_frames`` = 12 frames,
  0.5 s), so generated motion starts where the reference ends instead of
  jumping. This is applied inside ``forward`` in training and inference alike.
* **start warm-up** (inference, ``warmup_frames``): in training every audio window holds the clip's real
  audio; at inference the driving audio starts at frame 0, and zeros in front of it read as a speech onset
  after silence, to which Phi answered with a 3.5-5 degree upward pitch over the first frames; anchored to that
  first frame this became a nod at the start of every video. The network now first runs over the first
  frames of the driving audio (and noise) mirrored in time, and that output is dropped. The same at the
  end: zeros after the last frame moved the last ~15 frames by about a degree (pitch up); the last frames
  mirrored after the end run through the network and are dropped (the same ``warmup_frames``).
* **short references**: the encoder was trained with tau drawn from 1..64, so
  any tau works. **A single image (tau = 1)** gives a reference without motion
  statistics: the rule is the *learned prior*: the hypernetwork then produces
  the population-average motion style for that audio, centred on the image's
  pose (no motion is copied from anywhere; the amplitude is what the training
  set taught for an unknown person). The encoder's amplitude input is the std
  of the reference motion, 0 for one frame ("a person who never moves"), so v3's
  prior hardly moved; with ``prior_amplitude_frames`` (checkpoints/motion_photo_prior)
  references shorter than that get the training split's typical amplitude;
  ``prior_drift_gain`` also multiplies their slow drift noise (the amplitude alone
  scales the audio path's 1-3 Hz sway first, so velocity outgrows spread).
* audio for the reference may be absent (``ref_audio=None``: silence), e.g.
  a silent reference video.

Inference API::

    learner = MotionLearner.load("checkpoints/motion")
    motion = learner.predict(ref_motion, ref_audio, driving_audio, seed=0)   # (T, 6)

``ref_motion`` is (tau, 6) head motion h_t of the reference frames
(axis-angle rotation in radians, then translation in pixels of a 256 px face
crop made by ``toolkit preprocess``), ``ref_audio`` the reference's 16 kHz
audio (tau * 640 samples) or None, ``driving_audio`` 16 kHz mono; T =
ceil(len(driving_audio) / 640). Same inputs and seed -> the same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError
from toolkit.learners.frontend import N_MEL_FRAMES, N_MELS, LogMel, normalise_loudness

KIND = "motion-learner"
MOTION_DIM = 6
#: ``reference_drift_match``: the per-reference drift gain is clamped to this range (fixed before any measurement:
#: never below the trained gain 1, at most twice the photo's shipped ``prior_drift_gain`` of 2)
DRIFT_MATCH_GAIN_RANGE = (1.0, 4.0)


@dataclass
class MotionNetConfig:
    stem_channels_1: int = 8
    stem_channels_2: int = 8
    feature_dim: int = 256  # the paper's (T - tau, 256)
    block_dim: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    noise_dim: int = 8
    reference_dim: int = 128
    encoder_dim: int = 128
    anchor_frames: float = 12.0
    #: subtract the dynamic layer's mean output on the reference audio (see module doc)
    calibrate_on_reference: bool = True
    disc_hidden: int = 64
    #: Phi v2: the noise input is smoothed over time by a Gaussian of this many frames (sigma, unit variance
    #: kept), so different seeds give different slow motions instead of frame-to-frame jitter (0 = v1: white)
    noise_smooth_frames: float = 0.0
    #: Phi v2 temporal decoder: a learned per-coefficient temporal convolution of this many taps on the
    #: output, initialised as a Gaussian low-pass (sigma = taps / 6) and trained with the velocity,
    #: acceleration and spectrum losses (0 = v1: every frame's output independent of its neighbours')
    decoder_taps: int = 0
    #: Phi v3: the second half of the noise channels is smoothed with this sigma (frames) instead, a slow
    #: source for the drift of real heads (v2's single 4-frame scale gave an even 1-2 Hz sway; 0 = off)
    noise_drift_frames: float = 0.0
    #: calibrate on the reference only when it has at least this many frames (1 = always, as trained). Set to 2
    #: for Phi v3 after training: from a single frame its calibration offset (one frame, usually of silence)
    #: put the prior's head off the photo's pose (validation: 12.7 deg / 10.8 px from the truth, 10.0 / 7.0
    #: without it)
    calibrate_min_frames: int = 1
    #: Phi v4: a reference shorter than this many frames does not say how much the person moves (the std of one
    #: frame is 0, "a still person"): the encoder is given the training set's typical reference amplitude
    #: instead (buffer ``prior_amplitude``), so a single photo gets the population's motion, not a frozen head
    #: (0 = v3: the reference's own std for every tau)
    prior_amplitude_frames: int = 0
    #: a reference shorter than ``prior_amplitude_frames`` (a photo) also gets its slow drift noise channels
    #: (``noise_drift_frames``) multiplied by this gain (1 = as trained). The prior amplitude alone scales every
    #: band of the motion alike, and a photo's prior lacks the slow drift that holds most of a real head's
    #: rotation power (its 1-3 Hz sway comes from the audio path, its drift from the noise path:
    #: scripts/motion_hf_sources.py), so raising the amplitude to the real spread overshoots the velocity;
    #: the gain raises the drift alone. Chosen on held-out training people (scripts/motion_dev_amplitude.py)
    prior_drift_gain: float = 1.0
    #: inference only: the network first runs over this many warm-up frames before the driving audio's first
    #: frame, fed the first frames of the driving audio (and of the seeded noise) mirrored in time, and their
    #: output is dropped (0 = as before: the audio windows x_{t-3:t} of the first frames are zeros). In
    #: training every window holds the clip's real audio, so zeros in front of the first frame read as a
    #: speech onset after silence, and Phi's raw output pitched the head up by 3.5-5 degrees over the first
    #: frames; the start anchor (fitted to that first frame) turned it into a nod in every video
    #: (scripts/motion_start_transient.py). The same at the end: the last ``warmup_frames`` frames mirrored
    #: after the driving audio's end run through the network and are dropped (zeros after the end moved the
    #: last ~15 frames by about a degree). 32 = the temporal blocks' one-sided receptive field (symmetric)
    warmup_frames: int = 0
    #: inference only: a reference of at least ``prior_amplitude_frames`` frames (a video; every reference when
    #: that is 0) gives the encoder its own amplitude (std over the reference, in units of ``motion_std``) times
    #: this, as a photo's prior amplitude is the training split's median times a scale (the rendered benchmark's
    #: spread ran below Phi's own: eval/benchmarks/results/motion_s12/README.md). Chosen on a rendered benchmark
    #: of held-out training people (scripts/motion_dev_bench.py); 1 = the reference's own amplitude, as before
    reference_amplitude_scale: float = 1.0
    #: inference only: a reference of at least ``prior_amplitude_frames`` frames (a video) gets its slow drift
    #: noise channels multiplied by a gain computed for that reference, so that the generated rotation spread
    #: (std over tau-frame windows, the reference's own length) equals the reference's spread over its tau
    #: frames (target ratio 1; gain clamped to ``DRIFT_MATCH_GAIN_RANGE``). Phi's amplitude follows the
    #: reference's only weakly (rendered log-log slope 0.40 on dev people), the drift channels add spread with
    #: little velocity (``prior_drift_gain``). Three passes of Phi (gain 0 and 1 in one batch, then the gain):
    #: ``MotionLearner.predict``. False = as before, bit for bit
    reference_drift_match: bool = False


def _out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class AudioSequenceStem(nn.Module):
    """(B, L, 7, 640) stacked windows -> (B, feature_dim, L): two 2D convs, flatten, one 1D temporal conv."""

    def __init__(self, c1: int, c2: int, feature_dim: int) -> None:
        super().__init__()
        self.logmel = LogMel()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=5, stride=(2, 2), padding=2)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, stride=(4, 4), padding=2)
        h = _out(_out(N_MELS, 5, 2, 2), 5, 4, 2)
        w = _out(_out(N_MEL_FRAMES, 5, 2, 2), 5, 4, 2)
        self.temporal = nn.Conv1d(c2 * h * w, feature_dim, kernel_size=3, padding=1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """``windows``: (B, L, 7, 640) raw audio windows, or their log-mel (B, L, N_MELS, N_MEL_FRAMES) computed
        beforehand by ``self.logmel`` (training caches it per clip: the front end is fixed)."""
        b, length = windows.shape[:2]
        logmel = windows if tuple(windows.shape[2:]) == (N_MELS, N_MEL_FRAMES) else self.logmel(windows)
        x = logmel.reshape(b * length, 1, N_MELS, N_MEL_FRAMES)
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        x = x.reshape(b, length, -1).transpose(1, 2)  # (B, C*H*W, L)
        return F.leaky_relu(self.temporal(x), 0.2)


class TemporalBlock(nn.Module):
    """Residual bottleneck block with a dilated temporal convolution."""

    def __init__(self, dim: int, inner: int, dilation: int) -> None:
        super().__init__()
        self.down = nn.Conv1d(dim, inner, 1)
        self.conv = nn.Conv1d(inner, inner, 3, padding=dilation, dilation=dilation)
        self.up = nn.Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.down(x), 0.2)
        y = F.leaky_relu(self.conv(y), 0.2)
        return x + self.up(y)


class MotionEncoder(nn.Module):
    """f(h_{1:tau}, x_{1:tau}) -> weights (6 x F) and bias (6) of the dynamic linear layer."""

    def __init__(self, config: MotionNetConfig) -> None:
        super().__init__()
        c = config
        self.conv1 = nn.Conv1d(MOTION_DIM + c.feature_dim, c.encoder_dim, 3, padding=1)
        self.conv2 = nn.Conv1d(c.encoder_dim, c.encoder_dim, 3, padding=1)
        # pooled mean + std of the features, plus reference pose and log amplitude (6 + 6)
        self.mlp = nn.Sequential(
            nn.Linear(2 * c.encoder_dim + 2 * MOTION_DIM, c.reference_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(c.reference_dim, c.reference_dim),
            nn.LeakyReLU(0.2),
        )
        n_out = MOTION_DIM * c.feature_dim + MOTION_DIM
        self.hyper = nn.Linear(c.reference_dim, n_out)
        # base layer in the bias, small reference-dependent modulation at start
        base = nn.Linear(c.feature_dim, MOTION_DIM)
        with torch.no_grad():
            self.hyper.weight.mul_(0.1)
            self.hyper.bias.copy_(torch.cat([base.weight.reshape(-1), base.bias]))
        self.feature_dim = c.feature_dim

    def forward(
        self, motion_rel: torch.Tensor, audio_feat: torch.Tensor, pose: torch.Tensor, log_amp: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """motion_rel (B, tau, 6), audio_feat (B, F, tau), pose/log_amp (B, 6) -> W (B,6,F), b (B,6), r (B,R)."""
        x = torch.cat([motion_rel.transpose(1, 2), audio_feat], dim=1)
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        mean = x.mean(dim=2)
        std = x.std(dim=2, unbiased=False) if x.shape[2] > 1 else torch.zeros_like(mean)
        r = self.mlp(torch.cat([mean, std, pose, log_amp], dim=1))
        out = self.hyper(r)
        w = out[:, : MOTION_DIM * self.feature_dim].reshape(-1, MOTION_DIM, self.feature_dim)
        b = out[:, MOTION_DIM * self.feature_dim :]
        return w, b, r


class MotionDiscriminator(nn.Module):
    """Mean and std over time of a (relative, normalised) motion sequence -> real/fake score."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * MOTION_DIM, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    @staticmethod
    def statistics(motion: torch.Tensor) -> torch.Tensor:
        """(B, L, 6) -> (B, 12): mean and standard deviation over time."""
        return torch.cat([motion.mean(dim=1), motion.std(dim=1, unbiased=False)], dim=1)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.net(stats).squeeze(1)


def gaussian_kernel(sigma: float, taps: int) -> torch.Tensor:
    """(taps,) normalised Gaussian (sum 1) centred on the middle tap."""
    t = torch.arange(taps, dtype=torch.float32) - (taps - 1) / 2.0
    k = torch.exp(-0.5 * (t / max(sigma, 1e-3)) ** 2)
    return k / k.sum()


def smooth_noise(noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, L) white noise -> temporally correlated noise with unit variance per frame (Gaussian of sigma)."""
    if sigma <= 0:
        return noise
    half = int(math.ceil(3 * sigma))
    k = gaussian_kernel(sigma, 2 * half + 1).to(noise)
    k = k / k.square().sum().sqrt()  # unit variance of the output
    c = noise.shape[1]
    padded = F.pad(noise, (half, half), mode="reflect") if noise.shape[2] > half else F.pad(noise, (half, half))
    return F.conv1d(padded, k.expand(c, 1, -1).contiguous(), groups=c)


class TemporalDecoder(nn.Module):
    """Learned per-coefficient temporal convolution of the (B, L, 6) output (edges: replicate)."""

    def __init__(self, taps: int) -> None:
        super().__init__()
        self.taps = taps
        self.conv = nn.Conv1d(MOTION_DIM, MOTION_DIM, taps, groups=MOTION_DIM, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(gaussian_kernel(taps / 6.0, taps).expand(MOTION_DIM, 1, -1))

    def forward(self, rel: torch.Tensor) -> torch.Tensor:
        half = self.taps // 2
        x = F.pad(rel.transpose(1, 2), (half, self.taps - 1 - half), mode="replicate")
        return self.conv(x).transpose(1, 2)


class MotionNet(nn.Module):
    """Phi: encoder f + extrapolator (the generator); the discriminator lives beside it."""

    def __init__(self, config: MotionNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.stem = AudioSequenceStem(c.stem_channels_1, c.stem_channels_2, c.feature_dim)
        self.noise_in = nn.Conv1d(c.noise_dim, c.feature_dim, 1)
        self.blocks = nn.Sequential(*[TemporalBlock(c.feature_dim, c.block_dim, d) for d in c.dilations])
        self.encoder = MotionEncoder(c)
        self.decoder = TemporalDecoder(c.decoder_taps) if c.decoder_taps > 1 else None
        # motion statistics of the training set, stored with the weights:
        # motion_mean / pose_std: mean and spread of the clips' mean poses (the encoder's pose input);
        # motion_std: pooled within-clip std per coefficient (the unit of the relative motion)
        self.register_buffer("motion_mean", torch.zeros(MOTION_DIM))
        self.register_buffer("pose_std", torch.ones(MOTION_DIM))
        self.register_buffer("motion_std", torch.ones(MOTION_DIM))
        if c.prior_amplitude_frames > 0:
            # typical std of a full reference (tau frames) in units of motion_std: the amplitude of "anyone"
            self.register_buffer("prior_amplitude", torch.full((MOTION_DIM,), 0.5))

    def set_statistics(self, mean: np.ndarray, pose_std: np.ndarray, motion_std: np.ndarray) -> None:
        self.motion_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32)))
        self.pose_std.copy_(torch.as_tensor(np.maximum(np.asarray(pose_std, np.float32), 1e-6)))
        self.motion_std.copy_(torch.as_tensor(np.maximum(np.asarray(motion_std, np.float32), 1e-6)))

    def shape_noise(self, noise: torch.Tensor, drift_gain: float | torch.Tensor = 1.0) -> torch.Tensor:
        """(B, noise_dim, L) white noise -> the network's temporally correlated noise input (module doc);
        ``drift_gain`` multiplies the slow drift channels (``prior_drift_gain`` for a photo, the matched gain of
        ``reference_drift_match`` for a video): a number, or a (B,) tensor of one gain per batch item."""
        c = self.config
        if c.noise_drift_frames <= 0:
            return smooth_noise(noise, c.noise_smooth_frames)
        if isinstance(drift_gain, torch.Tensor):
            drift_gain = drift_gain.to(noise.dtype).reshape(-1, 1, 1)
        half = c.noise_dim // 2
        fast = smooth_noise(noise[:, :half], c.noise_smooth_frames)
        return torch.cat([fast, drift_gain * smooth_noise(noise[:, half:], c.noise_drift_frames)], dim=1)

    def is_short_reference(self, tau: int) -> bool:
        """A reference too short to show how the person moves (a photo): it gets the prior amplitude and gain."""
        return tau < self.config.prior_amplitude_frames

    def reference_code(
        self, ref_motion: torch.Tensor, ref_windows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """ref_motion (B, tau, 6), ref_windows (B, tau, 7, 640) ->
        W (B, 6, F), b (B, 6), reference code r, mean reference pose (B, 6), reference audio features (B, F, tau)."""
        ref_mean = ref_motion.mean(dim=1)
        rel = (ref_motion - ref_mean[:, None]) / self.motion_std
        pose = (ref_mean - self.motion_mean) / self.pose_std
        std = rel.std(dim=1, unbiased=False) if rel.shape[1] > 1 else torch.zeros_like(pose)
        if self.is_short_reference(rel.shape[1]):
            std = self.prior_amplitude.expand_as(pose)
        elif self.config.reference_amplitude_scale != 1.0:
            std = std * self.config.reference_amplitude_scale
        log_amp = torch.log(std + 0.05)
        ref_stem = self.stem(ref_windows)
        w, b, r = self.encoder(rel, ref_stem, pose, log_amp)
        return w, b, r, ref_mean, ref_stem

    def forward(
        self,
        ref_motion: torch.Tensor,
        ref_windows: torch.Tensor,
        driving_windows: torch.Tensor,
        noise: torch.Tensor | None = None,
        warmup: int = 0,
        drift_gain: float | torch.Tensor | None = None,
        driving_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (motion (B, L, 6) in input units, relative normalised motion (B, L, 6) for the losses).

        ``noise``: (B, noise_dim, L) standard normal; None = zeros (the mean motion). ``warmup``: the first
        and the last ``warmup`` frames of ``driving_windows`` and ``noise`` are context (``warmup_frames``,
        ``_with_warmup``): they run through the network and are dropped before the calibration and the start
        anchor (L counts the rest).
        ``drift_gain``: the slow drift channels' gain (``shape_noise``); None = ``prior_drift_gain`` for a short
        reference, 1 otherwise. ``driving_features``: ``self.stem(driving_windows)`` when already computed (the
        drift matching runs Phi three times on the same audio; the stem is most of Phi's cost).
        """
        w, b, _, ref_mean, ref_stem = self.reference_code(ref_motion, ref_windows)
        feat = self.stem(driving_windows) if driving_features is None else driving_features  # (B, F, L)
        if noise is None:
            noise = torch.zeros(feat.shape[0], self.config.noise_dim, feat.shape[2], device=feat.device)
        if drift_gain is None:
            drift_gain = self.config.prior_drift_gain if self.is_short_reference(ref_motion.shape[1]) else 1.0
        noise = self.shape_noise(noise, drift_gain)
        feat = self.blocks(feat + self.noise_in(noise))  # (B, F, L)
        rel = torch.einsum("bof,bfl->blo", w, feat) + b[:, None, :]  # dynamic linear layer, frame by frame
        if self.decoder is not None:
            rel = self.decoder(rel)
        rel = rel[:, warmup : rel.shape[1] - warmup]
        if self.config.calibrate_on_reference and ref_motion.shape[1] >= self.config.calibrate_min_frames:
            # the same layer on the reference audio: there the true relative motion averages to zero,
            # so its average output is a constant offset for this person; remove it (b cancels)
            quiet = torch.zeros(ref_stem.shape[0], self.config.noise_dim, ref_stem.shape[2], device=feat.device)
            ref_feat = self.blocks(ref_stem + self.noise_in(quiet))
            ref_rel = torch.einsum("bof,bfl->blo", w, ref_feat) + b[:, None, :]
            if self.decoder is not None:
                ref_rel = self.decoder(ref_rel)
            rel = rel - ref_rel.mean(dim=1, keepdim=True)
        if self.config.anchor_frames > 0:
            last = (ref_motion[:, -1] - ref_mean) / self.motion_std  # (B, 6)
            t = torch.arange(rel.shape[1], device=rel.device, dtype=rel.dtype)
            decay = torch.exp(-(t + 1.0) / self.config.anchor_frames)[None, :, None]
            rel = rel + (last[:, None, :] - rel[:, :1].detach()) * decay
        return ref_mean[:, None, :] + rel * self.motion_std, rel


def _audio_windows(audio: np.ndarray, n_frames: int) -> np.ndarray:
    from toolkit.audio.features import audio_windows

    return np.array(audio_windows(audio, n_frames), np.float32)  # a writable copy for torch


def _with_warmup(audio: np.ndarray, n_frames: int, warmup: int) -> tuple[np.ndarray, int]:
    """The driving audio cut / padded to ``n_frames`` frames, preceded by its first ``warmup`` frames and
    followed by its last ``warmup`` frames, each mirrored in time (``MotionNetConfig.warmup_frames``)
    -> (audio, frames): real speech as context on both sides, not silence."""
    from toolkit.audio.features import fit_to_frames

    if warmup <= 0:
        return audio, n_frames
    audio = fit_to_frames(audio, n_frames)
    k = warmup * SAMPLES_PER_FRAME
    return np.concatenate([audio[:k][::-1], audio, audio[-k:][::-1]]), n_frames + 2 * warmup


def _noise_with_warmup(noise: torch.Tensor, warmup: int) -> torch.Tensor:
    """(B, C, L) noise with its first and last ``warmup`` frames mirrored in front and after, as the audio
    (``_with_warmup``)."""
    if warmup <= 0:
        return noise
    return torch.cat([noise[:, :, :warmup].flip(2), noise, noise[:, :, -warmup:].flip(2)], dim=2)


def windowed_rotation_spread(motion: np.ndarray, window: int) -> float:
    """Rotation spread of (T, 6) motion as the benchmark measures it (std over time per rotation axis, mean over
    axes; ``toolkit.metrics.head_motion.pose_diversity``, in the motion's units), averaged over the consecutive
    full windows of ``window`` frames (the whole motion when it is shorter)."""
    rot = np.asarray(motion, np.float64)[:, :3]
    n = len(rot) // window if window >= 2 else 0
    chunks = [rot[i * window : (i + 1) * window] for i in range(n)] if n >= 1 else [rot]
    return float(np.mean([c.std(axis=0).mean() for c in chunks]))


def matched_drift_gain(reference: float, spread_0: float, spread_1: float) -> float:
    """The drift gain g whose motion has the reference's spread, from the spreads at g = 0 and g = 1, with the
    drift adding variance: spread(g)^2 = spread_0^2 + g^2 (spread_1^2 - spread_0^2); clamped to
    ``DRIFT_MATCH_GAIN_RANGE`` (the upper end when the drift adds no variance and the reference moves more)."""
    low, high = DRIFT_MATCH_GAIN_RANGE
    if reference <= spread_1:
        return low
    drift = spread_1**2 - spread_0**2
    if drift <= 1e-12:
        return high
    return float(min(max(math.sqrt(max(reference**2 - spread_0**2, 0.0) / drift), low), high))


class MotionLearner:
    """Inference wrapper around a trained Phi."""

    def __init__(self, net: MotionNet, info: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.info = info or {}
        #: the drift gain ``reference_drift_match`` chose in the last ``predict`` (None: the option did not apply)
        self.last_drift_gain: float | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> MotionLearner:
        """Load a checkpoint folder (or its ``model.safetensors``); default: the shipped one."""
        from toolkit.config import dataclass_from_dict
        from toolkit.io.checkpoint import load_model
        from toolkit.paths import checkpoints_dir

        path = Path(path) if path is not None else checkpoints_dir() / "motion"
        tensors, meta = load_model(path, KIND)
        net = MotionNet(dataclass_from_dict(MotionNetConfig, meta["net"]))
        net.load_state_dict(tensors, strict=True)
        return cls(net, meta)

    @torch.no_grad()
    def predict(
        self,
        ref_motion: np.ndarray,
        ref_audio: np.ndarray | None,
        driving_audio: np.ndarray,
        seed: int = 0,
        n_frames: int | None = None,
        stochastic: bool = True,
    ) -> np.ndarray:
        """(T, 6) head motion for the driving audio; see the module docstring for units."""
        ref = np.asarray(ref_motion, np.float32)
        if ref.ndim != 2 or ref.shape[1] != MOTION_DIM or ref.shape[0] < 1:
            raise ToolkitError(
                f"Reference motion must have shape (tau, 6) with tau >= 1, got {ref.shape}.",
                "Pass record.head_motion[:tau] (rotation axis-angle + translation).",
            )
        if not np.all(np.isfinite(ref)):
            raise ToolkitError("Reference motion contains NaN or infinite values.", "Check the tracking.")
        tau = ref.shape[0]
        drive = np.asarray(driving_audio, np.float32)
        if drive.ndim != 1 or drive.size < SAMPLES_PER_FRAME:
            raise ToolkitError(
                f"Driving audio must be 1-D with at least {SAMPLES_PER_FRAME} samples (one frame), "
                f"got shape {drive.shape}.",
                "Give 16 kHz mono audio of at least 40 ms.",
            )
        if n_frames is None:
            n_frames = int(np.ceil(drive.size / SAMPLES_PER_FRAME))
        if ref_audio is None:
            ref_audio = np.zeros(tau * SAMPLES_PER_FRAME, np.float32)
        ref_audio = np.asarray(ref_audio, np.float32)
        if ref_audio.ndim != 1:
            raise ToolkitError(f"Reference audio must be 1-D, got shape {ref_audio.shape}.", "Pass mono audio.")
        ref_w = torch.from_numpy(_audio_windows(normalise_loudness(ref_audio), tau))[None]
        warmup = min(self.net.config.warmup_frames, n_frames)
        drv_w = torch.from_numpy(_audio_windows(*_with_warmup(normalise_loudness(drive), n_frames, warmup)))[None]
        noise = None
        if stochastic:
            g = torch.Generator().manual_seed(int(seed))
            noise = torch.randn(1, self.net.config.noise_dim, n_frames, generator=g)
            noise = _noise_with_warmup(noise, warmup)
        ref_t = torch.from_numpy(ref)[None]
        self.last_drift_gain = None
        c = self.net.config
        matched = c.reference_drift_match and c.noise_drift_frames > 0 and tau >= 2
        if noise is not None and matched and not self.net.is_short_reference(tau):
            return self._predict_drift_matched(ref_t, ref_w, drv_w, noise, warmup)
        motion, _ = self.net(ref_t, ref_w, drv_w, noise, warmup=warmup)
        return motion[0].numpy()

    def _predict_drift_matched(
        self, ref: torch.Tensor, ref_w: torch.Tensor, drv_w: torch.Tensor, noise: torch.Tensor, warmup: int
    ) -> np.ndarray:
        """``reference_drift_match``: Phi at drift gain 0 and 1 (one batch), the gain that gives the reference's
        rotation spread (``matched_drift_gain``), and Phi again at that gain (the gain-1 output when it is 1)."""
        tau = ref.shape[1]
        feat = self.net.stem(drv_w)
        both, _ = self.net(
            ref.expand(2, -1, -1), ref_w.expand(2, -1, -1, -1), drv_w.expand(2, -1, -1, -1),
            noise.expand(2, -1, -1), warmup=warmup, drift_gain=torch.tensor([0.0, 1.0]),
            driving_features=feat.expand(2, -1, -1),
        )  # fmt: skip
        spread_0, spread_1 = (windowed_rotation_spread(m.numpy(), tau) for m in both)
        gain = matched_drift_gain(windowed_rotation_spread(ref[0].numpy(), tau), spread_0, spread_1)
        self.last_drift_gain = gain
        if gain == 1.0:
            return both[1].numpy()
        motion, _ = self.net(ref, ref_w, drv_w, noise, warmup=warmup, drift_gain=gain, driving_features=feat)
        return motion[0].numpy()
