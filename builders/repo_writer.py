"""The single place that lays out a dataset repository in Hub layout (README card, parquet, manifest)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Mapping

import datasets

from csir.atomic import atomic_dir

MAX_ROWS_PER_SHARD = 500_000
MANIFEST_NAME = "build_manifest.json"
LIBRARIES = ("codeswitch-ir", "datasets", "huggingface_hub", "pyarrow", "nltk", "numpy", "faiss-cpu",
             "transformers", "sentence-transformers", "accelerate", "torch")


def library_versions(names=LIBRARIES) -> dict[str, str]:
    """Versions of the libraries that shape the output, for manifests and cards."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def describe_input(path: str | os.PathLike, **extra) -> dict:
    """A manifest entry for an input file: path, size and sha256 (directories: per-file)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith("."))
        entry = {"path": str(p), "files": {str(f.relative_to(p)): sha256_file(f) for f in files}}
    else:
        entry = {"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
    entry.update(extra)
    return entry


def _shard_paths(config: str, split: str, n: int) -> list[str]:
    return [f"data/{config}/{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def write_dataset_repo(
    output: str | os.PathLike,
    configs: Mapping[str, Mapping[str, datasets.Dataset]],
    *,
    card: Mapping,
    manifest: Mapping,
    default_config: str | None = None,
    max_rows_per_shard: int = MAX_ROWS_PER_SHARD,
) -> Path:
    """Write `configs` ({config: {split: Dataset}}) as parquet shards + README card + build manifest.

    `card` holds the card metadata (pretty_name, language, license, tags, source_datasets, description,
    repo_id, version...); the YAML `configs:` block is derived from what is written here, so that
    `datasets.load_dataset(output, config)` reads every config. The folder appears atomically.
    """
    from model_cards.dataset_card import render_dataset_card

    output = Path(output)
    if not configs:
        raise ValueError("write_dataset_repo: no configs to write")
    config_entries = []
    stats = {}
    with atomic_dir(output) as tmp:
        for name, splits in configs.items():
            data_files = []
            stats[name] = {}
            for split, ds in splits.items():
                n = max(1, math.ceil(len(ds) / max_rows_per_shard))
                paths = _shard_paths(name, split, n)
                for i, rel in enumerate(paths):
                    shard = ds if n == 1 else ds.shard(n, i, contiguous=True)
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shard.to_parquet(str(tmp / rel))
                data_files.append({"split": split, "path": f"data/{name}/{split}-*.parquet"})
                stats[name][split] = {"num_rows": len(ds), "columns": list(ds.column_names)}
            entry = {"config_name": name, "data_files": data_files}
            if name == default_config:
                entry["default"] = True
            config_entries.append(entry)
        full_manifest = dict(manifest)
        full_manifest.setdefault("library_versions", library_versions())
        full_manifest["configs"] = stats
        (tmp / MANIFEST_NAME).write_text(json.dumps(full_manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        (tmp / "README.md").write_text(render_dataset_card(card, config_entries, full_manifest), encoding="utf-8")
    return output


def read_manifest(folder: str | os.PathLike) -> dict:
    path = Path(folder) / MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
