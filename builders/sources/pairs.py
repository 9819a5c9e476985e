"""Training pairs: 1 positive : N negatives per query, negatives drawn deterministically.

Negatives come from a keyed random sample of the pool, or (`negatives_from="bm25"`) from the top of a BM25 ranking
of the pool for the query: the hard negatives a re-ranker meets at test time, as in MS MARCO's BM25-mined triples.
"""

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


NEGATIVE_SOURCES = ("random", "bm25")
# languages whose stop words bm25s ships; other languages are indexed without a stop list
BM25_STOPWORDS = ("en", "de", "nl", "fr", "es", "pt", "it", "ru", "sv", "no", "zh", "tr", "ko", "da")


def bm25_search(queries: Sequence[str], passages: Sequence[str], k: int,
                lang: str = "en") -> tuple[list[list[int]], list[list[float]]]:
    """Top-k passage indices and scores per query: bm25s (Lucene variant) with the stop words of `lang` (none
    where bm25s has no list), one thread, ties in bm25s' deterministic order. Shared by hard-negative mining
    and the evaluation sets' BM25 first stage."""
    import bm25s

    stop = lang if lang in BM25_STOPWORDS else None
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(passages), stopwords=stop, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize(list(queries), stopwords=stop, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=min(k, len(passages)), show_progress=False, n_threads=1)
    return docs.tolist(), scores.tolist()


def bm25_ranked(queries: Sequence[str], passages: Sequence[str], depth: int, lang: str = "en") -> list[list[int]]:
    """Per query, the indices of the (at most) `depth` passages with a positive BM25 score, best first."""
    docs, scores = bm25_search(queries, passages, depth, lang)
    return [[int(d) for d, s in zip(row_d, row_s) if s > 0] for row_d, row_s in zip(docs, scores)]


def build_pairs(ids: Sequence[str], queries: Sequence[str], passages: Sequence[str], *, negatives: int = 4,
                seed: int = 0, passage_ids: Sequence[str] | None = None, negatives_from: str = "random",
                lang: str = "en") -> datasets.Dataset:
    """Rows (id, query, passage, label): query i with passage i (label 1) and `negatives` other passages (0).

    `ids[i]` names the example; negative rows get `{id}#neg{k}`. Passages with the same id or text as the
    positive (duplicates) are never used as its negatives. `negatives_from="bm25"` takes the highest-ranked
    other passages of a BM25 ranking of the pool (passages in language `lang`), topped up from the random sample
    when fewer than `negatives` share a term with the query.
    """
    if negatives_from not in NEGATIVE_SOURCES:
        raise ValueError(f"negatives_from: expected one of {', '.join(NEGATIVE_SOURCES)}, got '{negatives_from}'")
    passage_ids = list(passage_ids if passage_ids is not None else ids)
    ranked = (bm25_ranked(queries, passages, 2 * negatives + 2, lang) if negatives_from == "bm25"
              else [[] for _ in ids])
    rows = {"id": [], "query": [], "passage": [], "label": []}
    for i, (qid, q) in enumerate(zip(ids, queries)):
        rows["id"].append(str(qid)); rows["query"].append(q); rows["passage"].append(passages[i]); rows["label"].append(1.0)
        k = 0
        sampled = sample_negatives(len(passages), i, negatives + 2, seed, qid)
        for j in dict.fromkeys(ranked[i] + sampled):
            if k == negatives:
                break
            if passage_ids[j] == passage_ids[i] or passages[j] == passages[i]:
                continue
            rows["id"].append(f"{qid}#neg{k}"); rows["query"].append(q); rows["passage"].append(passages[j])
            rows["label"].append(0.0)
            k += 1
    return datasets.Dataset.from_dict(rows, features=PAIR_FEATURES)
