"""Execute the tutorial notebooks headless (what ``make notebooks`` runs).

Each notebook in ``notebooks/`` runs top to bottom in a fresh kernel (nbclient,
the project's own Python); the executed copy, with its outputs and figures, is
written to ``OUT/<name>.ipynb`` (the originals stay without outputs). Files the
notebooks make go to ``OUT`` too (their ``NOTEBOOK_OUT``). Prints each
notebook's time and status; exits 1 if any failed.

    .venv/bin/python scripts/run_notebooks.py [--out out/notebooks] [--quick] [NAME ...]

``--quick`` sets ``NOTEBOOK_QUICK=1``: shorter audio and fewer clips (what the
tests use); without it the notebooks run at their full, documented size.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, out_dir: Path, quick: bool, timeout: int) -> tuple[bool, float, str]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ["NOTEBOOK_OUT"] = str(out_dir)
    os.environ["NOTEBOOK_QUICK"] = "1" if quick else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        kernel_manager_kwargs={"kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]},
    )
    started = time.perf_counter()
    problem = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        problem = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    seconds = time.perf_counter() - started
    nbformat.write(nb, out_dir / path.name)
    return not problem, seconds, problem


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (default: all), e.g. 01_quickstart")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "notebooks")
    ap.add_argument("--quick", action="store_true", help="NOTEBOOK_QUICK=1: shorter inputs")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = ap.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(p.stem.startswith(n) or p.name == n for n in args.names)]
        if not paths:
            print(f"error: no notebook matches {args.names}", file=sys.stderr)
            return 2
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    total = time.perf_counter()
    for path in paths:
        print(f"{path.name}: running...", flush=True)
        ok, seconds, problem = run(path, out_dir, args.quick, args.timeout)
        failed += not ok
        status = "ok" if ok else f"FAILED ({problem})"
        print(f"{path.name}: {status} in {seconds:.0f} s -> {out_dir / path.name}", flush=True)
    print(
        f"{len(paths) - failed} of {len(paths)} notebooks executed in {time.perf_counter() - total:.0f} s; "
        f"executed copies and their files in {out_dir}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
