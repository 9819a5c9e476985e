"""`csir evaluate`: score one model on CLIR / MLIR / MoIR subsets and write MTEB-style results.

Order of work: resolve datasets and the model's revision (cheap), decide which (task, subset) results are missing
under the overwrite strategy, and only then load the model — so a complete re-run does no model work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from builders.evalsets.tasks import SETUPS, Pair, pair_from_subset, parse_pair, resolve_subset
from builders.repo_writer import library_versions, read_manifest
from csir.errors import CsirError
from evaluation.datasets_io import RetrievalDataset, RetrievalSubset, open_dataset
from evaluation.distributed import Dist
from evaluation.encode_cache import EncodeCache
from evaluation.metrics import CORE, DEFAULT_MEASURES, evaluate_run, mteb_name, run_from_records, validate_measures
from evaluation.models import LoadedModel, ModelSpec, load_model, resolve_model_path

log = logging.getLogger(__name__)
TASKS = {
    "ddtp": {"source": "codeswitch-ir/ddtp-retrieval", "doc": "DDTP held-out packages (csir evalset ddtp)"},
    "mmarco": {"source": "codeswitch-ir/mmarco-retrieval", "doc": "MS MARCO dev small + mMARCO (csir evalset mmarco)"},
}
STRATEGIES = ("always", "never", "only-missing")
FIRST_STAGES = ("bm25", "top_ranked", "dense", "none")
LIBS = ("codeswitch-ir", "torch", "transformers", "sentence-transformers", "faiss-cpu", "datasets",
        "huggingface_hub", "accelerate", "numpy", "ir_measures", "bm25s")


@dataclass
class EvalConfig:
    model: str
    revision: str | None = None
    model_name: str | None = None             # name used in result paths; default from the id / folder
    tasks: list[str] = field(default_factory=list)
    task_sources: dict[str, str] = field(default_factory=dict)   # task -> folder or Hub id
    dataset: str | None = None                # any MTEB-layout dataset
    dataset_revision: str | None = None
    subsets: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    setups: list[str] = field(default_factory=lambda: list(SETUPS))
    split: str | None = None
    first_stage: str | None = None            # default: dense for bi-encoders, top_ranked for cross-encoders
    top_k: int = 100
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_MEASURES))
    main_metric: str = "RR@10"
    baseline: str | None = None
    output: str = "results"
    overwrite_strategy: str = "only-missing"
    batch_size: int = 32
    max_length: int | None = None
    max_queries: int | None = None
    device: str | None = None
    trust_remote_code: bool = False
    query_prompt: str | None = None
    passage_prompt: str | None = None
    cache_dir: str | None = None
    seed: int = 0
    plot: bool = True


@dataclass
class Job:
    task: str
    dataset: RetrievalDataset
    subset: str
    pair: Pair | None
    path: Path


def model_slug(name: str) -> str:
    """Hub id `org/name` -> `org__name` (MTEB's convention); a folder -> its name (parent's if it is `model`)."""
    p = Path(name)
    if p.exists():
        parts = [x for x in p.resolve().parts if x]
        base = parts[-1]
        if base in ("model", "hf", "final") and len(parts) > 1:
            base = f"{parts[-2]}__{base}"
        return base
    return name.replace("/", "__")


def revision_slug(resolved: str) -> str:
    return resolved.replace("sha256:", "sha256-")[:23] if resolved.startswith("sha256:") else resolved


def _check(cfg: EvalConfig):
    if cfg.overwrite_strategy not in STRATEGIES:
        raise CsirError(f"--overwrite-strategy: '{cfg.overwrite_strategy}' (choose from {', '.join(STRATEGIES)})")
    if cfg.first_stage and cfg.first_stage not in FIRST_STAGES:
        raise CsirError(f"--first-stage: '{cfg.first_stage}' (choose from bm25, dense, none)")
    bad = [s for s in cfg.setups if s not in SETUPS]
    if bad:
        raise CsirError(f"--setup: unknown setup '{bad[0]}' (choose from {', '.join(SETUPS)})")
    unknown = [t for t in cfg.tasks if t not in TASKS]
    if unknown:
        raise CsirError(f"--tasks: unknown task '{unknown[0]}' (known: {', '.join(TASKS)}; any other MTEB-layout "
                        "dataset: --dataset PATH_OR_REPO --subsets ...)")
    if not cfg.tasks and not cfg.dataset:
        raise CsirError("--tasks or --dataset is required")
    if cfg.top_k < 1:
        raise CsirError("--top-k: must be >= 1")
    validate_measures(cfg.metrics)
    if cfg.main_metric not in cfg.metrics:
        cfg.metrics = [cfg.main_metric, *cfg.metrics]


def plan(cfg: EvalConfig, model_dir: Path) -> list[Job]:
    """Every (task, subset) to report, with its result path; unknown pairs/subsets are errors here."""
    wanted_pairs = [parse_pair(p) for p in cfg.pairs]
    sources = []
    for t in cfg.tasks:
        src = cfg.task_sources.get(t) or TASKS[t]["source"]
        sources.append((t, src, cfg.dataset_revision))
    if cfg.dataset:
        name = Path(cfg.dataset).name if Path(cfg.dataset).exists() else cfg.dataset.split("/")[-1]
        sources.append((name, cfg.dataset, cfg.dataset_revision))
    jobs: list[Job] = []
    for task, src, rev in sources:
        ds = open_dataset(src, rev)
        available = ds.subsets
        if task in TASKS or not cfg.subsets:
            if wanted_pairs:
                subsets = []
                for p in wanted_pairs:
                    if p.subset not in available:
                        raise CsirError(f"--pairs: pair '{p.name}' (subset {p.subset}) is not in {src} "
                                        f"(have: {', '.join(available)})")
                    subsets.append(p.subset)
            else:
                subsets = [s for s in available if (pair_from_subset(s) is None or pair_from_subset(s).setup in cfg.setups)]
        else:
            subsets = []
            for s in cfg.subsets:
                name = resolve_subset(s, available)
                if name is None:
                    raise CsirError(f"--subsets: '{s}' is not a subset of {src} (have: {', '.join(available)})")
                subsets.append(name)
            subsets = list(dict.fromkeys(subsets))
        subsets = [s for s in subsets if pair_from_subset(s) is None or pair_from_subset(s).setup in cfg.setups]
        if not subsets:
            raise CsirError(f"{src}: no subset left for setups {', '.join(cfg.setups)}")
        for s in subsets:
            jobs.append(Job(task, ds, s, pair_from_subset(s), model_dir / task / f"{s}.json"))
    return jobs


def _settings_key(cfg: EvalConfig, first_stage: str) -> dict:
    return {"metrics": sorted(cfg.metrics), "first_stage": first_stage, "top_k": cfg.top_k,
            "max_queries": cfg.max_queries, "split": cfg.split}


def _is_current(path: Path, job: Job, cfg: EvalConfig) -> bool:
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (old.get("dataset_revision") == job.dataset.resolved_revision
            and old.get("settings", {}).get("metrics") == sorted(cfg.metrics)
            and old.get("settings", {}).get("max_queries") == cfg.max_queries
            and old.get("settings", {}).get("top_k") == cfg.top_k
            and (cfg.first_stage is None or old.get("settings", {}).get("first_stage") == _norm_stage(cfg.first_stage)))


def _norm_stage(stage: str | None) -> str | None:
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


class Scorer:
    """Turns a subset into (qid, docid, score) records for one loaded model, sharing the encode cache."""

    def __init__(self, model: LoadedModel, cfg: EvalConfig, dist: Dist):
        self.model, self.cfg, self.dist = model, cfg, dist
        self.cache = EncodeCache(cfg.cache_dir, writable=dist.is_main)

    def _embed(self, texts: list[str], side: str, dataset_revision: str) -> np.ndarray:
        m = self.model
        ns = EncodeCache.namespace(model=m.spec.name, revision=m.resolved_revision, side=side,
                                   prompt=m.prompts.get(side), max_length=m.spec.max_length,
                                   dataset_revision=dataset_revision)
        meta = {"model": m.spec.name, "model_revision": m.resolved_revision, "side": side,
                "prompt": m.prompts.get(side), "dataset_revision": dataset_revision}

        def gather(mine, emb):
            texts_all = self.dist.gather(mine)
            rows = self.dist.gather(list(emb) if emb is not None else [])
            return texts_all, np.asarray(rows, dtype=np.float32).reshape(len(texts_all), -1)

        multi = self.dist.num_processes > 1
        return self.cache.get(ns, texts, lambda t: m.encode(t, side, show_progress=len(t) > 256), meta,
                              shard=self.dist.shard if multi else None, gather=gather if multi else None)

    def records(self, sub: RetrievalSubset, stage: str, dataset_revision: str, timings: dict) -> list:
        from evaluation.search import CrossEncoderScorer, candidate_pairs, dense_rerank, dense_search

        if self.model.kind == "clip" or sub.corpus_images is not None or sub.query_images is not None:
            from evaluation.multimodal import clip_records

            return clip_records(self, sub, stage, dataset_revision, timings, self.cfg.dataset or "")
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


def _stage_for(model: LoadedModel, cfg: EvalConfig, sub: RetrievalSubset, src: str) -> str:
    dense_kinds = ("bi-encoder", "clip")
    stage = _norm_stage(cfg.first_stage) or ("dense" if model.kind in dense_kinds else "top_ranked")
    if stage == "top_ranked" and sub.top_ranked is None:
        if cfg.first_stage is None and model.kind in dense_kinds:
            return "dense"
        raise CsirError(f"{src}: subset {sub.name} has no top_ranked candidates to re-rank; cross-encoders need "
                        "them (or pass --first-stage none to score every passage)")
    if stage == "dense" and model.kind == "cross-encoder":
        raise CsirError("--first-stage dense needs a bi-encoder; a cross-encoder re-ranks top_ranked (bm25) or "
                        "scores every passage (none)")
    return stage


def _result(job: Job, sub: RetrievalSubset, model: LoadedModel, cfg: EvalConfig, stage: str, res, timings: dict,
            dist: Dist) -> dict:
    manifest = read_manifest(job.dataset.local_dir)
    stage_doc = {"top_ranked": f"re-rank the dataset's top_ranked candidates "
                               f"({manifest.get('parameters', {}).get('first_stage', 'as recorded')})",
                 "dense": "faiss IndexFlatIP (exact inner product) over L2-normalised embeddings, full collection",
                 "exhaustive": "every (query, passage) pair scored"}[stage]
    langs = []
    if job.pair:
        from csir.langs import to_iso3

        langs = [to_iso3(job.pair.query_lang)] + ([to_iso3(job.pair.passage_lang)] if job.pair.passage_lang != "mlir"
                                                   else sorted({to_iso3(v) for v in (sub.doc_lang or {}).values()}))
    scores = {mteb_name(m): v for m, v in res.aggregate.items()}
    return {
        "task_name": job.task,
        "dataset": {"source": job.dataset.source, "revision": job.dataset.revision},
        "dataset_revision": job.dataset.resolved_revision,
        "subset": job.subset,
        "pair": job.pair.name if job.pair else None,
        "setup": job.pair.setup if job.pair else None,
        "model": {"name": cfg.model_name or model.spec.name, "source": model.spec.name, "revision": model.spec.revision,
                  "resolved_revision": model.resolved_revision, "kind": model.kind, "prompts": model.prompts},
        "first_stage": {"name": stage, "description": stage_doc, "top_k": cfg.top_k},
        "settings": _settings_key(cfg, stage),
        "scores": {sub.split: [{"hf_subset": job.subset, "languages": langs, "main_score": scores[mteb_name(cfg.main_metric)],
                                "main_metric": mteb_name(cfg.main_metric), **scores,
                                "num_queries": res.num_queries}]},
        "measures": res.aggregate,
        "per_query": res.per_query,
        "evaluation_time": timings.get("total_s"),
        "timings": timings,
        "num_processes": dist.num_processes,
        "library_versions": library_versions(LIBS),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_evaluation(cfg: EvalConfig) -> dict:
    """Evaluate; returns {"results": [result dicts], "computed": n, "skipped": n, "model_dir": Path}."""
    from csir.atomic import atomic_file

    _check(cfg)
    dist = Dist()
    spec = ModelSpec.parse(cfg.model, cfg.revision, trust_remote_code=cfg.trust_remote_code, device=cfg.device,
                           batch_size=cfg.batch_size, max_length=cfg.max_length, query_prompt=cfg.query_prompt,
                           passage_prompt=cfg.passage_prompt)
    _, resolved = resolve_model_path(spec)
    model_dir = Path(cfg.output) / model_slug(cfg.model_name or spec.name) / revision_slug(resolved)
    jobs = plan(cfg, model_dir)
    todo = []
    for job in jobs:
        exists = job.path.exists()
        if cfg.overwrite_strategy == "always" or not exists:
            todo.append(job)
        elif cfg.overwrite_strategy == "only-missing" and not _is_current(job.path, job, cfg):
            todo.append(job)
    log.info("%d result(s) to compute, %d kept (%s)", len(todo), len(jobs) - len(todo), cfg.overwrite_strategy)
    computed = 0
    if todo:
        from evaluation.distributed import device_for

        spec.device = device_for(dist, spec.device)
        model = load_model(spec)
        scorer = Scorer(model, cfg, dist)
        for job in todo:
            t_start = time.perf_counter()
            sub = cap_queries(job.dataset.load(job.subset, cfg.split), cfg.max_queries, cfg.seed)
            stage = _stage_for(model, cfg, sub, job.dataset.source)
            timings: dict = {}
            recs = scorer.records(sub, stage, job.dataset.resolved_revision, timings)
            run = run_from_records(recs, source=f"{job.task}/{job.subset} run")
            res = evaluate_run(sub.qrels, run, cfg.metrics)
            timings["total_s"] = time.perf_counter() - t_start
            if dist.is_main:
                out = _result(job, sub, model, cfg, stage, res, timings, dist)
                with atomic_file(job.path) as fh:
                    json.dump(out, fh, indent=1, sort_keys=False, ensure_ascii=False)
                log.info("%s %s %s: %s", job.task, job.subset, stage,
                         ", ".join(f"{k}={v:.4f}" for k, v in res.aggregate.items()))
            computed += 1
        dist.wait()
        log.info("encode cache: %d texts encoded, %d reused", scorer.cache.encoded, scorer.cache.hits)
    results = [json.loads(j.path.read_text(encoding="utf-8")) for j in jobs] if dist.is_main else []
    for ds in {id(j.dataset): j.dataset for j in jobs}.values():
        ds.close()
    return {"results": results, "computed": computed, "skipped": len(jobs) - len(todo), "model_dir": model_dir,
            "is_main": dist.is_main}
