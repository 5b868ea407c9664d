"""Benchmarking suite: metrics, frozen benchmark files, the runner and leaderboards (docs/EVALUATION.md)."""
