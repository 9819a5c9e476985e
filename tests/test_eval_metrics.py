"""Our metrics vs pytrec_eval (trec_eval) and ir_measures on graded qrels, ties and edge cases."""

import random

import ir_measures
import pytest
import pytrec_eval

from csir.errors import CsirError
from evaluation.metrics import evaluate_run, judged_queries, mteb_name, rank, run_from_records


def _fixture(seed=0, n_queries=40, n_docs=60, tie_scores=True):
    rng = random.Random(seed)
    docs = [f"d{rng.randrange(10**6):06d}" for _ in range(n_docs)]
    qrels, run = {}, {}
    for i in range(n_queries):
        q = f"q{i}"
        judged = rng.sample(docs, rng.randint(1, 6))
        qrels[q] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        retrieved = rng.sample(docs, rng.randint(0, 30))  # 0 = empty run; <100 = k larger than the run
        run[q] = {d: (round(rng.random(), 1) if tie_scores else rng.random()) for d in retrieved}
    qrels["q_norel"] = {docs[0]: 0}                         # judged, but nothing relevant: not averaged
    run["q_norel"] = {docs[0]: 1.0}
    run["q_not_in_qrels"] = {docs[1]: 0.5, docs[2]: 0.4}    # ignored
    qrels["q_missing_run"] = {docs[3]: 2}                   # no run at all: counts 0
    return qrels, run


def _pytrec(qrels, run):
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut_10", "recall_100"})
    return ev.evaluate({q: d for q, d in run.items() if d})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_query_matches_pytrec_eval_with_ties(seed):
    qrels, run = _fixture(seed)
    res = evaluate_run(qrels, run)
    ref = _pytrec(qrels, run)
    queries = judged_queries(qrels)
    assert "q_norel" not in queries and "q_missing_run" in queries
    assert res.num_queries == len(queries)
    n_ties = sum(len(set(d.values())) < len(d) for d in run.values())
    assert n_ties > 5  # the fixture really exercises the tie rule
    for q in queries:
        r = ref.get(q, {})
        assert res.per_query["nDCG@10"][q] == pytest.approx(r.get("ndcg_cut_10", 0.0), abs=1e-9)
        assert res.per_query["R@100"][q] == pytest.approx(r.get("recall_100", 0.0), abs=1e-9)
        rr = r.get("recip_rank", 0.0)
        assert res.per_query["RR@10"][q] == pytest.approx(rr if rr >= 0.1 else 0.0, abs=1e-9)
    for name, key in [("nDCG@10", "ndcg_cut_10"), ("R@100", "recall_100")]:
        expected = sum(ref.get(q, {}).get(key, 0.0) for q in queries) / len(queries)
        assert res.aggregate[name] == pytest.approx(expected, abs=1e-9)


def test_matches_ir_measures_without_ties():
    qrels, run = _fixture(5, tie_scores=False)
    res = evaluate_run(qrels, run, measures=["RR@10", "nDCG@10", "R@100", "P@5", "AP"])
    queries = judged_queries(qrels)
    for name in ["RR@10", "nDCG@10", "R@100", "P@5", "AP"]:
        ref = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.parse_measure(name)], qrels,
                                                                       {q: d for q, d in run.items() if d})}
        for q in queries:
            assert res.per_query[name][q] == pytest.approx(ref.get(q, 0.0), abs=1e-9), (name, q)
        assert res.aggregate[name] == pytest.approx(sum(ref.get(q, 0.0) for q in queries) / len(queries))


def test_tie_rule_is_doc_id_descending():
    assert rank({"a": 1.0, "c": 1.0, "b": 2.0, "d": 1.0}) == ["b", "d", "c", "a"]
    qrels = {"q": {"a": 1, "c": 2}}
    res = evaluate_run(qrels, {"q": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}})
    assert res.per_query["RR@10"]["q"] == 0.5  # order d, c, b, a
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate({"q": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}})
    assert ref["q"]["recip_rank"] == 0.5


def test_cutoff_and_graded_gain():
    qrels = {"q": {"x": 3, "y": 1}}
    run = {"q": {f"n{i:02d}": 100.0 - i for i in range(10)} | {"x": 0.5}}
    res = evaluate_run(qrels, run, measures=["RR@10", "RR@11", "nDCG@10", "R@100", "R@5"])
    assert res.per_query["RR@10"]["q"] == 0.0
    assert res.per_query["RR@11"]["q"] == pytest.approx(1 / 11)
    assert res.per_query["nDCG@10"]["q"] == 0.0
    assert res.per_query["R@100"]["q"] == 0.5 and res.per_query["R@5"]["q"] == 0.0


def test_duplicate_doc_ids_rejected():
    with pytest.raises(CsirError, match="duplicate document id 'd1' for query 'q1'"):
        run_from_records([("q1", "d1", 1.0), ("q1", "d2", 0.5), ("q1", "d1", 0.2)])
    assert run_from_records([("q1", "d1", 1.0), ("q2", "d1", 0.5)]) == {"q1": {"d1": 1.0}, "q2": {"d1": 0.5}}


def test_unknown_measure_is_a_clear_error():
    with pytest.raises(CsirError, match="unknown measure"):
        evaluate_run({"q": {"d": 1}}, {"q": {"d": 1.0}}, measures=["NotAMeasure@3"])


def test_mteb_names():
    assert [mteb_name(m) for m in ["RR@10", "nDCG@10", "R@100", "P@5", "AP"]] == [
        "mrr_at_10", "ndcg_at_10", "recall_at_100", "precision_at_5", "ap"]
