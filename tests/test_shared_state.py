"""Front ends derive their limits from the config, settings are read when made, caches are per config."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import app
from toolkit.errors import ConfigError, ToolkitError
from toolkit.motion.pose import HeadPose
from toolkit.pipeline import renderers
from toolkit.pipeline.config import K_RANGE, SCALE_RANGE, GenerationConfig


def test_app_settings_read_the_environment_when_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_MAX_SECONDS", "12.5")
    monkeypatch.setenv("APP_CONCURRENCY", "3")
    settings = app.AppSettings()
    assert settings.max_seconds == 12.5 and settings.concurrency == 3
    monkeypatch.setenv("APP_CONCURRENCY", "two")
    with pytest.raises(ToolkitError, match="APP_CONCURRENCY"):
        app.AppSettings()


def test_app_sliders_span_exactly_what_the_config_accepts(tmp_path) -> None:
    demo = app.build_app(app.AppSettings(output_root=tmp_path))
    sliders = {c.label: c for c in demo.blocks.values() if type(c).__name__ == "Slider"}
    assert (sliders["K reference frames"].minimum, sliders["K reference frames"].maximum) == K_RANGE
    for label, field in (("Expression scale", "expression_scale"), ("Head motion scale", "motion_scale")):
        low, high = sliders[label].minimum, sliders[label].maximum
        assert (low, high) == SCALE_RANGE
        GenerationConfig(**{field: high}).validate()
        with pytest.raises(ConfigError):
            GenerationConfig(**{field: high + 0.05}).validate()
    GenerationConfig(k=K_RANGE[1]).validate()
    with pytest.raises(ConfigError):
        GenerationConfig(k=K_RANGE[1] + 1).validate()


def test_generator_loads_once_when_two_jobs_start_together(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    loads: list[str] = []
    gate = threading.Barrier(2)

    def slow_load(path):  # the real load takes seconds: two jobs arriving together both miss the cache
        loads.append(str(path))
        return object()

    import toolkit.generator.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "load_generator", slow_load)
    monkeypatch.setattr(
        renderers, "Warp3DRenderer", lambda ref, config, **_: type("W", (), {"warnings": [], "texture_index": 0})()
    )
    monkeypatch.setattr(renderers, "_generators", {})
    config = GenerationConfig(renderer="generator", generator_checkpoint=str(tmp_path / "g"))
    models = []

    def job() -> None:
        gate.wait()
        models.append(renderers.GeneratorRenderer(None, config).model)  # type: ignore[arg-type]

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and models[0] is models[1]


def test_a_reference_keeps_one_renderer_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.pipeline.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.stages import Reference

    made: list[GenerationConfig] = []

    class Recorder:
        def __init__(self, config: GenerationConfig) -> None:
            made.append(config)

        def render(self, *args):
            return args

    monkeypatch.setattr(renderers, "make_renderer", lambda name, ref, config: Recorder(config))
    monkeypatch.setattr(renderers, "resolve_renderer", lambda config: "3d-warp")
    ref = object.__new__(Reference)
    ref.cache = {}
    ref.frontal_index = 0
    pose, expression = HeadPose.held(np.zeros(3), np.zeros(3), 1.0, 2), np.zeros((2, 68, 3))
    for size in (256, 256, 512):
        TalkingHeadPipeline(GenerationConfig(size=size)).render(ref, pose, expression)
    assert [c.size for c in made] == [256, 512]
