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


def seed_for(*parts) -> int:
    """The seed of `rng_for(*parts)`, for code that seeds its own generator (the compiled code-switching loop)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng_for(*parts) -> random.Random:
    """A private RNG per (seed, id, side...): output never depends on processing order or sharding."""
    return random.Random(seed_for(*parts))


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


NEAR_DUPLICATE_JACCARD = 0.9


def truncated_words(text: str, n_words: int) -> frozenset[str]:
    """The lower-cased word set of the first `n_words` words: what a model that truncates its input sees."""
    return frozenset(text.lower().split()[:n_words])


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def build_pairs(ids: Sequence[str], queries: Sequence[str], passages: Sequence[str], *, negatives: int = 4,
                seed: int = 0, passage_ids: Sequence[str] | None = None, negatives_from: str = "random",
                lang: str = "en", positives: Sequence[int] | None = None,
                passage_groups: Sequence[str] | None = None,
                near_duplicate_words: int | None = None) -> datasets.Dataset:
    """Rows (id, query, passage, label): query i with its positive passage (label 1) and `negatives` others (0).

    `ids[i]` names the example; negative rows get `{id}#neg{k}`. Query i's positive is `passages[positives[i]]`
    (default `passages[i]`), so the pool may hold more passages than there are queries (hard negatives from a
    full collection). Passages with the same id or text as the positive (duplicates) are never used as its
    negatives. `negatives_from="bm25"` takes the highest-ranked other passages of a BM25 ranking of the pool
    (passages in language `lang`), topped up from the random sample when fewer than `negatives` share a term
    with the query.

    `near_duplicate_words=N` also drops near-duplicates of the positive, which would be false negatives: a passage
    of the same group (`passage_groups`, e.g. a package family: `libfoo1`, `libfoo-dev`, `foo-doc`) or whose
    first N words have a word Jaccard above 0.9 with the positive's (sibling descriptions identical once
    truncated). Off by default, so data built without it stays byte-identical.
    """
    if negatives_from not in NEGATIVE_SOURCES:
        raise ValueError(f"negatives_from: expected one of {', '.join(NEGATIVE_SOURCES)}, got '{negatives_from}'")
    if positives is not None and passage_ids is None:
        raise ValueError("build_pairs: `positives` needs `passage_ids` (one id per pool passage)")
    passage_ids = list(passage_ids if passage_ids is not None else ids)
    pos = list(positives) if positives is not None else list(range(len(ids)))
    dedupe = near_duplicate_words is not None
    depth, extra = (4 * negatives + 8, negatives + 8) if dedupe else (2 * negatives + 2, 2)
    ranked = (bm25_ranked(queries, passages, depth, lang) if negatives_from == "bm25"
              else [[] for _ in ids])
    words: dict[int, frozenset] = {}

    def near_duplicate(j: int, i: int) -> bool:
        if passage_groups is not None and passage_groups[j] == passage_groups[i]:
            return True
        for x in (i, j):
            if x not in words:
                words[x] = truncated_words(passages[x], near_duplicate_words)
        return jaccard(words[i], words[j]) > NEAR_DUPLICATE_JACCARD

    rows = {"id": [], "query": [], "passage": [], "label": []}
    for n, (qid, q) in enumerate(zip(ids, queries)):
        i = pos[n]
        rows["id"].append(str(qid)); rows["query"].append(q); rows["passage"].append(passages[i]); rows["label"].append(1.0)
        k = 0
        sampled = sample_negatives(len(passages), i, min(negatives + extra, len(passages) - 1) if dedupe
                                   else negatives + extra, seed, qid)
        for j in dict.fromkeys(ranked[n] + sampled):
            if k == negatives:
                break
            if passage_ids[j] == passage_ids[i] or passages[j] == passages[i]:
                continue
            if dedupe and near_duplicate(j, i):
                continue
            rows["id"].append(f"{qid}#neg{k}"); rows["query"].append(q); rows["passage"].append(passages[j])
            rows["label"].append(0.0)
            k += 1
    return datasets.Dataset.from_dict(rows, features=PAIR_FEATURES)
