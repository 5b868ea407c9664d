"""The dependency between the two packages runs one way: eval imports toolkit, toolkit never imports eval.

The one documented exception is the plugin point of the ``toolkit`` console script: toolkit/cli.py names the
evaluation suite's command modules in ``COMMAND_MODULES`` and imports them by name when the parser is built.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_POINT = ROOT / "toolkit" / "cli.py"


def _eval_references(path: Path) -> list[str]:
    """Imports of ``eval`` and string constants naming an ``eval`` module (importlib targets) in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and " " not in node.value:
            names = [node.value]
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        found += [f"{where}:{node.lineno}: {n}" for n in names if n == "eval" or n.startswith("eval.")]
    return found


def test_toolkit_never_imports_eval() -> None:
    files = sorted((ROOT / "toolkit").rglob("*.py"))
    assert len(files) > 100  # the whole package was scanned
    offending = [ref for f in files if f != PLUGIN_POINT for ref in _eval_references(f)]
    assert offending == [], "toolkit must not import eval (move the shared code into toolkit):\n" + "\n".join(offending)


def test_the_plugin_point_names_only_command_modules() -> None:
    from toolkit.cli import COMMAND_MODULES

    refs = _eval_references(PLUGIN_POINT)
    named = sorted(r.rsplit(": ", 1)[1] for r in refs)
    assert named == sorted(m for m in COMMAND_MODULES if m.startswith("eval.")) == ["eval.cli", "eval.survey.cli"]


def test_the_scan_finds_an_import_of_eval(tmp_path: Path) -> None:
    """The check above can fail: each form of reference it looks for is found."""
    probe = tmp_path / "probe.py"
    probe.write_text('import eval.metrics\nfrom eval.runner import evaluate\nMODULE = "eval.cli"\n')
    assert [r.rsplit(": ", 1)[1] for r in _eval_references(probe)] == ["eval.metrics", "eval.runner", "eval.cli"]
