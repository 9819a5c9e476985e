"""Exact k-best inner-product search between two embedding spaces, at vocabulary scale (CLWE induction).

Why two stages: a 200k x 200k x 300 similarity matrix is 2.4e13 flops, about 5 CPU minutes in float32 (numpy's
sgemm, already near this CPU's float32 peak), while bfloat16 on the CPU's AMX units (torch -> oneDNN) runs ~8x
faster but rounds. So a first pass in bfloat16 goes over the matrix tile by tile (never held whole) and keeps,
per row, every entry that could still belong to the exact top k, judged by a proven bound on its error
(`_Bf16Product`) against the row's k-th best approximate value so far; those few candidates are rescored exactly.
The threshold only rises as the pass goes on, so each tile costs a row maximum and, for the rare rows above their
threshold, one comparison per entry -- no heap, no fixed candidate count, no second look at a row.

"Exact" is one definition (`canonical_dots`: float64, products exact, summed in dimension order), so the result
does not depend on which first pass ran -- bfloat16 where the CPU has bfloat16 units, numpy's float32 sgemm with
its own (much smaller) bound elsewhere -- nor on the BLAS, the tiling or the thread count: ties left after exact
scoring are broken by the lower id.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

_COLS = 8192  # columns per tile: a 4096 x 8192 tile is 64 MB in bfloat16, 128 MB in float32
_FIRST = 2048  # columns of a row block's first tile, which sets the first thresholds
_U32, _U64, _UBF16 = 2.0 ** -24, 2.0 ** -53, 2.0 ** -8  # unit roundoffs
_TINY = 2.0 ** -100  # covers flush-to-zero of subnormal inputs, products and sums (each < 2**-126)


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): bounds the relative error of any n-term floating-point sum."""
    return n * u / (1 - n * u)


_ROWS = 8192  # rows per chunk when measuring norms: float64 copies of a few MB, never of a whole space


def _norms(x: np.ndarray) -> np.ndarray:
    """Euclidean norms in float64, rounded up (1e-12 relative covers float64's own rounding)."""
    out = np.empty(len(x))
    for i in range(0, len(x), _ROWS):
        out[i:i + _ROWS] = np.linalg.norm(x[i:i + _ROWS].astype(np.float64), axis=1)
    return out * (1 + 1e-12)


def _down32(t: np.ndarray) -> np.ndarray:
    """float64 -> the largest float32 not above it (a threshold that keeps everything the float64 one keeps)."""
    t32 = t.astype(np.float32)
    return np.where(t32.astype(np.float64) > t, np.nextafter(t32, np.float32(-np.inf)), t32)


