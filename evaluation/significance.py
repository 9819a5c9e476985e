"""Paired significance tests on per-query scores (the paper: paired t-test on RR@10, Bonferroni over pairs).

Both tests pair the model's and the baseline's score on the same query; queries missing on one side count 0
(the metric rule). The randomization test flips the sign of each paired difference (scipy's permutation test,
`permutation_type="samples"`), two-sided, with a fixed seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class PairedTest:
    subset: str
    measure: str
    n: int
    mean_model: float
    mean_baseline: float
    delta: float
    t_stat: float
    p_ttest: float
    p_randomization: float
    p_ttest_bonferroni: float = 1.0
    p_randomization_bonferroni: float = 1.0
    significant: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def paired_test(subset: str, measure: str, model_scores: dict[str, float], baseline_scores: dict[str, float],
                n_resamples: int = 10000, seed: int = 0) -> PairedTest:
    from scipy import stats

    qids = sorted(set(model_scores) | set(baseline_scores))
    a = np.array([model_scores.get(q, 0.0) for q in qids], dtype=np.float64)
    b = np.array([baseline_scores.get(q, 0.0) for q in qids], dtype=np.float64)
    diff = a - b
    if len(qids) < 2 or np.allclose(diff, 0):
        t, p_t, p_r = 0.0, 1.0, 1.0
    else:
        tt = stats.ttest_rel(a, b)
        t, p_t = float(tt.statistic), float(tt.pvalue)
        if math.isnan(p_t):  # constant non-zero difference: the t statistic is infinite
            p_t = 0.0
        perm = stats.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
                                      n_resamples=n_resamples, alternative="two-sided",
                                      rng=np.random.default_rng(seed))
        p_r = float(perm.pvalue)
    return PairedTest(subset, measure, len(qids), float(a.mean()) if len(a) else 0.0,
                      float(b.mean()) if len(b) else 0.0, float(diff.mean()) if len(diff) else 0.0, t, p_t, p_r)


def bonferroni(tests: list[PairedTest], alpha: float = 0.05) -> list[PairedTest]:
    """Correct over the number of compared pairs (per measure); `significant` uses the corrected t-test p."""
    by_measure: dict[str, list[PairedTest]] = {}
    for t in tests:
        by_measure.setdefault(t.measure, []).append(t)
    for group in by_measure.values():
        m = len(group)
        for t in group:
            t.p_ttest_bonferroni = min(1.0, t.p_ttest * m)
            t.p_randomization_bonferroni = min(1.0, t.p_randomization * m)
            t.significant = t.p_ttest_bonferroni < alpha
    return tests


def compare(results: list[dict], baseline: list[dict], measures: list[str], alpha: float = 0.05,
            seed: int = 0) -> list[PairedTest]:
    """Paired tests for every (task, subset) present in both result sets, Bonferroni-corrected."""
    base = {(r["task_name"], r["subset"]): r for r in baseline}
    tests = []
    for r in results:
        b = base.get((r["task_name"], r["subset"]))
        if b is None:
            continue
        for m in measures:
            if m in r.get("per_query", {}) and m in b.get("per_query", {}):
                tests.append(paired_test(f"{r['task_name']}/{r['subset']}", m, r["per_query"][m], b["per_query"][m],
                                         seed=seed))
    return bonferroni(tests, alpha)


@dataclass
class SeedAwareTest:
    """Model vs baseline over several training seeds: the effect, its 95% CI and a p-value that includes seed noise.

    `delta` = mean over seeds and queries of (model - baseline); `ci_low`/`ci_high` = bootstrap percentile interval;
    `p` = two-sided bootstrap p (centred replicates at least as far from `delta` as `delta` is from 0);
    `p_averaged_ttest` = the old test (per-query scores averaged over seeds, paired t-test), kept for comparison;
    `seed_deltas` = the per-seed paired deltas (seed-paired when both sides ran the same seeds).
    """

    subset: str
    measure: str
    n_queries: int
    seeds_model: int
    seeds_baseline: int
    mean_model: float
    mean_baseline: float
    delta: float
    ci_low: float
    ci_high: float
    p: float
    p_averaged_ttest: float
    seed_deltas: list[float]
    paired_seeds: bool
    p_bonferroni: float = 1.0
    significant: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _score_matrix(runs: list[dict[str, float]], qids: list[str]) -> np.ndarray:
    return np.array([[r.get(q, 0.0) for q in qids] for r in runs], dtype=np.float64)


def _seed_weights(rng, n_boot: int, n_seeds: int) -> np.ndarray:
    """Multinomial resampling weights over seeds (rows sum to 1): the seed level of the bootstrap."""
    return rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot) / n_seeds


def seed_aware_test(subset: str, measure: str, model_runs: list[dict[str, float]],
                    baseline_runs: list[dict[str, float]], model_seeds: list[int] | None = None,
                    baseline_seeds: list[int] | None = None, n_boot: int = 10_000, seed: int = 0,
                    alpha: float = 0.05) -> SeedAwareTest:
    """Two-level bootstrap over training seeds AND queries (Efron & Tibshirani's hierarchical resampling).

    Every replicate redraws the seeds (with replacement; jointly for both sides when they ran the same seeds, so
    the pairing by seed survives; independently otherwise) and, independently, the queries (paired: one draw for
    both sides). A difference that rests on one lucky seed then shows up as a wide interval and a large p, which
    averaging per-query scores over seeds before a t-test hides. Queries missing in a run count 0 (the metric
    rule). With few seeds the seed level is coarse (3 seeds give 10 distinct draws), which errs on the side of
    calling a seed-noisy effect not significant.
    """
    from scipy import stats

    if not model_runs or not baseline_runs:
        raise ValueError(f"{subset}: seed_aware_test needs at least one run on each side")
    qids = sorted(set().union(*model_runs, *baseline_runs))
    m, b = _score_matrix(model_runs, qids), _score_matrix(baseline_runs, qids)
    paired = (model_seeds is not None and baseline_seeds is not None
              and sorted(model_seeds) == sorted(baseline_seeds) and len(set(model_seeds)) == len(model_seeds))
    if paired:
        b = b[[list(baseline_seeds).index(s) for s in model_seeds]]
        seed_deltas = (m - b).mean(axis=1)
    else:
        seed_deltas = m.mean(axis=1) - b.mean()
    delta = float(m.mean() - b.mean())
    mq, bq = m.mean(axis=0), b.mean(axis=0)
    diff_q = mq - bq
    if len(qids) < 2 or np.allclose(diff_q, 0):
        p_avg = 1.0
    elif np.allclose(diff_q, diff_q[0]):  # a constant non-zero difference: infinite t
        p_avg = 0.0
    else:
        p_avg = float(stats.ttest_rel(mq, bq).pvalue)
        p_avg = 0.0 if math.isnan(p_avg) else p_avg
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(len(qids), 1))
    for start in range(0, n_boot, chunk):
        n = min(chunk, n_boot - start)
        wq = rng.multinomial(len(qids), np.full(len(qids), 1 / len(qids)), size=n) / len(qids)  # (n, Q)
        if paired:
            ws = _seed_weights(rng, n, len(m))
            per_q = ws @ (m - b)  # (n, Q): seed-resampled paired differences per query
        else:
            per_q = _seed_weights(rng, n, len(m)) @ m - _seed_weights(rng, n, len(b)) @ b
        reps[start:start + n] = (per_q * wq).sum(axis=1)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    if np.allclose(reps, delta) and abs(delta) < 1e-12:
        p = 1.0
    else:  # centred bootstrap: how often a replicate strays from delta by at least |delta| (the null's distance)
        p = float((np.sum(np.abs(reps - delta) >= abs(delta)) + 1) / (n_boot + 1))
    return SeedAwareTest(subset, measure, len(qids), len(m), len(b), float(m.mean()), float(b.mean()), delta,
                         float(lo), float(hi), min(1.0, p), p_avg, [float(x) for x in seed_deltas], paired)


def bonferroni_seed_aware(tests: list[SeedAwareTest], alpha: float = 0.05) -> list[SeedAwareTest]:
    """Bonferroni over the compared pairs (per measure): p x m, significant when below alpha."""
    by_measure: dict[str, list[SeedAwareTest]] = {}
    for t in tests:
        by_measure.setdefault(t.measure, []).append(t)
    for group in by_measure.values():
        for t in group:
            t.p_bonferroni = min(1.0, t.p * len(group))
            t.significant = t.p_bonferroni < alpha
    return tests
