"""The one generation pipeline used by the CLI, the app and the notebooks.

from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline
result = TalkingHeadPipeline(GenerationConfig(k=8)).generate("ref.mp4", "speech.wav", "out.mp4")
"""

from toolkit.pipeline.config import GenerationConfig
from toolkit.pipeline.pipeline import GenerationResult, TalkingHeadPipeline, generate
from toolkit.pipeline.progress import STAGES, ProgressEvent

__all__ = ["STAGES", "GenerationConfig", "GenerationResult", "ProgressEvent", "TalkingHeadPipeline", "generate"]
