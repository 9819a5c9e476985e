"""An evaluator object in the sentence-transformers style: `evaluator(model) -> {metric: value}`.

Why an object: `csir evaluate` and training (`eval_steps`, a dev-set curve) must score a model the same way, so the
scoring path lives here once. A `RetrievalEvaluator` is built from any retrieval set that
`evaluation.datasets_io.open_dataset` reads (text subsets in MTEB's layout, image-text any-to-any subsets, the Hub
caption layouts) and scores a model on each chosen subset: bi-encoders by exact faiss search or by re-ranking a
recorded first stage, cross-encoders by re-ranking `top_ranked` candidates, CLIP-style dual encoders by dense
image-text search (`evaluation.search`, `evaluation.multimodal`), with the trec_eval-semantics metrics of
`evaluation.metrics`.

    ev = RetrievalEvaluator("data/ddtp-retrieval", subsets=["deu-eng"], metrics=["RR@10", "nDCG@10"])
    scores = ev(model)               # {"deu-eng/RR@10": .., "deu-eng/nDCG@10": .., "RR@10": .., "nDCG@10": ..}
    scores[ev.primary_metric]        # "RR@10": the mean over the chosen subsets

`model` is a loaded model (`csir.models.LoadedModel`, what `csir evaluate` loads), or a live
sentence-transformers `CrossEncoder` / `SentenceTransformer` (what training holds); a live model gets a fresh
in-memory encode cache on every call, so embeddings of an earlier training step are never reused.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from builders.evalsets.tasks import resolve_subset
from csir.errors import CsirError
from csir.models import LoadedModel, ModelSpec, saved_prompts
from evaluation.datasets_io import RetrievalDataset, RetrievalSubset, open_dataset
from evaluation.distributed import Dist
from evaluation.encode_cache import EncodeCache
from evaluation.metrics import CORE, DEFAULT_MEASURES, MetricResult, evaluate_run, run_from_records, validate_measures
from evaluation.precision import precision_key

FIRST_STAGES = ("top_ranked", "dense", "exhaustive", "bm25", "none")  # bm25, none: aliases (norm_stage)


def norm_stage(stage: str | None) -> str | None:
    """CLI names -> recorded names: `bm25` re-ranks `top_ranked`, `none` scores every passage (`exhaustive`)."""
    return {"bm25": "top_ranked", "none": "exhaustive"}.get(stage, stage) if stage else None


def cap_queries(sub: RetrievalSubset, n: int | None, seed: int) -> RetrievalSubset:
    """Keep `n` queries chosen by hash order (the same ids in every subset), and only their qrels."""
    if n is None:
        return sub
    ids = sorted(q for q in sub.qrels if q in sub.queries)
    ids = set(sorted(ids, key=lambda q: hashlib.sha256(f"{seed}:q:{q}".encode()).hexdigest())[:n])
    sub.queries = {q: t for q, t in sub.queries.items() if q in ids}
    sub.qrels = {q: d for q, d in sub.qrels.items() if q in ids}
    if sub.top_ranked is not None:
        sub.top_ranked = {q: d for q, d in sub.top_ranked.items() if q in ids}
    return sub


def stage_for(model: LoadedModel, first_stage: str | None, sub: RetrievalSubset, src: str) -> str:
    """The first stage used for this model and subset (dense for embedding models, top_ranked for cross-encoders)."""
    dense_kinds = ("bi-encoder", "clip")
    stage = norm_stage(first_stage) or ("dense" if model.kind in dense_kinds else "top_ranked")
    if stage == "top_ranked" and sub.top_ranked is None:
        if first_stage is None and model.kind in dense_kinds:
            return "dense"
        raise CsirError(f"{src}: subset {sub.name} has no top_ranked candidates to re-rank; cross-encoders need "
                        "them (or pass --first-stage none to score every passage)")
    if stage == "dense" and model.kind == "cross-encoder":
        raise CsirError("--first-stage dense needs a bi-encoder; a cross-encoder re-ranks top_ranked (bm25) or "
                        "scores every passage (none)")
    return stage


class Scorer:
    """Turns a subset into (qid, docid, score) records for one loaded model, sharing the encode cache.

    `cfg` is anything with `metrics`, `top_k` and `cache_dir` (an `EvalConfig`, or a `RetrievalEvaluator`).
    """

    def __init__(self, model: LoadedModel, cfg, dist: Dist, cache: EncodeCache | None = None):
        self.model, self.cfg, self.dist = model, cfg, dist
        self.cache = cache if cache is not None else EncodeCache(cfg.cache_dir, writable=dist.is_main)

    def _embed(self, texts: list[str], side: str, dataset_revision: str) -> np.ndarray:
        m = self.model
        ns = EncodeCache.namespace(model=m.spec.name, revision=m.resolved_revision, side=side,
                                   prompt=m.prompts.get(side), max_length=m.spec.max_length,
                                   dataset_revision=dataset_revision, **precision_key(self.cfg))
        meta = {"model": m.spec.name, "model_revision": m.resolved_revision, "side": side,
                "prompt": m.prompts.get(side), "dataset_revision": dataset_revision}

        def gather(mine, emb):
            texts_all = self.dist.gather(mine)
            rows = self.dist.gather(list(emb) if emb is not None else [])
            return texts_all, np.asarray(rows, dtype=np.float32).reshape(len(texts_all), -1)

        multi = self.dist.num_processes > 1
        return self.cache.get(ns, texts, lambda t: m.encode(t, side, show_progress=len(t) > 256), meta,
                              shard=self.dist.shard if multi else None, gather=gather if multi else None)

    def records(self, sub: RetrievalSubset, stage: str, dataset_revision: str, timings: dict,
                source: str = "") -> list:
        from evaluation.search import CrossEncoderScorer, candidate_pairs, dense_rerank, dense_search

        if self.model.kind == "clip" or sub.corpus_images is not None or sub.query_images is not None:
            from evaluation.multimodal import clip_records

            return clip_records(self, sub, stage, dataset_revision, timings, source)
        query_ids = [q for q in sub.queries]
        max_cut = max([int(CORE.match(m).group(2)) for m in self.cfg.metrics if CORE.match(m)] + [self.cfg.top_k])
        # re-ranking a recorded first stage: its first --top-k candidates per query (lists are in rank order)
        top = {q: list(c)[:self.cfg.top_k] for q, c in sub.top_ranked.items()} if stage == "top_ranked" else None
        if self.model.kind == "bi-encoder":
            t0 = time.perf_counter()
            q_emb = self._embed([sub.queries[q] for q in query_ids], "query", dataset_revision)
            timings["encode_queries_s"] = time.perf_counter() - t0
            if stage == "top_ranked":
                doc_ids = list(dict.fromkeys(d for q in query_ids for d in top.get(q, []) if d in sub.corpus))
            else:
                doc_ids = list(sub.corpus)
            t0 = time.perf_counter()
            d_emb = self._embed([sub.corpus[d] for d in doc_ids], "document", dataset_revision)
            timings["encode_corpus_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if stage == "top_ranked":
                recs = dense_rerank(q_emb, d_emb, query_ids, {d: i for i, d in enumerate(doc_ids)}, top)
            else:
                recs = dense_search(q_emb, d_emb, doc_ids, query_ids, max_cut if stage == "dense" else len(doc_ids))
            timings["search_s"] = time.perf_counter() - t0
            return recs
        cands = top if stage == "top_ranked" else {q: list(sub.corpus) for q in query_ids}
        keys, texts = candidate_pairs(query_ids, sub.queries, sub.corpus, cands)
        idx = self.dist.shard(range(len(keys)))
        t0 = time.perf_counter()
        scorer = CrossEncoderScorer(self.model.model)
        scores = scorer.score([texts[i] for i in idx], show_progress=len(idx) > 2000)
        timings["rerank_s"] = time.perf_counter() - t0
        timings["rerank_pairs"] = len(keys)
        mine = [(keys[i][0], keys[i][1], float(s)) for i, s in zip(idx, scores)]
        gathered = self.dist.gather(mine)
        return list({(q, d): (q, d, s) for q, d, s in gathered}.values())  # de-duplicate across ranks


def as_loaded_model(model, name: str = "model", batch_size: int = 32) -> LoadedModel:
    """A `LoadedModel` as is; a live sentence-transformers CrossEncoder / SentenceTransformer wrapped as one.

    A wrapped model's revision is `live`: its embeddings are never written to an on-disk encode cache.
    """
    if isinstance(model, LoadedModel):
        return model
    from sentence_transformers import CrossEncoder, SentenceTransformer

    spec = ModelSpec(name=name, batch_size=batch_size)
    if isinstance(model, CrossEncoder):
        return LoadedModel(spec, "cross-encoder", Path("."), "live", model, {})
    if isinstance(model, SentenceTransformer):
        return LoadedModel(spec, "bi-encoder", Path("."), "live", model, saved_prompts(model, name))
    raise CsirError(f"evaluator: cannot score a {type(model).__name__}; pass a LoadedModel (csir.models.load_model), "
                    "a sentence-transformers CrossEncoder or a SentenceTransformer")


@dataclass
class SubsetEvaluation:
    """One subset's scores: the (capped) subset read, the first stage used, per-query metrics and timings."""

    subset: RetrievalSubset
    stage: str
    result: MetricResult
    timings: dict


