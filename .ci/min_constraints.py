"""Pins every declared lower bound (`name>=X.Y` -> `name==X.Y.*`) of pyproject.toml's dependencies and the given extras.

The minimum-versions CI step installs the project under these constraints into a separate venv and runs the fast
tests, so a bound below what the code really needs fails there. torch is left out: its PyPI wheels for the
declared minimum are CUDA builds of several GB (the step installs the CPU wheel of TORCH_SPEC instead).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SKIP = {"torch"}


def pins(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    out = []
    for req in reqs:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(==|>=)\s*([^,;\s]+)", req)
        if not m:
            raise SystemExit(f"{pyproject}: '{req}' has no lower bound (every dependency needs one)")
        name = m.group(1)
        version = m.group(3)
        # `>=2.3` pins the 2.3 series (2.3.1 when 2.3.0 was never released); a full x.y.z pins exactly that
        if name.lower() not in SKIP:
            out.append(f"{name}=={version}" if version.count(".") >= 2 else f"{name}=={version}.*")
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    print("\n".join(pins(root / "pyproject.toml", sys.argv[1:])))
