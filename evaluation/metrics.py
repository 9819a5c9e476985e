"""Retrieval metrics with trec_eval semantics, so our numbers are comparable with the paper's (ir_measures RR@10).

The rules (DESIGN.md §5), made explicit because libraries differ on them:
- ranking: score descending, ties broken by doc id descending (trec_eval's order; `ir_measures`' msmarco provider
  for RR@10 keeps input order instead, which is why we compute the core metrics ourselves and test them against
  `pytrec_eval` and `ir_measures`);
- a document is relevant when its qrels score is >= 1; nDCG uses the qrels score as the (linear) gain;
- the mean is over every qrels query with at least one relevant document; a query with no run scores 0; run
  queries absent from the qrels are ignored;
- a run with a duplicate (query, doc) pair is rejected.
Any other `ir_measures` name (e.g. `P@5`, `AP`, `nDCG@20`) is computed through `ir_measures` with the same
per-query filling and averaging.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from csir.errors import CsirError

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

DEFAULT_MEASURES = ("RR@10", "nDCG@10", "R@100")
CORE = re.compile(r"^(RR|nDCG|R)@(\d+)$")
MTEB_NAMES = {"RR": "mrr_at_{}", "nDCG": "ndcg_at_{}", "R": "recall_at_{}", "P": "precision_at_{}", "AP": "map_at_{}"}


def mteb_name(measure: str) -> str:
    """`RR@10` -> `mrr_at_10` (MTEB's score keys); other names are lower-cased with `@` -> `_at_`."""
    m = re.match(r"^([A-Za-z]+)@(\d+)$", measure)
    if m and m.group(1) in MTEB_NAMES:
        return MTEB_NAMES[m.group(1)].format(m.group(2))
    return re.sub(r"[^a-z0-9_]+", "_", measure.replace("@", "_at_").lower()).strip("_")


def run_from_records(records: Iterable[tuple[str, str, float]], source: str = "run") -> dict[str, dict[str, float]]:
    """Build a run from (query id, doc id, score) records; a duplicate pair is an error, never silently merged."""
    run: dict[str, dict[str, float]] = {}
    for i, (qid, did, score) in enumerate(records):
        docs = run.setdefault(str(qid), {})
        if str(did) in docs:
            raise CsirError(f"{source}: record {i}: duplicate document id {did!r} for query {qid!r}")
        docs[str(did)] = float(score)
    return run


def rank(docs: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval order: score descending, then doc id descending."""
    return [d for d, _ in sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def judged_queries(qrels: Qrels, rel_level: int = 1) -> list[str]:
    """The queries a mean is taken over: those with at least one relevant document."""
    return sorted(q for q, docs in qrels.items() if any(r >= rel_level for r in docs.values()))


def _core(kind: str, k: int, ranking: list[str], judged: Mapping[str, int], rel_level: int) -> float:
    top = ranking[:k]
    if kind == "RR":
        return next((1.0 / (i + 1) for i, d in enumerate(top) if judged.get(d, 0) >= rel_level), 0.0)
    if kind == "R":
        n_rel = sum(1 for r in judged.values() if r >= rel_level)
        return sum(1 for d in top if judged.get(d, 0) >= rel_level) / n_rel
    gains = [max(judged.get(d, 0), 0) for d in top]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


@dataclass
class MetricResult:
    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)  # measure -> {qid: value}
    num_queries: int = 0


def validate_measures(measures: Iterable[str]) -> list[str]:
    import ir_measures

    out = []
    for name in measures:
        if not CORE.match(name):
            try:
                ir_measures.parse_measure(name)
            except Exception as exc:  # ir_measures raises ValueError/NameError/SyntaxError on bad names
                raise CsirError(f"--metrics: unknown measure {name!r} ({exc.__class__.__name__}); "
                                "use ir_measures names like RR@10, nDCG@10, R@100, P@5, AP") from None
        out.append(name)
    return out


def evaluate_run(qrels: Qrels, run: Run, measures: Iterable[str] = DEFAULT_MEASURES, rel_level: int = 1) -> MetricResult:
    """Per-query and mean scores of `run` against `qrels` under the rules in the module docstring."""
    measures = validate_measures(measures)
    queries = judged_queries(qrels, rel_level)
    per_query: dict[str, dict[str, float]] = {}
    rankings = {q: rank(run.get(q, {})) for q in queries}
    for name in measures:
        m = CORE.match(name)
        if m:
            kind, k = m.group(1), int(m.group(2))
            per_query[name] = {q: _core(kind, k, rankings[q], qrels[q], rel_level) for q in queries}
        else:
            per_query[name] = _ir_measures(name, qrels, run, queries)
    aggregate = {name: (sum(v.values()) / len(queries) if queries else 0.0) for name, v in per_query.items()}
    return MetricResult(aggregate, per_query, len(queries))


def _ir_measures(name: str, qrels: Qrels, run: Run, queries: list[str]) -> dict[str, float]:
    import ir_measures

    measure = ir_measures.parse_measure(name)
    sub_qrels = {q: dict(qrels[q]) for q in queries}
    sub_run = {q: dict(run[q]) for q in queries if run.get(q)}
    values = {q: 0.0 for q in queries}
    if sub_run:
        for metric in ir_measures.iter_calc([measure], sub_qrels, sub_run):
            values[metric.query_id] = float(metric.value)
    return values