class RetrievalEvaluator:
    """Score a model on the chosen subsets of one retrieval set; `primary_metric` names the headline number.

    Arguments mirror `csir evaluate`: `split` (default test, else dev), `first_stage` (bm25 | dense | none; default
    dense for embedding models and bm25 = the recorded `top_ranked` for cross-encoders), `top_k`, `max_queries`
    (a deterministic sample by `seed`), `cache_dir` (embeddings of loaded models kept across runs).
    `keep_subsets=False` reads each subset per call instead of holding it in memory (one-shot evaluations).
    """

    def __init__(self, dataset: str | RetrievalDataset, subsets: Sequence[str] | None = None, *,
                 revision: str | None = None, split: str | None = None,
                 metrics: Sequence[str] = DEFAULT_MEASURES, primary_metric: str = "RR@10",
                 first_stage: str | None = None, top_k: int = 100, max_queries: int | None = None, seed: int = 0,
                 batch_size: int = 32, cache_dir: str | None = None, name: str | None = None,
                 dist: Dist | None = None, keep_subsets: bool = True):
        if first_stage is not None and first_stage not in FIRST_STAGES:
            raise CsirError(f"first_stage: '{first_stage}' (choose from top_ranked, dense, exhaustive)")
        if top_k < 1:
            raise CsirError("top_k: must be >= 1")
        metrics = list(metrics)
        if primary_metric not in metrics:
            metrics = [primary_metric, *metrics]
        self.metrics = validate_measures(metrics)
        self.primary_metric = primary_metric
        self.split, self.first_stage, self.top_k = split, first_stage, top_k
        self.max_queries, self.seed, self.batch_size, self.cache_dir = max_queries, seed, batch_size, cache_dir
        self.dist = dist or Dist()
        self._owns_dataset = isinstance(dataset, (str, Path))
        self.dataset = open_dataset(str(dataset), revision) if self._owns_dataset else dataset
        available = self.dataset.subsets
        chosen = []
        for s in subsets or available:
            resolved = resolve_subset(s, available)
            if resolved is None:
                raise CsirError(f"subsets: '{s}' is not a subset of {self.dataset.source} "
                                f"(have: {', '.join(available)})")
            chosen.append(resolved)
        self.subsets = list(dict.fromkeys(chosen))
        self.name = name or Path(self.dataset.source).name
        self.keep_subsets = keep_subsets
        self._loaded: dict[str, RetrievalSubset] = {}
        self.last_results: dict[str, SubsetEvaluation] = {}

    def load(self, subset: str) -> RetrievalSubset:
        """The subset as scored: its split read once (when kept) and capped to `max_queries`."""
        if subset in self._loaded:
            return self._loaded[subset]
        sub = cap_queries(self.dataset.load(subset, self.split), self.max_queries, self.seed)
        if self.keep_subsets:
            self._loaded[subset] = sub
        return sub

    def evaluate_subset(self, model: LoadedModel, subset: str, scorer: Scorer | None = None) -> SubsetEvaluation:
        """Score one subset; `scorer` shares an encode cache across subsets and datasets (as `csir evaluate`)."""
        t_start = time.perf_counter()
        scorer = scorer or Scorer(model, self, self.dist)
        sub = self.load(subset)
        stage = stage_for(model, self.first_stage, sub, self.dataset.source)
        timings: dict = {}
        recs = scorer.records(sub, stage, self.dataset.resolved_revision, timings, self.dataset.source)
        run = run_from_records(recs, source=f"{self.name}/{subset} run")
        res = evaluate_run(sub.qrels, run, self.metrics)
        timings["total_s"] = time.perf_counter() - t_start
        return SubsetEvaluation(sub, stage, res, timings)

    def __call__(self, model) -> dict[str, float]:
        """`{subset}/{metric}` for every subset and `{metric}` = the mean over subsets (the primary is one)."""
        loaded = as_loaded_model(model, batch_size=self.batch_size)
        live = loaded.resolved_revision == "live"
        cache = EncodeCache(None) if live else EncodeCache(self.cache_dir, writable=self.dist.is_main)
        scorer = Scorer(loaded, self, self.dist, cache)
        out: dict[str, float] = {}
        self.last_results = {}
        for s in self.subsets:
            ev = self.evaluate_subset(loaded, s, scorer)
            self.last_results[s] = ev
            out.update({f"{s}/{m}": float(v) for m, v in ev.result.aggregate.items()})
        for m in self.metrics:
            out[m] = float(np.mean([out[f"{s}/{m}"] for s in self.subsets]))
        return out

    def close(self) -> None:
        """Remove a temporary checkout this evaluator opened (a dataset passed in is the caller's to close)."""
        if self._owns_dataset:
            self.dataset.close()
