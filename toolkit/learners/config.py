"""Typed training configurations, loaded from YAML (``configs/*.yaml``).

One dataclass tree per model; the YAML file mirrors it key for key, read by the
one config loader :mod:`toolkit.config` (unknown keys are errors; command-line
overrides use dotted keys, ``--set optim.steps=200``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.config import apply_overrides, dataclass_from_dict, read_yaml_mapping
from toolkit.errors import ToolkitError
from toolkit.learners.expression import ExpressionNetConfig
from toolkit.learners.motion import MotionNetConfig


@dataclass
class LearnerDataConfig:
    #: folder written by `toolkit preprocess` (manifest.json + clips/)
    data: str = ""
    #: speakers held out for validation (see toolkit/learners/split.py); empty = hash rule
    val_speakers: list[str] = field(default_factory=list)
    #: fraction of speakers held out by the hash rule when val_speakers is empty
    val_fraction: float = 0.2
    #: frames of the reference clip at validation (paper: tau = 64)
    tau: int = 64
    #: longest driving part scored per validation clip (frames)
    val_max_frames: int = 500
    #: re-align training clips whose mouth opening and speech energy peak at a clear offset
    #: (data.estimate_av_offset; up to this many frames; 0 = off). Validation clips are never shifted.
    sync_correction_max_frames: int = 8
    #: a JSON file of measured offsets ({"offsets": {clip_id: lag frames}, "drop": [clip_id, ...]}, written by
    #: scripts/expression_av_offsets.py): when set, training clips are re-aligned by these lags instead of the
    #: energy estimate (sync_correction_max_frames is then not used) and the listed "drop" clips give no speech
    #: segments. Validation clips are never shifted. '' = off.
    sync_offsets: str = ""


@dataclass
class OptimConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    #: cosine decay to lr * final_lr_ratio over `steps`
    final_lr_ratio: float = 0.1


@dataclass
class LogConfig:
    log_every: int = 25
    val_every: int = 250
    ckpt_every: int = 250


@dataclass
class NoiseAugConfig:
    #: probability that a training segment gets noise (the rest stay clean)
    probability: float = 0.8
    snr_levels_db: list[float] = field(default_factory=lambda: [float(x) for x in range(6, 31, 3)])
    #: folder of speech recordings used for babble ('' = <shared data>/speech)
    speech_dir: str = ""
    #: random gain of each training segment, +-dB (robustness to recording level)
    gain_db: float = 6.0
    #: babble is built from at most this many speech files (0 = all)
    max_babble_files: int = 0


@dataclass
class ExpressionLossConfig:
    """Weights of Psi's loss terms (v1 used only ``mse``)."""

    mse: float = 1.0
    #: MSE of frame-to-frame differences within a segment (keeps the speed of real lips, not a blur)
    velocity: float = 0.0
    #: |std over the segment of predicted - of real|, per coefficient (no shrinking toward the mean)
    std_match: float = 0.0
    #: L1 of the predicted vs real inner-lip opening (canonical units / its std): closures and wide vowels
    opening: float = 0.0
    #: 1 - Pearson correlation of the predicted and real inner-lip opening over a segment, segments weighted
    #: by the real opening's spread (MOC, the lip-sync score, as a loss: timing, not only size)
    opening_correlation: float = 0.0
    #: compute every term on the prediction smoothed over time as inference smooths it (net.smooth_frames)
    smoothed_prediction: bool = False
    #: auxiliary viseme objective (training only; 0 = off, the training before session 12 exactly): weighted
    #: cross-entropy of a linear viseme classifier on Psi's audio embedding against frame labels from the
    #: phone alignment of the English training clips (toolkit.metrics.lipsync.VISEME_CLASSES; frames without a
    #: label masked out); class weights: frequency ** -viseme_class_power, normalised to a frame mean of 1
    viseme: float = 0.0
    viseme_class_power: float = 0.5


