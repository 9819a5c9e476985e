"""`load_dataset` for local repo folders and Hub ids, safe against stale caches.

datasets caches a local folder under (folder name, config, packaged-builder hash), which does not change when
the folder's files do: a rebuilt folder with the same name would be read from the old cache. Local folders
therefore get a cache directory keyed by a fingerprint of their files (paths, sizes, mtimes).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets


def folder_fingerprint(folder: str | os.PathLike) -> str:
    h = hashlib.sha256()
    root = Path(folder).resolve()
    h.update(str(root).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
            st = p.stat()
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def load_repo_dataset(path_or_id: str | os.PathLike, config: str | None = None, *, split: str | None = None,
                      revision: str | None = None, **kwargs):
    """`datasets.load_dataset` with a content-keyed cache for local folders (Hub ids: as is, by revision)."""
    p = Path(path_or_id)
    if p.is_dir():
        kwargs.setdefault("cache_dir", str(Path(datasets.config.HF_DATASETS_CACHE) / "csir-local" / folder_fingerprint(p)))
        return datasets.load_dataset(str(p), config, split=split, **kwargs)
    from csir.hub.resolve import resolve

    # the local-vs-Hub rule and one fast lookup first: a missing path or an unreachable Hub fails in one line
    resolve(str(path_or_id), revision, "dataset", download=False, flag="dataset")
    return datasets.load_dataset(str(path_or_id), config, split=split, revision=revision, **kwargs)
