"""Training pairs: 1 positive : N negatives per query, negatives drawn deterministically."""

from __future__ import annotations

import hashlib
import random
from typing import Sequence

import datasets

PAIR_FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "query": datasets.Value("string"),
    "passage": datasets.Value("string"),
    "label": datasets.Value("float32"),
})


def rng_for(*parts) -> random.Random:
    """A private RNG per (seed, id, side...): output never depends on processing order or sharding."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def sample_negatives(pool_size: int, positive_index: int, n: int, seed: int, key: str) -> list[int]:
    """`n` distinct indices of `range(pool_size)` other than the positive, from an RNG keyed by (seed, key)."""
    if pool_size - 1 < n:
        raise ValueError(f"need {n} negatives but the pool has only {pool_size - 1} other passages")
    rng = rng_for(seed, key, "negatives")
    picked: list[int] = []
    seen = {positive_index}
    while len(picked) < n:
        i = rng.randrange(pool_size)
        if i not in seen:
            seen.add(i)
            picked.append(i)
    return picked


def build_pairs(ids: Sequence[str], queries: Sequence[str], passages: Sequence[str], *, negatives: int = 4,
                seed: int = 0, passage_ids: Sequence[str] | None = None) -> datasets.Dataset:
    """Rows (id, query, passage, label): query i with passage i (label 1) and `negatives` other passages (0).

    `ids[i]` names the example; negative rows get `{id}#neg{k}`. Passages with the same id as the
    positive (duplicates) are never used as its negatives.
    """
    passage_ids = list(passage_ids if passage_ids is not None else ids)
    rows = {"id": [], "query": [], "passage": [], "label": []}
    for i, (qid, q) in enumerate(zip(ids, queries)):
        rows["id"].append(str(qid)); rows["query"].append(q); rows["passage"].append(passages[i]); rows["label"].append(1.0)
        k = 0
        for j in sample_negatives(len(passages), i, negatives + 2, seed, qid):
            if k == negatives:
                break
            if passage_ids[j] == passage_ids[i] or passages[j] == passages[i]:
                continue
            rows["id"].append(f"{qid}#neg{k}"); rows["query"].append(q); rows["passage"].append(passages[j])
            rows["label"].append(0.0)
            k += 1
    return datasets.Dataset.from_dict(rows, features=PAIR_FEATURES)