@dataclass
class ExpressionTrainConfig:
    model: str = "expression"
    seed: int = 0
    #: frames per training segment (noise is mixed per segment)
    segment_frames: int = 16
    #: share of segments whose reference identity is one frame (else the mean of 16..tau frames)
    single_reference_probability: float = 0.25
    net: ExpressionNetConfig = field(default_factory=ExpressionNetConfig)
    data: LearnerDataConfig = field(default_factory=LearnerDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    noise: NoiseAugConfig = field(default_factory=NoiseAugConfig)
    loss: ExpressionLossConfig = field(default_factory=ExpressionLossConfig)
    #: Whisper front end: noisy feature tracks precomputed per training clip (each at a random SNR)
    noisy_tracks: int = 1
    #: where the expression PCA artifact is read from ('' = fit on the training split and save in the run folder)
    pca: str = ""
    #: cache folder of the training clips' phone alignments for loss.viseme ('' = <TOOLKIT_CACHE>/visemes)
    viseme_cache: str = ""


@dataclass
class MotionLossConfig:
    reconstruction: float = 1.0
    #: |std_t(pred) - std_t(real)| per coefficient (what the mean/std discriminator judges, made explicit)
    std_match: float = 1.0
    #: |std_t(velocity pred) - std_t(velocity real)|: keeps the motion as smooth/lively as real motion
    velocity_match: float = 0.5
    adversarial: float = 0.05
    #: Phi v2: |mean |first difference| (pred) - (real)| per coefficient: as fast as real motion, not faster
    speed_match: float = 0.0
    #: Phi v2: the same for the second difference (acceleration): no frame-to-frame jitter
    acceleration_match: float = 0.0
    #: Phi v2: |share of spectral power above 3 Hz (pred) - (real)| per coefficient
    spectrum_match: float = 0.0
    #: Phi v3: |share of spectral power in each band of MOTION_BANDS_HZ (pred) - (real)|, summed over bands,
    #: mean over coefficients: the shape of the spectrum (slow drift, not an even 1-2 Hz sway)
    band_match: float = 0.0
    #: Phi v3: 1 - soft beat alignment: the head's pauses (minima of its angular speed) near audio onsets
    beat_align: float = 0.0
    #: Phi v4: |log band power (pred) - log band power (real)| in each band of MOTION_BANDS_HZ, powers averaged
    #: over the batch, mean over coefficients and bands. Absolute, unlike band_match's shares: a share above
    #: 3 Hz can be too high because the slow drift below 1 Hz is missing, which shares cannot tell apart
    band_power_match: float = 0.0
    #: Phi v4: the L1 reconstruction judges the mean motion (noise input zero) only; the noisy sample is judged
    #: by the statistics losses. The future drift of a head is not predictable from the audio, so an L1 on the
    #: sample pushes the noise path to silence (the slow drift went missing: scripts/motion_hf_sources.py)
    reconstruct_mean: bool = False


@dataclass
class MotionTrainConfig:
    model: str = "motion"
    seed: int = 0
    #: frames predicted per training sequence
    predict_frames: int = 64
    #: Phi v3: with probability long_probability a batch predicts long_predict_frames instead (0 = never), so
    #: the spread, spectrum and drift losses see the slow motion of real heads, not only 2.6 s windows
    long_predict_frames: int = 0
    long_probability: float = 0.0
    #: sequences in a long batch (0 = optim.batch_size); fewer keeps a step's cost about the same
    long_batch_size: int = 0
    #: probability that a batch uses the full tau (else tau is drawn from 1..tau-1)
    full_tau_probability: float = 0.6
    #: probability that a batch uses tau = 1 (a single photo: the learned prior), taken out of the short-tau
    #: share. 0 (v3) leaves tau = 1 to the uniform draw: (1 - 0.6) / 63 = 0.6 % of the batches, about six of
    #: 1000 steps, so the single-image prior was barely trained
    single_tau_probability: float = 0.0
    #: use clips without audio (silent/) for motion; their audio input is silence
    use_silent_clips: bool = True
    net: MotionNetConfig = field(default_factory=MotionNetConfig)
    data: LearnerDataConfig = field(default_factory=LearnerDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    loss: MotionLossConfig = field(default_factory=MotionLossConfig)
    disc_lr: float = 1e-4


TrainConfig = ExpressionTrainConfig | MotionTrainConfig
CONFIG_CLASSES: dict[str, type] = {"expression": ExpressionTrainConfig, "motion": MotionTrainConfig}


def load_config(
    model: str, path: str | Path | None = None, overrides: list[str] | None = None, data: str | None = None
) -> TrainConfig:
    """Defaults <- YAML file (if any) <- overrides <- ``data`` folder; validated into the model's dataclass."""
    if model not in CONFIG_CLASSES:
        raise ToolkitError(f"Unknown model '{model}'.", f"Choose one of {', '.join(CONFIG_CLASSES)}.")
    d = read_yaml_mapping(path, f"configs/{model}.yaml") if path is not None else {}
    d = apply_overrides(d, overrides or [])
    if data is not None:
        d.setdefault("data", {})["data"] = str(data)
    d.setdefault("model", model)
    if d["model"] != model:
        raise ToolkitError(
            f"Config file {path} is for model '{d['model']}', not '{model}'.", f"Use configs/{model}.yaml."
        )
    return dataclass_from_dict(CONFIG_CLASSES[model], d)
