"""The CLWE search (builders.lexicons.knn): a reduced-precision first pass plus exact rescoring must give exactly
what ranking the whole canonical similarity matrix gives, ties included, whichever first pass runs and however
the matrix is tiled; and the first pass's error must stay inside the bound the pruning relies on."""

import numpy as np
import pytest

import builders.lexicons.knn as knn
from builders.lexicons.clwe import induce

PRECISIONS = ["fp32", pytest.param("bf16", marks=pytest.mark.skipif(
    not knn.bf16_available(), reason="no bfloat16 units on this CPU (the float32 first pass is used)"))]


def _spaces(seed: int, n: int, m: int, d: int, kind: str):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.normal(size=(m, d)).astype(np.float32)
    y[m // 2:m // 2 + 12] = y[:12]  # duplicate targets: exact ties
    x[n // 2:n // 2 + 5] = x[:5]  # duplicate sources
    if kind == "unit":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
    elif kind == "coarse":  # values on a grid of quarters: many exact ties everywhere
        x, y = np.round(x * 4) / 4, np.round(y * 4) / 4
    elif kind == "near":  # near-duplicates, closer than bfloat16 can tell apart
        y[1:40] = y[0] + 1e-4 * rng.normal(size=(39, d)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)


def _top(m: np.ndarray, k: int):
    order = np.lexsort((np.broadcast_to(np.arange(m.shape[1]), m.shape), -m), axis=1)[:, :k]
    return np.take_along_axis(m, order, axis=1), order


def _mean(v: np.ndarray) -> np.ndarray:
    acc = v[:, 0].copy()
    for c in range(1, v.shape[1]):
        acc += v[:, c]
    return acc / v.shape[1]


def _brute_force(x, y, method: str, k: int, csls_k: int) -> list[tuple[str, str, float]]:
    """Rank the whole canonical matrix: the definition the search must reproduce."""
    n, m = len(x), len(y)
    sims = knn.canonical_dots(x, y, np.repeat(np.arange(n), m), np.tile(np.arange(m), n)).reshape(n, m)
    if method == "nn":
        vals, ids = _top(sims, k)
    else:
        r_t = _mean(_top(sims.T.copy(), csls_k)[0])
        r_s = _mean(_top(sims, csls_k)[0])
        vals, ids = _top(2 * sims - r_t[None, :], k)
        vals = vals - r_s[:, None]
    return [(f"s{i}", f"t{j}", round(float(v), 6)) for i in range(n) for v, j in zip(vals[i], ids[i])]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("method", ["nn", "csls"])
@pytest.mark.parametrize("kind", ["unit", "coarse", "near"])
def test_search_equals_ranking_the_whole_matrix(method, kind, precision, monkeypatch):
    x, y = _spaces(11, 97, 131, 24, kind)
    sw, tw = [f"s{i}" for i in range(len(x))], [f"t{i}" for i in range(len(y))]
    for k in (1, 3):
        want = _brute_force(x, y, method, k, 5)
        for first, cols, batch in ((2048, 8192, 4096), (4, 9, 13), (1, 50, 1)):  # one tile; many small ones
            monkeypatch.setattr(knn, "_FIRST", first)
            monkeypatch.setattr(knn, "_COLS", cols)
            got = induce(sw, x, tw, y, method=method, k=k, csls_k=5, batch_size=batch, progress=False,
                         precision=precision)
            assert got == want, (k, first, cols, batch)


def test_first_passes_agree_and_scores_are_exact():
    """bfloat16, float32 and auto give byte-identical output; the scores are float64 products to 1e-12."""
    x, y = _spaces(5, 150, 170, 40, "unit")
    sw, tw = [f"s{i}" for i in range(len(x))], [f"t{i}" for i in range(len(y))]
    runs = {p: induce(sw, x, tw, y, method="nn", k=4, progress=False, precision=p) for p in ("auto", "fp32", "bf16")}
    assert runs["auto"] == runs["fp32"] == runs["bf16"]
    sims = x.astype(np.float64) @ y.astype(np.float64).T
    ids = np.array([int(t[1:]) for _, t, _ in runs["fp32"]]).reshape(len(x), 4)
    best = -np.sort(-sims, axis=1)[:, :4]
    assert np.abs(np.take_along_axis(sims, ids, axis=1) - best).max() < 1e-12
    for i, row in enumerate(ids):  # of two duplicate targets, the lower id comes first
        for j in row:
            if 85 <= j < 97:
                assert j - 85 in row and list(row).index(j - 85) < list(row).index(j)


@pytest.mark.skipif(not knn.bf16_available(), reason="no bfloat16 units on this CPU")
def test_bfloat16_error_stays_inside_its_bound():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(400, 300)) * np.exp(rng.uniform(-6, 6, (400, 1)))).astype(np.float32)
    y = np.concatenate([x[:100] * np.float32(-1.5), rng.normal(size=(300, 300))]).astype(np.float32)
    p = knn._Bf16Product(x, y)
    approx = p.decode(p.tile(0, len(x), 0, len(y))).astype(np.float64)
    exact = x.astype(np.float64) @ y.astype(np.float64).T
    err, bound = np.abs(approx - exact), p.abs[:, None] + p.rel * np.abs(approx)
    assert (err <= bound).all()
    assert (err / bound).max() > 0.05  # and the bound is not loose by orders of magnitude
    unit = knn._Bf16Product(*(v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x, y)))
    assert unit.abs.max() < 0.01 and unit.rel < 0.004  # tight enough to prune: cosines of unit vectors


