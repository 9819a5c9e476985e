"""`csir evaluate`, `csir card update` (also `python -m evaluation ...`)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from csir.config_io import load_yaml
from csir.errors import CsirError
from csir.suggest import did_you_mean

if TYPE_CHECKING:
    from evaluation.runner import EvalConfig

log = logging.getLogger(__name__)


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score any model on CLIR / MLIR / MoIR retrieval subsets",
                       description="Evaluate a bi-encoder or cross-encoder (Hub id[@rev] or folder) on retrieval "
                                   "subsets in MTEB's layout; writes per-subset JSON, a table and a plot.")
    p.add_argument("--config", help="YAML file with EvalConfig fields; command-line flags override it")
    p.add_argument("--model", help="Hub id (ORG/NAME or ORG/NAME@REV) or local folder")
    p.add_argument("--revision", help="model revision (branch, tag or commit)")
    p.add_argument("--model-name", help="name used in result paths and tables (default: from --model)")
    p.add_argument("--tasks", help="comma-separated: ddtp, mmarco")
    p.add_argument("--ddtp", help="the DDTP evaluation set (folder or Hub id; default codeswitch-ir/ddtp-retrieval)")
    p.add_argument("--mmarco", help="the mMARCO evaluation set (folder or Hub id)")
    p.add_argument("--dataset", help="any retrieval dataset in MTEB's layout (folder or Hub id)")
    p.add_argument("--mteb-task", help="MTEB retrieval tasks by name, e.g. SciFact,XPQARetrieval (data path, "
                                       "revision, split and subsets from the task's metadata; needs the mteb extra; "
                                       "offline: HF_ENDPOINT pointing at `csir hub serve`)")
    p.add_argument("--dataset-revision", help="dataset revision (tag/branch/commit) for --dataset and --tasks sets")
    p.add_argument("--subsets", help="subsets of --dataset, e.g. fra-eng,deu-eng; a language subset may be named "
                                     "in either ISO form (deu finds de, i2t-deu finds i2t-de)")
    p.add_argument("--pairs", help="query-passage language pairs, e.g. de-en,en-de,de-de,de-mlir")
    p.add_argument("--setup", help="comma-separated subset of clir,mlir,moir (default: all)")
    p.add_argument("--split", help="split to read (default: test, else dev)")
    p.add_argument("--first-stage", choices=["top_ranked", "dense", "exhaustive", "bm25", "none"],
                   help="top_ranked: re-rank the set's recorded first-stage candidates (its `top_ranked` configs; "
                        "English BM25 for the DDTP and mMARCO sets); dense: bi-encoder faiss search over the whole "
                        "collection; exhaustive: score every passage. Default: dense for bi-encoders, top_ranked "
                        "for cross-encoders. Results and tables use these names (bm25 and none are accepted as "
                        "aliases of top_ranked and exhaustive)")
    p.add_argument("--top-k", type=int, help="candidates / retrieved passages per query (default 100)")
    p.add_argument("--metrics", help="ir_measures names (default RR@10,nDCG@10,R@100)")
    p.add_argument("--main-metric", help="headline metric (default RR@10, as the paper)")
    p.add_argument("--baseline", help="results folder of a baseline run (paired tests, Bonferroni over pairs)")
    p.add_argument("--output", help="results folder; results go to OUTPUT/<model>/<revision>/ (default: ./results "
                                    "in the current folder, announced when used)")
    p.add_argument("--overwrite-strategy", choices=["always", "never", "only-missing"],
                   help="always: recompute; never: keep any existing result; only-missing (default): compute "
                        "missing or stale (other dataset revision/settings) results")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int, help="truncate inputs to this many tokens")
    p.add_argument("--max-queries", type=int, help="evaluate a deterministic sample of this many queries per subset")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--precision", help="fp32 (default) or bf16: forward passes under bfloat16 autocast, about 3.5x "
                                       "faster re-ranking on CPUs with AMX; results record the precision")
    p.add_argument("--cache-dir", help="keep embeddings here across runs (text-hash keyed)")
    p.add_argument("--query-prompt", help="override the model's query prompt (e.g. 'query: ')")
    p.add_argument("--passage-prompt", help="override the model's passage prompt (e.g. 'passage: ')")
    p.add_argument("--trust-remote-code", action="store_true", default=None,
                   help="allow custom model code from the model repo")
    p.add_argument("--allow-pickle", action="store_true", default=None,
                   help="load pickle weights (pytorch_model.bin, *.pt) when a model has no safetensors; "
                        "pickle can run code, so only for models you trust")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    p.set_defaults(func=cmd_evaluate)

    if "card" not in sub.choices:
        c = sub.add_parser("card", help="model cards")
        csub = c.add_subparsers(dest="card", metavar="ACTION", required=True)
        u = csub.add_parser("update", help="write evaluation results into a model card (model-index + .eval_results/)")
        u.add_argument("--model", required=True, help="model folder holding README.md")
        u.add_argument("--results", required=True, help="results folder written by csir evaluate")
        u.add_argument("--model-name", help="model-index name (default: the card's / folder's)")
        u.set_defaults(func=cmd_card_update)


def eval_config(args) -> "EvalConfig":
    from evaluation.runner import EvalConfig

    base: dict = {}
    if args.config:
        path = Path(args.config)
        if not path.exists():
            raise CsirError(f"--config: {path} does not exist")
        base = load_yaml(path)
        names = {f.name for f in dataclasses.fields(EvalConfig)}
        for k in base:
            if k not in names:
                raise CsirError(f"{path}: field '{k}' is not an evaluation setting{did_you_mean(k, names)}")
    cli = {
        "model": args.model, "revision": args.revision, "model_name": args.model_name, "tasks": _csv(args.tasks),
        "dataset": args.dataset, "dataset_revision": args.dataset_revision,
        "mteb_tasks": _csv(args.mteb_task), "subsets": _csv(args.subsets),
        "pairs": _csv(args.pairs), "setups": _csv(args.setup), "split": args.split, "first_stage": args.first_stage,
        "top_k": args.top_k, "metrics": _csv(args.metrics), "main_metric": args.main_metric, "baseline": args.baseline,
        "output": args.output, "overwrite_strategy": args.overwrite_strategy, "batch_size": args.batch_size,
        "max_length": args.max_length, "max_queries": args.max_queries, "device": args.device, "precision": args.precision,
        "cache_dir": args.cache_dir, "query_prompt": args.query_prompt, "passage_prompt": args.passage_prompt,
        "trust_remote_code": args.trust_remote_code, "allow_pickle": args.allow_pickle, "plot": False if args.no_plot else None,
    }
    merged = {**base, **{k: v for k, v in cli.items() if v is not None}}
    sources = dict(merged.get("task_sources") or {})
    if args.ddtp:
        sources["ddtp"] = args.ddtp
    if args.mmarco:
        sources["mmarco"] = args.mmarco
    merged["task_sources"] = sources
    if not merged.get("model"):
        raise CsirError("--model is required")
    return EvalConfig(**merged)


def _config_sets_output(path: str) -> bool:
    import yaml

    return bool((yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("output"))


def cmd_evaluate(args) -> int:
    from evaluation.results import load_results, write_summary
    from evaluation.runner import run_evaluation
    from evaluation.significance import compare

    cfg = eval_config(args)
    default_output = not args.output and not (args.config and _config_sets_output(args.config))
    if default_output:
        log.info("no --output: writing results under %s/ (the default)", Path(cfg.output).resolve())
    baseline = load_results(cfg.baseline) if cfg.baseline else None
    out = run_evaluation(cfg)
    if not out["is_main"]:
        return 0
    tests = compare(out["results"], baseline, [cfg.main_metric], seed=cfg.seed) if baseline else None
    paths = write_summary(out["results"], out["model_dir"], cfg.metrics, cfg.main_metric, baseline, tests, cfg.plot)
    print((out["model_dir"] / "table.md").read_text(encoding="utf-8"))
    where = out["model_dir"].resolve() if default_output else out["model_dir"]
    print(f"computed {out['computed']}, kept {out['skipped']}; results in {where} "
          f"({', '.join(p.name for p in paths.values())})" + (" (the default --output)" if default_output else ""))
    return 0


def cmd_card_update(args) -> int:
    from evaluation.card import update_card

    path = update_card(args.model, args.results, args.model_name)
    print(f"updated {path}")
    return 0


def main(argv=None) -> int:
    """`python -m evaluation COMMAND ...` / `accelerate launch -m evaluation COMMAND ...`: the `csir` commands."""
    from csir.cli import main as csir_main

    return csir_main(argv)
