"""Exact k-best inner-product search between two embedding spaces, at vocabulary scale (CLWE induction).

Why two stages: a 200k x 200k x 300 similarity matrix is 2.4e13 flops, about 5 CPU minutes in float32 (numpy's
sgemm, already near this CPU's float32 peak), while bfloat16 on the CPU's AMX units (torch -> oneDNN) runs ~8x
faster but rounds. So a first pass in bfloat16 keeps each row's best `k + margin` approximate scores (faiss's C++
heaps, tile by tile: the matrix is never held whole), and every candidate that could still belong to the exact
top k, judged by a proven bound on the first pass's error (`_Bf16Product`), is rescored exactly. A row whose
list is too short to prove it is recomputed whole and keeps every entry above its threshold.

"Exact" is one definition (`canonical_dots`: float64, products exact, summed in dimension order), so the result
does not depend on which first pass ran -- bfloat16 where the CPU has bfloat16 units, numpy's float32 sgemm with
its own (much smaller) bound elsewhere -- nor on the BLAS, the tiling or the thread count: ties left after exact
scoring are broken by the lower id.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
from tqdm.auto import tqdm

MARGIN = 32  # candidates kept per row beyond k; rows that need more are recomputed whole (`_recompute_rows`)
_COLS = 8192  # columns per tile: a 4096 x 8192 tile is 64 MB in bfloat16, 128 MB in float32
_U32, _U64, _UBF16 = 2.0 ** -24, 2.0 ** -53, 2.0 ** -8  # unit roundoffs
_TINY = 2.0 ** -100  # covers flush-to-zero of subnormal inputs, products and sums (each < 2**-126)


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): bounds the relative error of any n-term floating-point sum."""
    return n * u / (1 - n * u)


class _TopK:
    """The k largest values per row and their column ids, kept in faiss's C++ heaps (`HeapArray::addn`: one
    comparison per value, OpenMP over rows; the same heaps faiss's flat search fills)."""

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
        self.heap.reorder()  # each row sorted, best first
        return self.val, self.ids


def _norms(x: np.ndarray) -> np.ndarray:
    """Euclidean norms in float64, rounded up (1e-12 relative covers float64's own rounding)."""
    out = np.empty(len(x))
    for i in range(0, len(x), 65536):
        out[i:i + 65536] = np.linalg.norm(x[i:i + 65536].astype(np.float64), axis=1)
    return out * (1 + 1e-12)


class _Fp32Product:
    """Approximate scores from numpy's float32 sgemm (any kernel, any summation order).

    Bound: a float32 sum of n terms errs by at most gamma_n times the sum of the terms' absolute values (Higham,
    Accuracy and Stability, 3.1), products included (n = D + 64 leaves room for a non-FMA product's rounding
    and a kernel's zero padding), and that sum is at most ||x|| ||y|| (Cauchy-Schwarz). The canonical float64
    score is itself within gamma_D(float64) ||x|| ||y|| of the real value."""

    name = "float32"
    rel = 0.0  # error term proportional to |approximate score|: none (no output rounding)

    def __init__(self, queries: np.ndarray, base: np.ndarray):
        self.queries, self.base = queries, base
        nq, nb = _norms(queries), _norms(base)
        dim = queries.shape[1]
        eps = _gamma(dim + 64, _U32) + _gamma(dim + 1, _U64)
        self.abs = eps * nq * nb.max() + _TINY * (dim + 64) * (1 + nq + nb.max())  # per query row
        self.size = nq * nb.max() * (1 + 2 * eps) + _TINY  # bounds |approximate score| per query row
        self._buf = np.empty(0, dtype=np.float32)

    def tile(self, rows, c0: int, c1: int) -> np.ndarray:
        q = self.queries[rows]
        if len(self._buf) < len(q) * (c1 - c0):  # one buffer, reused by every tile
            self._buf = np.empty(len(q) * (c1 - c0), dtype=np.float32)
        out = self._buf[:len(q) * (c1 - c0)].reshape(len(q), c1 - c0)
        np.matmul(q, self.base[c0:c1].T, out=out)
        return out