def test_keys_keep_every_value_above_a_threshold():
    """bfloat16 keys (int16 bit patterns) and float32 thresholds never drop a value at or above t."""
    rng = np.random.default_rng(4)
    vals = np.concatenate([rng.normal(size=5000), [0.0, -0.0, 1e-40, -1e-40, 3e38]]).astype(np.float32)
    import torch

    bits = torch.from_numpy(vals).to(torch.bfloat16).view(torch.int16).numpy()
    v16 = knn._Bf16Product.decode(bits)
    assert (v16.astype(np.float64) == torch.from_numpy(vals).to(torch.bfloat16).double().numpy()).all()
    for t in np.concatenate([rng.normal(size=200), [0.0, -np.inf, 1e-39, -1e-39]]):
        t_arr = np.array([t])
        assert (bits[v16 >= t] >= knn._Bf16Product.key(t_arr)[0]).all()
        assert (vals[vals >= t] >= knn._Fp32Product.key(t_arr)[0]).all()


class _NoisyProduct(knn._Fp32Product):
    """A first pass as bad as a bound allows: every score off by +-0.999 E (a fixed random sign per entry), and E
    declared in the bound. Real first passes err far less than their bounds, so only this adversary shows that
    the pruning uses the whole bound (with any part of it dropped, the true best is sometimes lost)."""

    E = 0.02

    def __init__(self, queries, base, perm=None):
        super().__init__(queries, base, perm)
        self.abs = self.abs + self.E
        self.size = self.size + self.E
        rng = np.random.default_rng(len(queries) * 7919 + len(base))
        self.noise = (rng.choice([-1.0, 1.0], size=(len(queries), len(base))) * 0.999 * self.E).astype(np.float32)

    def tile(self, r0, r1, c0, c1):
        out = super().tile(r0, r1, c0, c1)
        out += self.noise[r0:r1, c0:c1]
        return out


@pytest.mark.parametrize("method", ["nn", "csls"])
def test_pruning_survives_a_first_pass_as_wrong_as_its_bound(method, monkeypatch):
    x, y = _spaces(8, 120, 150, 16, "unit")
    y[60:90] = y[90:120] + 0.004 * np.random.default_rng(1).normal(size=(30, 16)).astype(np.float32)  # close calls
    sw, tw = [f"s{i}" for i in range(len(x))], [f"t{i}" for i in range(len(y))]
    monkeypatch.setattr(knn, "_Fp32Product", _NoisyProduct)
    for k in (1, 4):
        want = _brute_force(x, y, method, k, 5)
        for first, cols in ((2048, 8192), (4, 11)):
            monkeypatch.setattr(knn, "_FIRST", first)
            monkeypatch.setattr(knn, "_COLS", cols)
            assert induce(sw, x, tw, y, method=method, k=k, csls_k=5, batch_size=16, progress=False,
                          precision="fp32") == want, (k, first, cols)
