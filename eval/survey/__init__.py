"""User studies of talking-head videos (paper Sec. 6 and App. B.4): build, serve, aggregate, export.

``build.py`` (study folder: blind encoding, per-rater plans, attention checks),
``server.py`` (Starlette rater app), ``store.py`` (durable SQLite answers),
``answers.py`` (the one answer validator), ``aggregate.py`` (scores, bootstrap
CIs, A/B tests, reports), ``export.py`` (static package), ``simulate.py``
(simulated raters), ``sources.py`` (method folders and benchmark files),
``encode.py`` / ``anchors.py`` (ffmpeg). See docs/SURVEY.md.
"""
