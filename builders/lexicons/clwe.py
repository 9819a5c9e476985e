"""Lexicon induction from aligned cross-lingual word embeddings (MUSE / fastText `.vec` text files).

Nearest neighbour by cosine (the paper) or CSLS (Conneau et al. 2018), k-best, via faiss. CSLS is exact:
argmax_y 2cos(x,y) - r_S(y) is an inner product of [2x, -1] with [y, r_S(y)], so a flat IP index over the
augmented target vectors finds it; queries go in batches so a 200k x 200k vocabulary stays within a few GiB.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from builders.lexicons.base import Lexicon
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


def _mean_topk_sim(queries: np.ndarray, base: np.ndarray, k: int, batch: int) -> np.ndarray:
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    out = np.empty(len(queries), dtype=np.float32)
    for i in range(0, len(queries), batch):
        sims, _ = index.search(queries[i:i + batch], k)
        out[i:i + batch] = sims.mean(axis=1)
    return out


def induce(src_words, src_vecs, tgt_words, tgt_vecs, *, method: str = "nn", k: int = 1, csls_k: int = 10,
           batch_size: int = 4096, progress: bool = True) -> list[tuple[str, str, float]]:
    """(source, target, score) for the k best targets of every source word."""
    if src_vecs.shape[1] != tgt_vecs.shape[1]:
        raise CsirError(f"embedding dimensions differ: {src_vecs.shape[1]} vs {tgt_vecs.shape[1]}")
    if method == "nn":
        base, q_scale, r_src = tgt_vecs, 1.0, None
    elif method == "csls":
        r_tgt = _mean_topk_sim(tgt_vecs, src_vecs, csls_k, batch_size)  # r_S(y): targets' source neighbourhoods
        r_src = _mean_topk_sim(src_vecs, tgt_vecs, csls_k, batch_size)  # r_T(x)
        base = np.hstack([tgt_vecs, r_tgt[:, None]]).astype(np.float32)
        q_scale = 2.0
    else:
        raise CsirError(f"--method: unknown method '{method}' (nn or csls)")
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base))
    out = []
    for i in tqdm(range(0, len(src_words), batch_size), desc=f"clwe {method}", disable=not progress, unit="batch"):
        q = src_vecs[i:i + batch_size] * q_scale
        if method == "csls":
            q = np.hstack([q, -np.ones((len(q), 1), dtype=np.float32)])
        scores, ids = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        for row, (srow, irow) in enumerate(zip(scores, ids)):
            w = src_words[i + row]
            for s, j in zip(srow, irow):
                if j >= 0:
                    score = float(s) - (float(r_src[i + row]) if r_src is not None else 0.0)
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
