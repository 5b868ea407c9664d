"""The metric definitions the learners validate with and the benchmarking suite reports (pure functions on arrays).

They live in ``toolkit`` because training uses them too, and the dependency runs one way (``eval`` imports
``toolkit``, never the reverse); :mod:`eval.metrics` re-exports them beside the suite's image metrics.

- :mod:`toolkit.metrics.lmd`: landmark distances LMD (author), M-LMD, F-LMD
- :mod:`toolkit.metrics.head_motion`: pose diversity and beat alignment (the field's definitions)
- :mod:`toolkit.metrics.lipsync`: lip sync without SyncNet (mouth-opening correlation, closures, visemes)
"""
