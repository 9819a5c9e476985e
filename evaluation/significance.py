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
