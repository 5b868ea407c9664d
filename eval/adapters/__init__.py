"""The suite's adapters around the toolkit: each module turns a part of ``toolkit`` into benchmark methods.

The dependency runs one way: these modules import ``toolkit``; nothing in ``toolkit`` imports ``eval``
(tests/test_dependencies.py checks it). Each module has ``methods() -> {name: factory}``, and
:data:`eval.methods.METHOD_MODULES` lists the modules (the explicit registry):

* :mod:`eval.adapters.warp3d`: ``3d-warp`` (the 3D-aware module alone, reference motion replayed);
* :mod:`eval.adapters.pipeline`: ``pipeline``, ``pipeline-single-image``, ``ours``/``ours-landmark``,
  ``3d-warp-audio``/``3d-warp-landmark`` and the generator ablations.
"""