class _Fp32Product:
    """Approximate scores from numpy's float32 sgemm (any kernel, any summation order); keys are the scores.

    Bound: a float32 sum of n terms errs by at most gamma_n times the sum of the terms' absolute values (Higham,
    Accuracy and Stability, 3.1), products included (n = D + 64 leaves room for a non-FMA product's rounding
    and a kernel's zero padding), and that sum is at most ||x|| ||y|| (Cauchy-Schwarz). The canonical float64
    score is itself within gamma_D(float64) ||x|| ||y|| of the real value."""

    name = "float32"
    rel = 0.0  # error term proportional to |approximate score|: none (no output rounding)

    def __init__(self, queries: np.ndarray, base: np.ndarray, perm: np.ndarray | None = None):
        self.queries, self.base = queries, base if perm is None else base[perm]  # columns in `perm` order
        nq, nb = _norms(queries), _norms(base)
        dim = queries.shape[1]
        eps = _gamma(dim + 64, _U32) + _gamma(dim + 1, _U64)
        self.abs = eps * nq * nb.max() + _TINY * (dim + 64) * (1 + nq + nb.max())  # per query row
        self.size = nq * nb.max() * (1 + 2 * eps) + _TINY  # bounds |approximate score| per query row
        self._buf = np.empty(0, dtype=np.float32)

    def tile(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        n = (r1 - r0) * (c1 - c0)
        if len(self._buf) < n:  # one buffer, reused by every tile
            self._buf = np.empty(n, dtype=np.float32)
        out = self._buf[:n].reshape(r1 - r0, c1 - c0)
        np.matmul(self.queries[r0:r1], self.base[c0:c1].T, out=out)
        return out

    @staticmethod
    def key(t: np.ndarray) -> np.ndarray:
        return _down32(t)

    @staticmethod
    def decode(keys: np.ndarray) -> np.ndarray:
        return keys


class _Bf16Product:
    """Approximate scores from bfloat16 inputs on oneDNN (AMX where the CPU has it), float32 accumulation,
    bfloat16 output; a tile's keys are its bfloat16 bit patterns as int16, which order positive values as the
    values do, so a threshold test is one int16 comparison (and a row's maximum one int16 reduction).

    Bound, with x~, y~ the bfloat16 vectors actually used: |x.y - x~.y~| <= ||x - x~|| ||y~|| + ||x|| ||y - y~||
    (the residual norms are measured, not assumed); x~_i y~_i is exact in float32 (8 + 8 significand bits) and
    their float32 sum, in any order, errs by at most gamma_n ||x~|| ||y~||; rounding the sum to bfloat16 (round
    to nearest even) changes it by at most u/(1-u) of the result, u = 2**-8: `rel` times |approximate score|."""

    name = "bfloat16"
    rel = _UBF16 / (1 - _UBF16)

    def __init__(self, queries: np.ndarray, base: np.ndarray, perm: np.ndarray | None = None):
        import torch

        self.torch = torch
        self.qb, nq, nq_t, eq = self._prepare(queries)
        self.bb, nb, nb_t, eb = self._prepare(base)  # only the base's largest norms are used: order-free
        if perm is not None:  # columns in `perm` order
            self.bb = self.bb[torch.from_numpy(perm)]
        dim = queries.shape[1]
        g = _gamma(dim + 64, _U32)
        self.abs = (eq * nb_t.max() + nq * eb.max() + g * nq_t * nb_t.max() + _gamma(dim + 1, _U64) * nq * nb.max()
                    + _TINY * (dim + 64) * (1 + nq_t + nb_t.max()))
        self.size = nq_t * nb_t.max() * (1 + g) / (1 - _UBF16) + _TINY
        self._b16 = torch.empty(0, dtype=torch.bfloat16)

    def _prepare(self, x: np.ndarray):
        """(x in bfloat16, ||x||, ||x~||, ||x - x~||), in chunks: no float64 copy of the whole space."""
        torch = self.torch
        xb = torch.from_numpy(x).to(torch.bfloat16)
        n, n_t, e = np.empty(len(x)), np.empty(len(x)), np.empty(len(x))
        for i in range(0, len(x), _ROWS):
            a = x[i:i + _ROWS].astype(np.float64)
            b = xb[i:i + _ROWS].to(torch.float64).numpy()
            n[i:i + _ROWS] = np.linalg.norm(a, axis=1)
            n_t[i:i + _ROWS] = np.linalg.norm(b, axis=1)
            e[i:i + _ROWS] = np.linalg.norm(a - b, axis=1)
        up = 1 + 1e-12
        return xb, n * up, n_t * up, e * up

    def tile(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        n = (r1 - r0) * (c1 - c0)
        if len(self._b16) < n:  # one buffer, reused by every tile
            self._b16 = self.torch.empty(n, dtype=self.torch.bfloat16)
        out = self._b16[:n].view(r1 - r0, c1 - c0)
        self.torch.matmul(self.qb[r0:r1], self.bb[c0:c1].T, out=out)
        return out.view(self.torch.int16).numpy()

    @staticmethod
    def key(t: np.ndarray) -> np.ndarray:
        """The int16 key every score >= t reaches: t rounded down to bfloat16; for t <= 0 the least key (all
        pass: negative scores' keys do not follow their values)."""
        t32 = _down32(np.maximum(t, 0.0))
        k = (t32.view(np.int32) >> 16).astype(np.int16)  # truncating a positive float rounds it down
        return np.where(t > 0, k, np.int16(-32768))

    @staticmethod
    def decode(keys: np.ndarray) -> np.ndarray:
        return (keys.astype(np.int32) << 16).view(np.float32)  # exact: every bfloat16 is a float32


def bf16_available() -> bool:
    """True where the CPU has bfloat16 units (AMX or AVX512_BF16) and a bfloat16 product keeps its bound.

    The check runs a small product with awkward inputs (magnitudes over 7 decades) against float64, so a library
    or CPU that rounded otherwise than `_Bf16Product` assumes falls back to float32 instead of being trusted."""
    global _BF16_OK
    if _BF16_OK is None:
        _BF16_OK = False
        try:
            import torch

            if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported():
                rng = np.random.default_rng(0)
                x = (rng.standard_normal((300, 300)) * np.exp(rng.uniform(-8, 8, (300, 1)))).astype(np.float32)
                y = (x[::-1] + 0.01 * rng.standard_normal((300, 300))).astype(np.float32)
                p = _Bf16Product(x, y)
                approx = p.decode(p.tile(0, 300, 0, 300)).astype(np.float64)
                exact = x.astype(np.float64) @ y.astype(np.float64).T
                _BF16_OK = bool((np.abs(approx - exact) <= p.abs[:, None] + p.rel * np.abs(approx)).all())
        except Exception:  # no torch build with oneDNN: the float32 path is always there
            _BF16_OK = False
    return _BF16_OK


_BF16_OK: bool | None = None


def canonical_dots(queries: np.ndarray, base: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """queries[rows[p]] . base[ids[p]] for every pair p, the one exact score every path ends with: float64, each
    product exact (float32 x float32 fits float64's 53 bits), summed by numpy's pairwise summation (`add.reduce`
    along a contiguous row: an order fixed by the length alone) -- so equal vectors score equal bits wherever
    they sit, whatever the BLAS or the CPU."""
    out = np.empty(len(rows))
    chunk = 2048
    prod = np.empty((min(chunk, len(rows)), queries.shape[1]))
    for p0 in range(0, len(rows), chunk):
        r, i = rows[p0:p0 + chunk], ids[p0:p0 + chunk]
        m = prod[:len(r)]
        np.multiply(queries[r], base[i], out=m, dtype=np.float64)
        np.add.reduce(m, axis=1, out=out[p0:p0 + len(r)])
    return out


@dataclass
class Ranking:
    """Rank each query's base vectors by `scale * dot - offset[column]` and keep the best k (ties: lower id).
    Plain search: scale 1, no offset; CSLS: scale 2, offset r_S (the base side's mean neighbourhood similarity)."""

    k: int
    scale: float = 1.0  # 1 or 2: doubling is exact in floating point
    offset: np.ndarray | None = None  # float64, one per base vector

    def __post_init__(self):
        assert self.scale in (1.0, 2.0)


class _Rows:
    """One ranking's running state for a slice of query rows: the k best approximate values so far, the
    candidate threshold they imply, and the (row, column, value) entries at or above it when seen.

    With |v~ - v| <= a + b|v~| (b < 1), f(v~) = v~ + a + b|v~| and g(v~) = v~ - a - b|v~| bound the exact value
    and both rise with v~. The k best approximate entries all have exact values >= g(v~_k), so an entry with
    f(v~) < g(v~_k) is beaten by k others and cannot be in the exact top k: only entries with
    v~ >= t = f^-1(g(v~_k)) are kept. v~_k only rises as tiles come in, so an earlier t is never too high."""

    def __init__(self, rank: Ranking, k: int, a: np.ndarray, b: float, off32, size: np.ndarray):
        self.rank, self.k, self.a, self.b, self.off32 = rank, k, a, b, off32
        if off32 is not None:  # see `_consume`; size bounds |approximate dot| per row
            self.slack = 2.0 ** -22 * (rank.scale * size + float(np.abs(off32).max())) + _TINY
        self.best = np.full((len(a), k), -np.inf, dtype=np.float32)
        self.t = np.full(len(a), -np.inf)
        self.t32 = _down32(self.t)
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def values(self, s: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The ranking's approximate values from approximate dot products: float32, one rounding."""
        if self.off32 is None:
            return s
        return np.float32(self.rank.scale) * s - self.off32[cols]

    def threshold(self, rows=slice(None)) -> None:
        vk = self.best[rows, self.k - 1].astype(np.float64)
        a = self.a[rows]
        g = vk - a - self.b * np.abs(vk)
        with np.errstate(invalid="ignore"):
            t = np.where(g - a >= 0, (g - a) / (1 + self.b), (g - a) / (1 - self.b))
        t = t - 1e-12 * (1 + np.abs(t))  # round down: float64's own rounding never drops a candidate
        self.t[rows], self.t32[rows] = t, _down32(t)

    def first(self, v: np.ndarray, c0: int) -> None:
        """The first tile (every row, all values): the k best by partial sort, then everything above t."""
        top = -np.partition(-v, self.k - 1, axis=1)[:, :self.k] if v.shape[1] > self.k else v.copy()
        self.best[:] = -np.sort(-top, axis=1)
        self.threshold()
        flat = np.flatnonzero(v >= self.t32[:, None])
        self.kept.append((flat // v.shape[1], flat % v.shape[1] + c0, v.ravel()[flat]))

    def add(self, rows: np.ndarray, cols: np.ndarray, s: np.ndarray) -> None:
        """Entries that passed a tile's key test: keep those above t, fold them into the k best."""
        v = self.values(s, cols)
        ok = v >= self.t32[rows]
        if not ok.any():
            return
        rows, cols, v = rows[ok], cols[ok], v[ok]
        self.kept.append((rows, cols, v))
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows come sorted
        u, counts = rows[starts], np.diff(np.r_[starts, len(rows)])
        k = self.k
        if counts.max() <= 128:  # a row of the k best and this tile's entries, padded; its k largest
            m = np.full((len(u), k + counts.max()), -np.inf, dtype=np.float32)
            m[:, :k] = self.best[u]
            m[np.repeat(np.arange(len(u)), counts), k + np.arange(len(rows)) - np.repeat(starts, counts)] = v
            self.best[u] = m.max(axis=1, keepdims=True) if k == 1 else -np.sort(-m, axis=1)[:, :k]
        else:
            r = np.concatenate([np.repeat(u, k), rows])
            x = np.concatenate([self.best[u].ravel(), v])
            order = np.lexsort((-x, r))
            self.best[u] = x[order[np.searchsorted(r[order], u)[:, None] + np.arange(k)]]
        self.threshold(u)

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every kept entry still above the final threshold."""
        rows, cols, v = (np.concatenate(x) for x in zip(*self.kept))
        ok = v >= self.t32[rows]
        return rows[ok], cols[ok]


def _bounds(product, r: Ranking, offset, off32) -> tuple[np.ndarray, float]:
    """(a, b): |approximate ranking value v - exact value| <= a[row] + b |v| (offset: float64, off32: float32,
    both in the product's column order)."""
    if r.offset is None and r.scale == 1.0:
        return product.abs + 1e-12, product.rel
    # v = fl32(scale * s~ - fl32(offset)), s~ within abs + rel |s~| <= abs + rel size of the exact dot
    off_err = 0.0 if r.offset is None else float(np.abs(off32.astype(np.float64) - offset).max())
    a = r.scale * (product.abs + product.rel * product.size) + off_err + 1e-12
    return a, _U32 / (1 - _U32)


def search(queries: np.ndarray, base: np.ndarray, rankings: list[Ranking], *, batch: int = 4096,
           precision: str = "auto", progress: bool = False, desc: str = "search", threads: int | None = None
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(values, ids) per ranking, each (len(queries), min(k, len(base))), best first: exact, in one pass over the
    similarity matrix whatever the number of rankings (at most one with an offset). `precision` picks the first
    pass: "bf16", "fp32", or "auto" (bfloat16 where `bf16_available`); the result is the same for all three."""
    import torch

    if precision == "auto":
        precision = "bf16" if bf16_available() else "fp32"
    assert sum(r.offset is not None for r in rankings) <= 1
    nq, nb = len(queries), len(base)
    # base columns in offset order: a tile's offsets then span a narrow range, so its key test is tight
    offset = next((r.offset for r in rankings if r.offset is not None), None)
    perm = np.argsort(offset, kind="stable") if offset is not None else None
    product = (_Bf16Product if precision == "bf16" else _Fp32Product)(queries, base, perm)
    ks = [min(r.k, nb) for r in rankings]
    offs = [None if r.offset is None else np.asarray(r.offset[perm], dtype=np.float32) for r in rankings]
    bounds = [_bounds(product, r, None if o is None else r.offset[perm], o) for r, o in zip(rankings, offs)]
    rows = max(batch, 1)
    threads = threads or torch.get_num_threads()
    found: list[list] = [[] for _ in rankings]
    with ThreadPoolExecutor(threads) as pool:
        for r0 in tqdm(range(0, nq, rows), desc=desc, disable=not progress, unit="block"):
            r1 = min(r0 + rows, nq)
            # row slices, one per thread: numpy's reductions run on one core each
            cuts = np.linspace(r0, r1, min(threads, r1 - r0) + 1).astype(int)
            parts = [[_Rows(r, k, a[p0:p1], b, o, product.size[p0:p1])
                      for r, k, (a, b), o in zip(rankings, ks, bounds, offs)]
                     for p0, p1 in zip(cuts[:-1], cuts[1:])]
            w0 = min(nb, max(_FIRST, max(ks)))
            keys = product.tile(r0, r1, 0, w0)
            list(pool.map(lambda p: _first(product, keys, p[0] - r0, p[1] - r0, p[2]),
                          zip(cuts[:-1], cuts[1:], parts)))
            c0 = w0
            while c0 < nb:  # tiles double up to _COLS wide: each holds about as many entries above the
                c1 = min(c0 + min(_COLS, c0), nb)  # thresholds as all before it together
                keys = product.tile(r0, r1, c0, c1)
                list(pool.map(lambda p: _consume(product, keys, p[0] - r0, p[1] - r0, p[2], c0, c1),
                              zip(cuts[:-1], cuts[1:], parts)))
                c0 = c1
            for p0, part in zip(cuts[:-1], parts):
                for i, st in enumerate(part):
                    rr, cc = st.candidates()
                    found[i].append((rr + p0, cc))
    out = []
    for i, (r, k) in enumerate(zip(rankings, ks)):
        rows_all = np.concatenate([x for x, _ in found[i]]).astype(np.int64)
        ids_all = np.concatenate([y for _, y in found[i]]).astype(np.int64)
        if perm is not None:
            ids_all = perm[ids_all]
        out.append(_exact_top(queries, base, r, k, rows_all, ids_all, nq))
    return out


def _first(product, keys: np.ndarray, a: int, b: int, states: list[_Rows]) -> None:
    s = product.decode(keys[a:b])
    for st in states:
        st.first(st.values(s, np.arange(s.shape[1])), 0)


_CHUNK = 1024  # columns per maximum: a row's chunk is compared entry by entry only when its maximum passes


def _consume(product, keys: np.ndarray, a: int, b: int, states: list[_Rows], c0: int, c1: int) -> None:
    """One tile for one row slice: the (row, chunk) whose maximum key reaches the row's lowest threshold of any
    ranking are compared entry by entry; their passing entries go to every ranking."""
    block = keys[a:b]
    tau = np.full(b - a, np.inf)
    for st in states:
        t = st.t32.astype(np.float64)  # what `add` compares with
        if st.off32 is not None:
            # fl32(scale s - c) >= t needs scale s - c >= t - u32 |scale s - c| (one rounding), so
            # s >= (t + least c of the tile - slack) / scale, slack >= u32 (scale |s| + |c|)
            t = (t + float(st.off32[c0:c1].min()) - st.slack) / st.rank.scale
            t = t - 1e-12 * (1 + np.abs(t))
        tau = np.minimum(tau, t)
    kt = product.key(tau)
    width = block.shape[1]
    cw = min(_CHUNK, width)
    n_chunks = -(-width // cw)
    if width % cw:  # a last, narrower tile: pad to whole chunks (with the least key; dropped below)
        least = -np.inf if block.dtype == np.float32 else np.iinfo(np.int16).min
        padded = np.full((block.shape[0], n_chunks * cw), least, dtype=block.dtype)
        padded[:, :width] = block
        block = padded
    chunks = block.reshape(block.shape[0], n_chunks, cw)
    hr, hc = np.nonzero(chunks.max(axis=2) >= kt[:, None])
    if not len(hr):
        return
    seg = chunks[hr, hc]  # (hits, cw)
    flat = np.flatnonzero(seg >= kt[hr, None])
    h = flat // cw
    rows, cols = hr[h], hc[h] * cw + flat % cw
    keep = cols < width
    rows, cols, flat = rows[keep], cols[keep] + c0, flat[keep]
    s = product.decode(seg.ravel()[flat])
    for st in states:
        st.add(rows, cols, s)


def _exact_top(queries, base, r: Ranking, k: int, rows: np.ndarray, ids: np.ndarray, nq: int):
    """Rescore the candidates canonically and keep each row's k best (ties: lower id)."""
    exact = canonical_dots(queries, base, rows, ids)
    if r.scale != 1.0:
        exact *= r.scale
    if r.offset is not None:
        exact -= r.offset[ids]
    order = np.lexsort((ids, -exact, rows))
    starts = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=nq))[:-1]])
    take = order[starts[:, None] + np.arange(k)]
    return exact[take], ids[take]
