"""`evaluate` metric module for retrieval runs with trec_eval semantics (csir / codeswitch-ir).

    import evaluate
    metric = evaluate.load("path/to/evaluation/metric/csir_retrieval.py")
    metric.compute(
        predictions=[{"query_id": "q1", "doc_ids": ["d1", "d2"], "scores": [2.0, 1.0]}],
        references=[{"query_id": "q1", "doc_ids": ["d2"], "relevance": [1]}],
        measures=["RR@10", "nDCG@10", "R@100"])
    # -> {"RR@10": 0.5, "nDCG@10": 0.63..., "R@100": 1.0, "num_queries": 1}

One row per query: its run (doc ids + scores; may be empty) and its qrels. Ranking: score descending, ties by
doc id descending; the mean is over queries with a relevant document; duplicate doc ids in a run are an error.
Any `ir_measures` name is accepted.
"""

import datasets
import evaluate

from evaluation.metrics import DEFAULT_MEASURES, evaluate_run, run_from_records

_CITATION = """@inproceedings{litschko-etal-2023-boosting,
  title = {Boosting Zero-shot Cross-lingual Retrieval by Training on Artificially Code-Switched Data},
  author = {Litschko, Robert and Artemova, Ekaterina and Plank, Barbara},
  booktitle = {Findings of ACL 2023}, year = {2023}}"""


class CsirRetrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions: per query {query_id, doc_ids, scores}; references: per query "
                               "{query_id, doc_ids, relevance}; measures: ir_measures names",
            features=datasets.Features({
                "predictions": {"query_id": datasets.Value("string"),
                                "doc_ids": datasets.Sequence(datasets.Value("string")),
                                "scores": datasets.Sequence(datasets.Value("float64"))},
                "references": {"query_id": datasets.Value("string"),
                               "doc_ids": datasets.Sequence(datasets.Value("string")),
                               "relevance": datasets.Sequence(datasets.Value("int64"))},
            }),
        )

    def _compute(self, predictions, references, measures=None, per_query=False):
        records = [(p["query_id"], d, s) for p in predictions for d, s in zip(p["doc_ids"], p["scores"])]
        run = run_from_records(records, source="predictions")
        qrels = {}
        for r in references:
            qrels.setdefault(r["query_id"], {}).update({d: int(v) for d, v in zip(r["doc_ids"], r["relevance"])})
        res = evaluate_run(qrels, run, list(measures or DEFAULT_MEASURES))
        out = dict(res.aggregate)
        out["num_queries"] = res.num_queries
        if per_query:
            out["per_query"] = res.per_query
        return out