class _Bf16Product:
    """Approximate scores from bfloat16 inputs on oneDNN (AMX where the CPU has it), float32 accumulation,
    bfloat16 output.

    Bound, with x~, y~ the bfloat16 vectors actually used: |x.y - x~.y~| <= ||x - x~|| ||y~|| + ||x|| ||y - y~||
    (the residual norms are measured, not assumed); x~_i y~_i is exact in float32 (8 + 8 significand bits) and
    their float32 sum, in any order, errs by at most gamma_n ||x~|| ||y~||; rounding the sum to bfloat16 (round
    to nearest even) changes it by at most u/(1-u) of the result, u = 2**-8: `rel` times |approximate score|.
    `_select` uses both terms, plus float64's gamma_D for the canonical score."""

    name = "bfloat16"
    rel = _UBF16 / (1 - _UBF16)

    def __init__(self, queries: np.ndarray, base: np.ndarray):
        import torch

        self.torch = torch
        self.queries, self.qb, nq, nq_t, eq = self._prepare(queries)
        _, self.bb, nb, nb_t, eb = self._prepare(base)
        dim = queries.shape[1]
        g = _gamma(dim + 64, _U32)
        self.abs = (eq * nb_t.max() + nq * eb.max() + g * nq_t * nb_t.max() + _gamma(dim + 1, _U64) * nq * nb.max()
                    + _TINY * (dim + 64) * (1 + nq_t + nb_t.max()))
        self.size = nq_t * nb_t.max() * (1 + g) / (1 - _UBF16) + _TINY
        self._b16, self._f32 = torch.empty(0, dtype=torch.bfloat16), np.empty(0, dtype=np.float32)

    def _prepare(self, x: np.ndarray):
        """(x, x in bfloat16, ||x||, ||x~||, ||x - x~||), in chunks: no float64 copy of the whole space."""
        torch = self.torch
        xb = torch.from_numpy(x).to(torch.bfloat16)
        n, n_t, e = np.empty(len(x)), np.empty(len(x)), np.empty(len(x))
        for i in range(0, len(x), 65536):
            a = x[i:i + 65536].astype(np.float64)
            b = xb[i:i + 65536].to(torch.float64).numpy()
            n[i:i + 65536] = np.linalg.norm(a, axis=1)
            n_t[i:i + 65536] = np.linalg.norm(b, axis=1)
            e[i:i + 65536] = np.linalg.norm(a - b, axis=1)
        up = 1 + 1e-12
        return x, xb, n * up, n_t * up, e * up

    def tile(self, rows, c0: int, c1: int) -> np.ndarray:
        torch = self.torch
        q = self.qb[rows] if isinstance(rows, slice) else self.qb[torch.from_numpy(rows)]
        r, c = len(q), c1 - c0
        if len(self._f32) < r * c:  # one pair of buffers, reused by every tile
            self._b16, self._f32 = torch.empty(r * c, dtype=torch.bfloat16), np.empty(r * c, dtype=np.float32)
        out16 = self._b16[:r * c].view(r, c)
        torch.matmul(q, self.bb[c0:c1].T, out=out16)
        out = self._f32[:r * c].reshape(r, c)
        torch.from_numpy(out).copy_(out16)  # exact: every bfloat16 is a float32
        return out


def bf16_available() -> bool:
    """True where the CPU has bfloat16 units (AMX or AVX512_BF16) and a bfloat16 product keeps its bound.

    The check runs a small product with awkward inputs (wide magnitudes, cancellation) against float64, so a
    library or CPU that rounded otherwise than `_Bf16Product` assumes falls back to float32 instead of being
    trusted."""
    global _BF16_OK
    if _BF16_OK is None:
        _BF16_OK = False
        try:
            import torch

            if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported():
                rng = np.random.default_rng(0)
                x = (rng.standard_normal((300, 300)) * np.exp(rng.uniform(-8, 8, (300, 1)))).astype(np.float32)
                y = np.concatenate([x[:100] * -1.0001, rng.standard_normal((200, 300)).astype(np.float32)])
                y = y.astype(np.float32)
                p = _Bf16Product(x, y)
                approx = p.tile(slice(0, 300), 0, 300).astype(np.float64)
                exact = x.astype(np.float64) @ y.astype(np.float64).T
                _BF16_OK = bool((np.abs(approx - exact) <= p.abs[:, None] + p.rel * np.abs(approx)).all())
        except Exception:  # no torch build with oneDNN: the float32 path is always there
            _BF16_OK = False
    return _BF16_OK


