"""Lexicon induction from aligned cross-lingual word embeddings (MUSE / fastText `.vec` text files).

Nearest neighbour by cosine (the paper) or CSLS (Conneau et al. 2018), k-best, exact: `knn.search` proposes
candidates from a bfloat16 (or float32) pass over the similarity matrix, in tiles, and rescores them exactly, so
a 200k x 200k vocabulary needs well under 2 GB.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from builders.lexicons.base import Lexicon
from builders.lexicons.knn import Ranking, search
from csir.errors import CsirError, where
from csir.textio import text_lines


def read_vec(path: str | os.PathLike, max_vocab: int | None = None) -> tuple[list[str], np.ndarray]:
    """First line `N D`, then `word v1 ... vD`; keeps the first `max_vocab` words (files are frequency-sorted)."""
    path = Path(path)
    lines = text_lines(path, "embeddings")  # decode errors name the line
    header = next(lines, (1, ""))[1].split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise CsirError(f"{where(path, 1)}: expected header 'N D' (fastText .vec format)")
    n, dim = int(header[0]), int(header[1])
    if dim == 0 or dim > 100_000:
        raise CsirError(f"{where(path, 1)}: dimension {dim} out of range (1..100000)")
    limit = min(n, max_vocab) if max_vocab else n
    # grown on demand: a header that promises more rows than the file has must not allocate them
    words, vecs, seen = [], np.empty((min(limit, 1 << 18), dim), dtype=np.float32), set()
    for lineno, line in lines:
        if len(words) >= limit:
            break
        parts = line.rstrip(" ").split(" ")
        if len(parts) != dim + 1:
            raise CsirError(f"{where(path, lineno)}: expected a word and {dim} numbers, got {len(parts) - 1}")
        if parts[0] in seen:
            continue
        try:
            vec = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
            raise CsirError(f"{where(path, lineno)}: non-numeric vector value") from None
        if not np.isfinite(vec).all():
            raise CsirError(f"{where(path, lineno)}: vector value is not a finite number")
        if len(words) == len(vecs):
            vecs = np.concatenate([vecs, np.empty_like(vecs)])
        vecs[len(words)] = vec
        seen.add(parts[0])
        words.append(parts[0])
    if not words:
        raise CsirError(f"{path}: no vectors")
    vecs = np.ascontiguousarray(vecs[: len(words)])
    faiss.normalize_L2(vecs)
    return words, vecs


def _mean_rows(vals: np.ndarray) -> np.ndarray:
    """Row means summed left to right (best first): the same bits on any machine."""
    acc = vals[:, 0].copy()
    for c in range(1, vals.shape[1]):
        acc += vals[:, c]
    return acc / vals.shape[1]


def induce(src_words, src_vecs, tgt_words, tgt_vecs, *, method: str = "nn", k: int = 1, csls_k: int = 10,
           batch_size: int = 4096, progress: bool = True, precision: str = "auto") -> list[tuple[str, str, float]]:
    """(source, target, score) for the k best targets of every source word: exact search (`knn.search`).

    NN is one pass over the similarity matrix. CSLS (2cos(x,y) - r_T(x) - r_S(y)) is two: targets against
    sources for r_S(y), then sources against targets, which keeps each row's best `csls_k` cosines (r_T(x)) and
    its best k of 2cos - r_S in the same pass: a third pass would compute the same products again. `precision`
    picks the first pass of the search ("auto", "bf16", "fp32"); the output is the same for all three."""
    if src_vecs.shape[1] != tgt_vecs.shape[1]:
        raise CsirError(f"embedding dimensions differ: {src_vecs.shape[1]} vs {tgt_vecs.shape[1]}")
    if precision not in ("auto", "bf16", "fp32"):
        raise CsirError(f"precision: unknown first pass '{precision}' (auto, bf16 or fp32)")
    src_vecs = np.ascontiguousarray(src_vecs, dtype=np.float32)
    tgt_vecs = np.ascontiguousarray(tgt_vecs, dtype=np.float32)
    for name, v in (("source", src_vecs), ("target", tgt_vecs)):
        if not np.isfinite(v).all() or (len(v) and np.abs(v).max() > 1e15):
            raise CsirError(f"{name} embeddings: values must be finite and below 1e15 in magnitude")
    opts = dict(batch=batch_size, precision=precision, progress=progress)
    if method == "nn":
        (scores, ids), = search(src_vecs, tgt_vecs, [Ranking(k)], desc="clwe nn", **opts)
        r_src = None
    elif method == "csls":
        (near_t, _), = search(tgt_vecs, src_vecs, [Ranking(csls_k)], desc="clwe csls r_S", **opts)
        r_tgt = _mean_rows(near_t)  # r_S(y): each target's mean similarity to its source neighbourhood
        (near_s, _), (scores, ids) = search(src_vecs, tgt_vecs, [Ranking(csls_k), Ranking(k, 2.0, r_tgt)],
                                            desc="clwe csls", **opts)
        r_src = _mean_rows(near_s)  # r_T(x)
    else:
        raise CsirError(f"--method: unknown method '{method}' (nn or csls)")
    out = []
    for i, (srow, irow) in enumerate(zip(scores.tolist(), ids.tolist())):
        w = src_words[i]
        for s, j in zip(srow, irow):
            score = s - (float(r_src[i]) if r_src is not None else 0.0)
            out.append((w, tgt_words[j], round(score, 6)))
    return out


def procrustes(src_words, src_vecs, tgt_words, tgt_vecs, seed_pairs) -> np.ndarray:
    """Orthogonal W minimising ||XW - Y|| over seed translation pairs (for spaces not yet aligned)."""
    si = {w: i for i, w in enumerate(src_words)}
    ti = {w: i for i, w in enumerate(tgt_words)}
    pairs = [(si[s], ti[t]) for s, t in seed_pairs if s in si and t in ti]
    if len(pairs) < 2:
        raise CsirError(f"--seed-dict: only {len(pairs)} seed pairs found in both vocabularies")
    x = src_vecs[[a for a, _ in pairs]]
    y = tgt_vecs[[b for _, b in pairs]]
    u, _, vt = np.linalg.svd(x.T @ y)
    return (u @ vt).astype(np.float32)


def build_clwe_lexicon(src_vec, tgt_vec, src: str, tgt: str, *, method="nn", k=1, max_vocab=200_000,
                       max_src_vocab=None, csls_k=10, batch_size=4096, seed_dict=None) -> Lexicon:
    """Induce a lexicon; with `seed_dict` (a `src tgt` file) the source space is first Procrustes-aligned."""
    sw, sv = read_vec(src_vec, max_src_vocab or max_vocab)
    tw, tv = read_vec(tgt_vec, max_vocab)
    if seed_dict:
        from builders.lexicons.base import read_pair_file
        seeds = read_pair_file(seed_dict, src, tgt)
        w = procrustes(sw, sv, tw, tv, [(s, t) for s, ts in seeds.entries.items() for t, _ in ts[:1]])
        sv = np.ascontiguousarray(sv @ w)
        faiss.normalize_L2(sv)
    pairs = induce(sw, sv, tw, tv, method=method, k=k, csls_k=csls_k, batch_size=batch_size)
    return Lexicon.from_pairs(pairs, src, tgt, max_per_source=k, name=f"clwe-{method}:{src_vec}+{tgt_vec}")
