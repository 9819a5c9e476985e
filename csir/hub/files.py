"""What a publish uploads: the folder's files, with the hashes both targets compare content by.

Both targets decide "identical re-publish" the same way: the set of (path, git blob sha1) pairs. The git blob
sha1 is what git trees store and what the Hub reports as `oid` for regular files; for LFS files the Hub
reports the sha256 of the content, so both are kept.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from csir.errors import CsirError

# Never published: VCS metadata, caches written by HF tools next to the files, and our own temp siblings.
SKIP_DIRS = {".git", ".cache", "__pycache__"}
SKIP_PREFIXES = (".~",)
README = "README.md"


@dataclass
class StagedFile:
    """One file to publish: its repo path, where its bytes come from, and its hashes."""

    path: str                      # posix path inside the repo
    source: Path | None = None     # file on disk, or None when `data` holds the bytes
    data: bytes | None = None
    size: int = 0
    git_sha1: str = ""
    sha256: str = ""

    def read(self) -> bytes:
        return self.data if self.data is not None else self.source.read_bytes()

    def hash_sources(self) -> tuple[str, str]:
        """(git blob sha1, sha256) computed in one streaming pass."""
        g = hashlib.sha1()
        s = hashlib.sha256()
        g.update(f"blob {self.size}\0".encode())
        if self.data is not None:
            g.update(self.data)
            s.update(self.data)
        else:
            with open(self.source, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    g.update(block)
                    s.update(block)
        return g.hexdigest(), s.hexdigest()


@dataclass
class StagedFolder:
    root: Path
    files: dict[str, StagedFile] = field(default_factory=dict)

    def digest(self) -> dict[str, str]:
        """{path: git blob sha1}: the content identity both targets compare."""
        return {p: f.git_sha1 for p, f in sorted(self.files.items())}

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())


def list_folder(folder: Path) -> list[str]:
    """Repo paths of every regular file under `folder` (sorted, posix), minus VCS/cache files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(SKIP_PREFIXES)
                             and ".tmp-" not in d)
        for name in filenames:
            if name.startswith(SKIP_PREFIXES) or ".tmp-" in name:
                continue
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                raise CsirError(f"{full}: not a regular file (links and special files are not published)")
            out.append(full.relative_to(folder).as_posix())
    return sorted(out)


def stage_folder(folder: str | os.PathLike, overrides: dict[str, bytes] | None = None) -> StagedFolder:
    """Hash every file of `folder`; `overrides` replaces some files' bytes (the refreshed README)."""
    root = Path(folder)
    if not root.is_dir():
        raise CsirError(f"{root}: not a directory")
    overrides = overrides or {}
    staged = StagedFolder(root=root)
    for rel in list_folder(root):
        if rel in overrides:
            f = StagedFile(path=rel, data=overrides[rel], size=len(overrides[rel]))
        else:
            src = root / rel
            f = StagedFile(path=rel, source=src, size=src.stat().st_size)
        f.git_sha1, f.sha256 = f.hash_sources()
        staged.files[rel] = f
    if not staged.files:
        raise CsirError(f"{root}: folder is empty, nothing to publish")
    return staged