_BF16_OK: bool | None = None


def canonical_dots(queries: np.ndarray, base: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """queries[rows[p]] . base[ids[p]] for every pair p, the one exact score every path ends with: float64, each
    product exact (float32 x float32 fits float64's 53 bits), summed in dimension order with one IEEE rounding per
    addition -- so equal vectors score equal bits wherever they sit, on any hardware."""
    out = np.empty(len(rows))
    chunk = 16384
    for p0 in range(0, len(rows), chunk):
        q = np.ascontiguousarray(queries[rows[p0:p0 + chunk]].T, dtype=np.float64)
        b = np.ascontiguousarray(base[ids[p0:p0 + chunk]].T, dtype=np.float64)
        acc, tmp = np.zeros(q.shape[1]), np.empty(q.shape[1])
        for d in range(q.shape[0]):
            np.multiply(q[d], b[d], out=tmp)
            acc += tmp
        out[p0:p0 + chunk] = acc
    return out


@dataclass
class Ranking:
    """Rank each query's base vectors by `scale * dot - offset[column]` and keep the best k (ties: lower id).
    Plain search: scale 1, no offset; CSLS: scale 2, offset r_S (the base side's mean neighbourhood similarity)."""

    k: int
    scale: float = 1.0
    offset: np.ndarray | None = None  # float64, one per base vector


def search(queries: np.ndarray, base: np.ndarray, rankings: list[Ranking], *, batch: int = 4096,
           precision: str = "auto", progress: bool = False, desc: str = "search"
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(values, ids) per ranking, each (len(queries), min(k, len(base))), best first: exact, in one pass over the
    similarity matrix whatever the number of rankings. `precision` picks the first pass: "bf16", "fp32", or
    "auto" (bfloat16 where `bf16_available`); the result is the same for all three."""
    assert all(r.scale == 1.0 and r.offset is None for r in rankings[:-1]), "a transformed ranking goes last"
    if precision == "auto":
        precision = "bf16" if bf16_available() else "fp32"
    product = (_Bf16Product if precision == "bf16" else _Fp32Product)(queries, base)
    nq, nb = len(queries), len(base)
    plans = []
    for r in rankings:
        k = min(r.k, nb)
        keep = min(k + MARGIN, nb)
        off32 = None if r.offset is None else np.asarray(r.offset, dtype=np.float32)
        plans.append((r, k, keep, _TopK(nq, keep), off32))
    rows = max(batch, 1)
    for r0 in tqdm(range(0, nq, rows), desc=desc, disable=not progress, unit="block"):
        for c0 in range(0, nb, _COLS):
            c1 = min(c0 + _COLS, nb)
            tile = product.tile(slice(r0, r0 + rows), c0, c1)
            for r, _, _, heap, off32 in plans:
                _transform(tile, r, off32, c0, c1)
                heap.add(tile, r0, c0)
    return [_select(queries, base, product, r, k, keep, heap, off32) for r, k, keep, heap, off32 in plans]


def _transform(tile: np.ndarray, r: Ranking, off32, c0: int, c1: int) -> None:
    """tile <- scale * tile - offset, in place, in float32 (one rounding: scale is a power of 2, so the product is
    exact); torch's in-place ops use all threads, numpy's one."""
    if r.scale == 1.0 and off32 is None:
        return
    import torch

    t = torch.from_numpy(tile)
    if r.scale != 1.0:
        t.mul_(r.scale)
    if off32 is not None:
        t.sub_(torch.from_numpy(off32[c0:c1]))


def _bounds(product, r: Ranking, off32) -> tuple[np.ndarray, float]:
    """(a, b): |approximate ranking value v - exact value| <= a[row] + b |v|."""
    if r.scale == 1.0 and r.offset is None:
        return product.abs + 1e-12, product.rel
    # v = fl32(scale * s~ - fl32(offset)); |s~ - s| <= abs + rel |s~| <= abs + rel size
    off_err = 0.0 if r.offset is None else float(np.abs(off32.astype(np.float64) - r.offset).max())
    a = abs(r.scale) * (product.abs + product.rel * product.size) + off_err + 1e-12
    return a, _U32 / (1 - _U32)


def _select(queries, base, product, r: Ranking, k: int, keep: int, heap: _TopK, off32):
    """The exact top k of every row from its approximate best `keep`.

    With |v~ - v| <= a + b|v~| (b < 1), f(v~) = v~ + a + b|v~| and g(v~) = v~ - a - b|v~| bound the exact value
    and both rise with v~. The row's k best approximate entries all have exact values >= g(v~_k), so an entry
    with f(v~) < g(v~_k) is beaten by k others and cannot be in the exact top k: the candidates are the entries
    with v~ >= t = f^-1(g(v~_k)). The list holds them all when its last value is below t (or it holds the whole
    row); other rows are recomputed whole against the same t."""
    vals, ids = heap.result()
    nb = len(base)
    a, b = _bounds(product, r, off32)
    vk = vals[:, k - 1].astype(np.float64)
    g = vk - a - b * np.abs(vk)
    t = np.where(g - a >= 0, (g - a) / (1 + b), (g - a) / (1 - b))
    t = t - 1e-12 * (1 + np.abs(t))  # round the threshold down: float64's own rounding keeps candidates
    t32 = t.astype(np.float32)
    t32 = np.where(t32.astype(np.float64) > t, np.nextafter(t32, np.float32(-np.inf)), t32)
    complete = np.full(len(vals), True) if keep >= nb else vals[:, keep - 1] < t32
    mask = (vals >= t32[:, None]) & complete[:, None]
    rows_c, cols_c = np.nonzero(mask)
    pair_rows, pair_ids = [rows_c], [ids[rows_c, cols_c]]
    redo = np.flatnonzero(~complete)
    if len(redo):
        rr, ii = _recompute_rows(product, r, off32, redo, t32[redo], nb)
        pair_rows.append(rr); pair_ids.append(ii)
    rows_all, ids_all = np.concatenate(pair_rows), np.concatenate(pair_ids)
    exact = canonical_dots(queries, base, rows_all, ids_all)
    if r.scale != 1.0:
        exact *= r.scale
    if r.offset is not None:
        exact -= r.offset[ids_all]
    order = np.lexsort((ids_all, -exact, rows_all))
    starts = np.concatenate([[0], np.cumsum(np.bincount(rows_all, minlength=len(vals)))[:-1]])
    take = order[starts[:, None] + np.arange(k)]
    return exact[take], ids_all[take]


def _recompute_rows(product, r: Ranking, off32, rows: np.ndarray, t32: np.ndarray, nb: int):
    """Every (row, id) with approximate value >= the row's threshold, the rows' whole similarity rows recomputed
    with the same first pass (rare: rows with more than `MARGIN` near-ties, duplicate vectors above all)."""
    out_r, out_i = [], []
    for i in range(0, len(rows), 256):
        sub = rows[i:i + 256]
        for c0 in range(0, nb, _COLS):
            c1 = min(c0 + _COLS, nb)
            tile = product.tile(sub, c0, c1)
            _transform(tile, r, off32, c0, c1)
            rr, cc = np.nonzero(tile >= t32[i:i + 256, None])
            out_r.append(sub[rr]); out_i.append(cc + c0)
    return np.concatenate(out_r), np.concatenate(out_i).astype(np.int64)
