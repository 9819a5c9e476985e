"""Encode every distinct text once per (model revision, side, prompt, dataset revision), and reuse it.

MTEB re-encodes the collection for every language pair; here the German queries of de-en, de-de and de-mlir, and
the passages of an MLIR collection (translations already embedded for the monolingual collections), are
looked up by text hash. Entries live in memory and, with `cache_dir`, in `.npz` shards on disk, so a second
run (or another process) does no model work for texts it has seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from csir.atomic import atomic_file

log = logging.getLogger(__name__)


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EncodeCache:
    """Per-namespace map text hash -> embedding row; `namespace` pins model, revision, prompt and dataset."""

    def __init__(self, cache_dir: str | os.PathLike | None = None, writable: bool = True):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.writable = writable  # only one process of a multi-process run writes shards
        self._rows: dict[str, dict[bytes, np.ndarray]] = {}
        self.encoded = 0        # texts actually sent to the model (for tests and benchmarks)
        self.hits = 0

    @staticmethod
    def namespace(**parts) -> str:
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def _load(self, ns: str) -> dict[bytes, np.ndarray]:
        if ns in self._rows:
            return self._rows[ns]
        rows: dict[bytes, np.ndarray] = {}
        if self.cache_dir and (self.cache_dir / ns).is_dir():
            for shard in sorted((self.cache_dir / ns).glob("shard-*.npz")):
                with np.load(shard) as z:
                    for k, v in zip(z["keys"], z["emb"]):
                        rows[bytes(k)] = v
        self._rows[ns] = rows
        return rows

    def _persist(self, ns: str, keys: list[bytes], emb: np.ndarray, meta: dict):
        if not self.cache_dir or not keys or not self.writable:
            return
        folder = self.cache_dir / ns
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "namespace.json"
        if not meta_path.exists():
            with atomic_file(meta_path) as fh:
                json.dump(meta, fh, indent=2, sort_keys=True)
        name = hashlib.sha256(b"".join(keys)).hexdigest()[:16]
        with atomic_file(folder / f"shard-{name}.npz", mode="wb") as fh:
            np.savez(fh, keys=np.array(keys, dtype="S16"), emb=emb)

    def get(self, ns: str, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray], meta: dict | None = None,
            shard: Callable[[list[str]], list[str]] | None = None,
            gather: Callable[[list[str], np.ndarray], tuple[list[str], np.ndarray]] | None = None) -> np.ndarray:
        """Embeddings of `texts` in order; only texts never seen in `ns` reach `encode`.

        `shard`/`gather` split the missing texts across processes and collect everyone's embeddings back.
        """
        rows = self._load(ns)
        keys = [text_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        for k, t in zip(keys, texts):
            if k not in rows and k not in missing:
                missing[k] = t
        self.hits += len(texts) - len(missing)
        if missing:
            todo = list(missing.values())
            mine = shard(todo) if shard else todo
            emb = encode(mine) if mine else None
            self.encoded += len(mine)
            if gather:
                mine, emb = gather(mine, emb)
            new_keys = [text_key(t) for t in mine]
            for k, v in zip(new_keys, emb):
                rows[k] = v
            self._persist(ns, new_keys, np.asarray(emb), meta or {})
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([rows[k] for k in keys]).astype(np.float32, copy=False)
