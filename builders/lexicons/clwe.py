"""Lexicon induction from aligned cross-lingual word embeddings (MUSE / fastText `.vec` text files).

Nearest neighbour by cosine (the paper) or CSLS (Conneau et al. 2018), k-best, exact. The similarity matrix
is computed in tiles with numpy's BLAS (which picks the CPU's vector kernels; faiss-cpu's bundled OpenBLAS 0.3.15
falls back to SSE3 "Prescott" kernels on CPUs newer than it, 8x slower here) and reduced tile by tile in faiss's
heaps, so a 200k x 200k vocabulary needs well under 2 GB.
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


class _TopK:
    """The k largest values per row and their column ids, kept in faiss's C++ heaps (`HeapArray::addn`: one
    comparison per value, OpenMP over rows, ties keep the lower id; the same heaps faiss's flat search fills)."""

    def __init__(self, rows: int, k: int):
        self.val = np.empty((rows, k), dtype=np.float32)
        self.ids = np.empty((rows, k), dtype=np.int64)
        heap = self.heap = faiss.float_minheap_array_t()
        heap.nh, heap.k = rows, k
        heap.val, heap.ids = faiss.swig_ptr(self.val), faiss.swig_ptr(self.ids)
        heap.heapify()

    def add(self, block: np.ndarray, row0: int, col0: int) -> None:
        self.heap.addn(block.shape[1], faiss.swig_ptr(block), col0, row0, block.shape[0])

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self.heap.reorder()
        return self.val, self.ids


def _tiles(queries: np.ndarray, base: np.ndarray, rows: int, cols: int, desc: str, progress: bool):
    """(row0, col0, queries[rows] · base[cols]ᵀ) over the whole similarity matrix, one BLAS sgemm per tile into a
    reused buffer: the matrix is never held whole (200k x 200k floats would be 160 GB)."""
    rows = max(rows, 2)
    buf = np.empty((min(rows, len(queries)) + 1) * (min(cols, len(base)) + 1), dtype=np.float32)
    for r0 in tqdm(range(0, len(queries), rows), desc=desc, disable=not progress, unit="block"):
        q = queries[r0:r0 + rows]
        for c0 in range(0, len(base), cols):
            b = base[c0:c0 + cols]
            if len(q) > 1 and len(b) > 1:
                tile = buf[:len(q) * len(b)].reshape(len(q), len(b))
                np.matmul(q, b.T, out=tile)
            else:  # a one-row product would go to gemv, which sums in another order: keep every digit sgemm's
                q2, b2 = np.vstack([q, q[:1]]), np.vstack([b, b[:1]])
                tile = np.ascontiguousarray(np.matmul(q2, b2.T)[:len(q), :len(b)])
            yield r0, c0, tile


_COLS = 8192  # target columns per tile: a 4096 x 8192 float32 tile is 128 MB


def _topk(queries, base, k, rows, progress, desc) -> tuple[np.ndarray, np.ndarray]:
    best = _TopK(len(queries), min(k, len(base)))
    for r0, c0, tile in _tiles(queries, base, rows, _COLS, desc, progress):
        best.add(tile, r0, c0)
    return best.result()


def _mean_topk_sim(queries: np.ndarray, base: np.ndarray, k: int, batch: int, progress: bool = False) -> np.ndarray:
    return _topk(queries, base, k, batch, progress, "clwe csls r_S")[0].mean(axis=1)


def induce(src_words, src_vecs, tgt_words, tgt_vecs, *, method: str = "nn", k: int = 1, csls_k: int = 10,
           batch_size: int = 4096, progress: bool = True) -> list[tuple[str, str, float]]:
    """(source, target, score) for the k best targets of every source word: exact search, BLAS-batched.

    NN is one pass over the similarity matrix. CSLS (2cos(x,y) - r_T(x) - r_S(y)) is two: targets against
    sources for r_S(y), then sources against targets, where each tile gives r_T(x) (the mean of its row's best
    `csls_k`) and, doubled less r_S, the CSLS scores: a third pass would compute the same sources x targets
    products again."""
    if src_vecs.shape[1] != tgt_vecs.shape[1]:
        raise CsirError(f"embedding dimensions differ: {src_vecs.shape[1]} vs {tgt_vecs.shape[1]}")
    src_vecs = np.ascontiguousarray(src_vecs, dtype=np.float32)
    tgt_vecs = np.ascontiguousarray(tgt_vecs, dtype=np.float32)
    if method == "nn":
        scores, ids = _topk(src_vecs, tgt_vecs, k, batch_size, progress, "clwe nn")
        r_src = None
    elif method == "csls":
        r_tgt = _mean_topk_sim(tgt_vecs, src_vecs, csls_k, batch_size, progress)  # r_S(y): targets' source neighbourhoods
        near, best = _TopK(len(src_vecs), min(csls_k, len(tgt_vecs))), _TopK(len(src_vecs), min(k, len(tgt_vecs)))
        for r0, c0, tile in _tiles(src_vecs, tgt_vecs, batch_size, _COLS, "clwe csls", progress):
            near.add(tile, r0, c0)
            tile *= 2.0
            tile -= r_tgt[c0:c0 + tile.shape[1]]
            best.add(tile, r0, c0)
        r_src = near.result()[0].mean(axis=1)  # r_T(x)
        scores, ids = best.result()
    else:
        raise CsirError(f"--method: unknown method '{method}' (nn or csls)")
    out = []
    for i, (srow, irow) in enumerate(zip(scores, ids)):
        w = src_words[i]
        for s, j in zip(srow, irow):
            if j >= 0:
                score = float(s) - (float(r_src[i]) if r_src is not None else 0.0)
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
