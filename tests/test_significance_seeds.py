"""The seed-aware test (bootstrap over seeds and queries) on synthetic runs whose answer is known."""

import numpy as np
import pytest

from evaluation.significance import bonferroni_seed_aware, seed_aware_test


def _runs(rng, difficulty, offsets, noise=0.05):
    """One {qid: score} per seed: the query's difficulty + the seed's offset + per-query noise."""
    return [{f"q{i}": float(v) for i, v in enumerate(difficulty + off + rng.normal(0, noise, len(difficulty)))}
            for off in offsets]


def test_a_seed_noisy_effect_fools_the_averaged_ttest_but_not_the_seed_aware_test():
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0.2, 0.8, 400)
    base = _runs(rng, difficulty, [0.0, 0.01, -0.01])
    model = _runs(rng, difficulty, [0.12, -0.04, 0.01])  # +0.03 on average, all of it one lucky seed
    t = seed_aware_test("de-en", "RR@10", model, base, [1, 2, 3], [1, 2, 3], n_boot=4000)
    assert t.paired_seeds and t.seeds_model == 3 and t.n_queries == 400
    assert t.delta == pytest.approx(0.03, abs=0.01)
    assert t.p_averaged_ttest < 1e-6          # per-query means over seeds: "highly significant"
    assert t.p > 0.2                          # seed noise included: nothing to claim
    assert t.ci_low < 0 < t.ci_high
    assert [round(d, 2) for d in t.seed_deltas] == pytest.approx([0.12, -0.05, 0.02], abs=0.015)


def test_a_consistent_effect_is_significant_with_a_ci_around_it():
    rng = np.random.default_rng(4)
    difficulty = rng.uniform(0.2, 0.8, 400)
    base = _runs(rng, difficulty, [0.0, 0.005, -0.005])
    model = _runs(rng, difficulty, [0.03, 0.035, 0.025])
    t = seed_aware_test("de-en", "RR@10", model, base, [1, 2, 3], [1, 2, 3], n_boot=4000)
    assert t.p < 0.001
    assert 0 < t.ci_low < 0.03 < t.ci_high < 0.06


def test_unpaired_seeds_and_missing_queries():
    rng = np.random.default_rng(5)
    difficulty = rng.uniform(0.2, 0.8, 100)
    base = _runs(rng, difficulty, [0.0, 0.0])
    model = _runs(rng, difficulty, [0.05, 0.05, 0.05])
    del model[0]["q0"]  # a query the run lost counts 0
    t = seed_aware_test("x", "RR@10", model, base, [1, 2, 3], [1, 2], n_boot=2000)
    assert not t.paired_seeds and t.seeds_baseline == 2 and t.n_queries == 100
    expected = np.mean([[r.get(f"q{i}", 0.0) for i in range(100)] for r in model]) - \
        np.mean([[r[f"q{i}"] for i in range(100)] for r in base])
    assert t.delta == pytest.approx(expected)


def test_under_the_null_the_false_positive_rate_stays_near_alpha():
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(40):
        difficulty = rng.uniform(0.2, 0.8, 150)
        offsets = lambda: rng.normal(0, 0.02, 3)  # noqa: E731 - seeds differ, setups do not
        t = seed_aware_test("x", "RR@10", _runs(rng, difficulty, offsets()), _runs(rng, difficulty, offsets()),
                            [1, 2, 3], [1, 2, 3], n_boot=400, seed=int(rng.integers(1 << 30)))
        hits += t.p < 0.05
    assert hits <= 6  # 40 x 0.05 = 2 expected; the coarse seed level makes it conservative, never liberal


def test_identical_runs_and_bonferroni():
    run = [{"a": 0.5, "b": 1.0}]
    t = seed_aware_test("x", "RR@10", run, run, n_boot=100)
    assert (t.delta, t.p, t.p_averaged_ttest) == (0.0, 1.0, 1.0)
    a = seed_aware_test("a", "RR@10", [{"q": 1.0, "r": 1.0}], [{"q": 0.0, "r": 0.0}], n_boot=200)
    b = seed_aware_test("b", "RR@10", [{"q": 1.0, "r": 1.0}], [{"q": 1.0, "r": 1.0}], n_boot=200)
    bonferroni_seed_aware([a, b])
    assert a.p_bonferroni == pytest.approx(min(1.0, 2 * a.p)) and b.p_bonferroni == 1.0
    with pytest.raises(ValueError, match="at least one run"):
        seed_aware_test("x", "RR@10", [], run)
