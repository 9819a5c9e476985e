"""`csir evaluate`: score one model on CLIR / MLIR / MoIR subsets and write MTEB-style results.

Order of work: resolve datasets and the model's revision (cheap), decide which (task, subset) results are missing
under the overwrite strategy, and only then load the model — so a complete re-run does no model work.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from builders.evalsets.tasks import SETUPS, Pair, pair_from_subset, parse_pair, resolve_subset
from builders.repo_writer import library_versions, read_manifest
from csir.errors import CsirError
from csir.hardware import slow_bf16_reason
from csir.models import LoadedModel, ModelSpec, load_model, resolve_model_path
from evaluation.datasets_io import RetrievalDataset, RetrievalSubset, open_dataset
from evaluation.distributed import Dist
from evaluation.evaluator import FIRST_STAGES, RetrievalEvaluator, Scorer, norm_stage
from evaluation.metrics import DEFAULT_MEASURES, mteb_name, validate_measures
from evaluation.precision import PRECISIONS, precision_context

log = logging.getLogger(__name__)
TASKS = {
    "ddtp": {"source": "codeswitch-ir/ddtp-retrieval", "doc": "DDTP held-out packages (csir evalset ddtp)"},
    "mmarco": {"source": "codeswitch-ir/mmarco-retrieval", "doc": "MS MARCO dev small + mMARCO (csir evalset mmarco)"},
}
STRATEGIES = ("always", "never", "only-missing")
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
    mteb_tasks: list[str] = field(default_factory=list)   # MTEB retrieval tasks by name (data from their metadata)
    subsets: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    setups: list[str] = field(default_factory=lambda: list(SETUPS))
    split: str | None = None
    first_stage: str | None = None            # default: dense for bi-encoders, top_ranked for cross-encoders
    top_k: int = 100
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_MEASURES))
    main_metric: str = "RR@10"
    baseline: str | None = None
    output: str = "results"  # DEFAULT_OUTPUT; `csir evaluate` says so when --output is not given
    overwrite_strategy: str = "only-missing"
    batch_size: int = 32
    max_length: int | None = None
    max_queries: int | None = None
    device: str | None = None
    precision: str = "fp32"                   # fp32 | bf16 (autocast: about 3.5x faster re-ranking on AMX CPUs)
    trust_remote_code: bool = False
    allow_pickle: bool = False
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
    split: str | None = None                  # the task's own evaluation split (MTEB metadata), else --split
    languages: list[str] | None = None        # the subset's languages from MTEB metadata (`eng-Latn`)


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
        raise CsirError(f"--first-stage: '{cfg.first_stage}' (choose from top_ranked, dense, exhaustive)")
    bad = [s for s in cfg.setups if s not in SETUPS]
    if bad:
        raise CsirError(f"--setup: unknown setup '{bad[0]}' (choose from {', '.join(SETUPS)})")
    unknown = [t for t in cfg.tasks if t not in TASKS]
    if unknown:
        raise CsirError(f"--tasks: unknown task '{unknown[0]}' (known: {', '.join(TASKS)}; any other MTEB-layout "
                        "dataset: --dataset PATH_OR_REPO --subsets ...)")
    if not cfg.tasks and not cfg.dataset and not cfg.mteb_tasks:
        raise CsirError("--tasks, --dataset or --mteb-task is required")
    if cfg.top_k < 1:
        raise CsirError("--top-k: must be >= 1")
    if cfg.precision not in PRECISIONS:
        raise CsirError(f"--precision: '{cfg.precision}' (choose from {', '.join(PRECISIONS)})")
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
    mteb_split, mteb_subsets, mteb_langs = {}, {}, {}
    for name in cfg.mteb_tasks:
        from evaluation.mteb_tasks import mteb_task_source

        info = mteb_task_source(name, cfg.task_sources)
        # the metadata pins the revision; --dataset-revision overrides it (recorded in the results as requested)
        sources.append((name, info["source"], cfg.dataset_revision or info["revision"]))
        mteb_split[name], mteb_subsets[name], mteb_langs[name] = info["split"], info["subsets"], info["languages"]
    jobs: list[Job] = []
    for task, src, rev in sources:
        ds = open_dataset(src, rev)
        available = ds.subsets
        if mteb_subsets.get(task) and not cfg.subsets:
            missing = [s for s in mteb_subsets[task] if s not in available]
            if missing:
                raise CsirError(f"--mteb-task {task}: subset '{missing[0]}' of its metadata is not in {src} "
                                f"(have: {', '.join(available)})")
            subsets = list(mteb_subsets[task])
        elif task in TASKS or not cfg.subsets:
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
            jobs.append(Job(task, ds, s, pair_from_subset(s), model_dir / task / f"{s}.json",
                            cfg.split or mteb_split.get(task), mteb_langs.get(task, {}).get(s)))
    return jobs


def _settings_key(cfg: EvalConfig, first_stage: str) -> dict:
    return {"metrics": sorted(cfg.metrics), "first_stage": first_stage, "top_k": cfg.top_k,
            "max_queries": cfg.max_queries, "split": cfg.split, "precision": cfg.precision}


def _is_current(path: Path, job: Job, cfg: EvalConfig) -> bool:
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (old.get("dataset_revision") == job.dataset.resolved_revision
            and old.get("settings", {}).get("metrics") == sorted(cfg.metrics)
            and old.get("settings", {}).get("max_queries") == cfg.max_queries
            and old.get("settings", {}).get("top_k") == cfg.top_k
            and old.get("settings", {}).get("precision", "fp32") == cfg.precision
            and (cfg.first_stage is None or old.get("settings", {}).get("first_stage") == norm_stage(cfg.first_stage)))


def _result(job: Job, sub: RetrievalSubset, model: LoadedModel, cfg: EvalConfig, stage: str, res, timings: dict,
            dist: Dist) -> dict:
    manifest = read_manifest(job.dataset.local_dir)
    stage_doc = {"top_ranked": f"re-rank the dataset's top_ranked candidates "
                               f"({manifest.get('parameters', {}).get('first_stage', 'as recorded')})",
                 "dense": "faiss IndexFlatIP (exact inner product) over L2-normalised embeddings, full collection",
                 "exhaustive": "every (query, passage) pair scored"}[stage]
    from csir.langs import to_mteb_lang
    from evaluation.mteb_results import subset_languages
    from model_cards.provenance import dataset_reference, model_reference

    if job.languages:
        langs = list(job.languages)
    elif job.pair:
        langs = [to_mteb_lang(job.pair.query_lang)] + (
            [to_mteb_lang(job.pair.passage_lang)] if job.pair.passage_lang != "mlir"
            else sorted({to_mteb_lang(v) for v in (sub.doc_lang or {}).values()}))
    else:
        langs = subset_languages(job.subset)
    scores = {mteb_name(m): v for m, v in res.aggregate.items()}
    # published files name sources by Hub id (or folder name), never by this machine's paths
    ds_ref = dataset_reference(job.dataset.source, job.dataset.revision, job.dataset.resolved_revision)
    model_ref = model_reference(model.spec.name, model.spec.revision)
    return {
        "task_name": job.task,
        "dataset": {"source": ds_ref.id, "revision": job.dataset.revision, "published": ds_ref.is_hub},
        "dataset_revision": job.dataset.resolved_revision,
        "subset": job.subset,
        "pair": job.pair.name if job.pair else None,
        "setup": job.pair.setup if job.pair else None,
        "model": {"name": cfg.model_name or model_ref.id, "source": model_ref.id, "revision": model.spec.revision,
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
                           passage_prompt=cfg.passage_prompt, allow_pickle=cfg.allow_pickle)
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
        if cfg.precision == "bf16" and (why := slow_bf16_reason((spec.device or "cpu").split(":")[0])):
            log.warning("--precision bf16: %s; --precision fp32 evaluates faster here", why)
        model = load_model(spec)
        scorer = Scorer(model, cfg, dist)  # one encode cache for every job: texts shared by pairs encode once
        evaluators: dict[int, RetrievalEvaluator] = {}
        for job in todo:
            key = id(job.dataset)
            if key not in evaluators:
                evaluators[key] = RetrievalEvaluator(
                    job.dataset, [j.subset for j in todo if j.dataset is job.dataset], split=job.split,
                    metrics=cfg.metrics, primary_metric=cfg.main_metric, first_stage=cfg.first_stage,
                    top_k=cfg.top_k, max_queries=cfg.max_queries, seed=cfg.seed, batch_size=cfg.batch_size,
                    cache_dir=cfg.cache_dir, name=job.task, dist=dist, keep_subsets=False)
            with precision_context(cfg.precision, spec.device):
                ev = evaluators[key].evaluate_subset(model, job.subset, scorer)
            res = ev.result
            if dist.is_main:
                out = _result(job, ev.subset, model, cfg, ev.stage, res, ev.timings, dist)
                with atomic_file(job.path) as fh:
                    json.dump(out, fh, indent=1, sort_keys=False, ensure_ascii=False)
                log.info("%s %s %s: %s", job.task, job.subset, ev.stage,
                         ", ".join(f"{k}={v:.4f}" for k, v in res.aggregate.items()))
            computed += 1
        dist.wait()
        if scorer.cache.encoded or scorer.cache.hits:  # cross-encoders embed nothing
            log.info("encode cache: %d texts encoded, %d reused", scorer.cache.encoded, scorer.cache.hits)
    results = [json.loads(j.path.read_text(encoding="utf-8")) for j in jobs] if dist.is_main else []
    if results:
        from evaluation.mteb_results import write_mteb_results

        write_mteb_results(results, model_dir)
    for ds in {id(j.dataset): j.dataset for j in jobs}.values():
        ds.close()
    return {"results": results, "computed": computed, "skipped": len(jobs) - len(todo), "model_dir": model_dir,
            "is_main": dist.is_main}
