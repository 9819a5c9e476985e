"""Fetch the offline raw data from Debian's archive with apt: DDTP translations and dictionary packages.

Cached under `~/.cache/codeswitch-ir/raw` (or `$CSIR_DATA_DIR`); each step is skipped when its files exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from csir.errors import CsirError

DDTP_LANGS = ["en", "de", "fr", "it", "da", "ja", "ru", "es", "pt_BR", "uk", "pl", "cs", "zh_CN"]
DICT_PACKAGES = ["trans-de-en", "dict-freedict-eng-deu", "dict-freedict-eng-fra", "dict-freedict-eng-ita",
                 "dict-freedict-deu-eng", "dict-freedict-fra-eng", "dict-freedict-ita-eng"]


def default_data_dir() -> Path:
    return Path(os.environ.get("CSIR_DATA_DIR", Path.home() / ".cache" / "codeswitch-ir" / "raw"))


def _run(cmd: list[str], what: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise CsirError(f"{what}: '{cmd[0]}' not found (a Debian/Ubuntu system with apt is needed to fetch)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CsirError(f"{what}: `{' '.join(cmd[:2])} ...` failed: {tail[0]}")


def fetch_ddtp(data_dir: Path | None = None, langs=DDTP_LANGS) -> Path:
    """`apt-get update` into a private lists directory: uncompressed `*_i18n_Translation-<lang>` files."""
    dest = (data_dir or default_data_dir()) / "ddtp"
    if dest.is_dir() and any(dest.glob("*i18n_Translation-en")):
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=".ddtp-", dir=dest.parent if dest.parent.exists() else None))
    (tmp / "partial").mkdir(parents=True)
    _run(["apt-get", "update", "-o", f"Dir::State::Lists={tmp}", "-o", f"Acquire::Languages={','.join(langs)}",
          "-o", "Acquire::IndexTargets::deb::Translations::KeepCompressed=false"], "fetch ddtp")
    if not any(tmp.glob("*i18n_Translation-en")):
        raise CsirError("fetch ddtp: apt-get fetched no Translation-en file (are deb.debian.org sources configured?)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return dest


def fetch_dictionaries(data_dir: Path | None = None, packages=DICT_PACKAGES) -> Path:
    """`apt-get download` + `dpkg-deb -x`: Ding in `usr/share/trans/de-en`, FreeDict in `usr/share/dictd/`."""
    root = data_dir or default_data_dir()
    dest = root / "dicts"
    marker = dest / ".complete"
    if marker.exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dicts-", dir=root))
    debs = tmp / "debs"
    debs.mkdir()
    proc = subprocess.run(["apt-get", "download", *packages], cwd=debs, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CsirError(f"fetch dictionaries: apt-get download failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(tmp / "tree")], f"fetch dictionaries ({deb.name})")
    shutil.rmtree(debs)
    (tmp / "tree" / ".complete").write_text("\n".join(packages) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp / "tree", dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest
