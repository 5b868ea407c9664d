"""The ``toolkit`` command line.

Each area of the toolkit contributes its own subcommands through a small
``register(subparsers)`` function in its ``cli`` module, so this file never has
to know the options of every stage. ``toolkit train <model>`` is shared: areas
that train models add their model to the ``train`` group with
``register_train(train_subparsers)``.

Every command maps a :class:`toolkit.errors.ToolkitError` to a one-paragraph
message and exit status 2; no traceback is shown for problems the user can fix.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from toolkit.errors import ToolkitError

#: modules that may provide ``register(subparsers)`` and/or ``register_train(train_subparsers)``
COMMAND_MODULES: tuple[str, ...] = (
    "toolkit.data.cli",  # preprocess
    "toolkit.viz.cli",  # plot-motion
    "toolkit.demo",  # demo
    "toolkit.render.cli",  # render demos (3D-aware module)
    "toolkit.learners.cli",  # train expression|motion
    "toolkit.generator.cli",  # train generator
    "toolkit.pipeline.cli",  # generate
    "eval.cli",  # benchmark make, evaluate, leaderboard
    "eval.survey.cli",  # survey build|serve|aggregate|export
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolkit",
        description="Talking-head generation with rhythmic head motion (Chen et al., ECCV 2020): "
        "preprocessing, training, generation and evaluation.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="train a model (expression, motion, generator)")
    train_sub = train.add_subparsers(dest="model", metavar="MODEL")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # only the module itself being absent is tolerated (an area not built yet);
            # a missing dependency inside it is a real error and must surface
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        if hasattr(module, "register"):
            module.register(sub)
        if hasattr(module, "register_train"):
            module.register_train(train_sub)
    return parser


#: one-shot commands whose process ends with their work: run from the shell, they skip the
#: interpreter's teardown (1-2 s on the 2-core machine: freeing torch, MediaPipe and numba)
FAST_EXIT_COMMANDS: frozenset[str] = frozenset({"generate", "demo"})


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        # `toolkit` or `toolkit train` alone: show the relevant help
        if args.command == "train":
            parser.parse_args(["train", "--help"])
        parser.print_help()
        return 1
    try:
        code = int(handler(args) or 0)
    except ToolkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    if argv is None and args.command in FAST_EXIT_COMMANDS:  # the console script, not a caller in Python
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process at once: outputs are written and closed, only the interpreter's teardown is skipped."""
    import logging

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
