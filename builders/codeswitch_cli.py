"""`csir codeswitch`: code-switch a query/passage corpus into a Hub-layout dataset repo."""

from __future__ import annotations

import json
import time
from pathlib import Path

import datasets

from builders.codeswitch import VARIANTS, CodeSwitchConfig, CodeSwitcher, codeswitch_dataset
from builders.inputs import describe_rows_input, load_rows
from builders.lexicons.store import load_lexicons
from builders.repo_writer import describe_input, read_manifest, write_dataset_repo
from csir.errors import CsirError
from csir.hub.load import load_repo_dataset
from csir.langs import check_lang
from csir.procs import die_with_parent


def _langs(value: str | None, field: str) -> list[str]:
    return [check_lang(x.strip(), field) for x in value.split(",") if x.strip()] if value else []


def register(sub):
    p = sub.add_parser("codeswitch", help="code-switch a query/passage corpus (BL-CS, ML-CS, Wiki-CS)")
    p.add_argument("--input", required=True, help="JSONL/parquet rows {id, query, passage, label}, a dataset folder or a Hub id")
    p.add_argument("--input-config", help="config of a dataset folder / Hub input")
    p.add_argument("--input-revision", help="revision of a Hub input")
    p.add_argument("--split", help="only this split of the input")
    p.add_argument("--lexicon", action="append", default=[], metavar="LANG=PATH_OR_REPO",
                   help="lexicon for LANG (repeatable; several per language merge in order)")
    p.add_argument("--variant", choices=VARIANTS, default="bl-cs")
    p.add_argument("--query-lang", help="BL-CS: language for queries (en = unchanged); ML-CS: comma list")
    p.add_argument("--passage-lang", help="BL-CS: language for passages; ML-CS: comma list")
    p.add_argument("--langs", help="ML-CS: the language set for both sides, e.g. de,fr,it")
    p.add_argument("--p", type=float, help="switch probability per token (default 0.5; wiki-cs 1.0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--translation", choices=["top1", "sample"], default="top1")
    p.add_argument("--tokenizer", choices=["fast", "treebank"], default="fast")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes (>= 1)")
    p.add_argument("--float-labels", action="store_true",
                   help="accept graded labels in [0, 1] (default: every label is 0 or 1)")
    p.add_argument("--config-name", help="output config name (default derived, e.g. bl-cs-p0.5-en-de)")
    p.add_argument("--append", action="store_true", help="add this config to an existing repo folder at --output")
    p.add_argument("--output", required=True)
    try:
        from csir.hub.cli import add_publish_args
        add_publish_args(p)
    except ImportError:
        pass
    p.set_defaults(func=run)


def build_config(args) -> CodeSwitchConfig:
    q, d = _langs(args.query_lang, "--query-lang"), _langs(args.passage_lang, "--passage-lang")
    if args.variant == "ml-cs":
        both = _langs(args.langs, "--langs")
        q, d = q or both, d or both
        if not q and not d:
            raise CsirError("ml-cs: give --langs (e.g. de,fr,it)")
    elif args.variant in ("bl-cs", "wiki-cs"):
        if len(q) > 1 or len(d) > 1:
            raise CsirError(f"{args.variant}: one language per side (use --variant ml-cs for several)")
        if not q and not d:
            raise CsirError(f"{args.variant}: give --query-lang and/or --passage-lang")
    p = args.p if args.p is not None else (1.0 if args.variant == "wiki-cs" else 0.5)
    return CodeSwitchConfig(variant=args.variant, query_langs=q, passage_langs=d, p=p, seed=args.seed,
                            translation=args.translation, tokenizer=args.tokenizer)


def _parse_lexicon_args(values: list[str]) -> dict[str, list[str]]:
    specs: dict[str, list[str]] = {}
    for v in values:
        lang, sep, spec = v.partition("=")
        if not sep or not spec:
            raise CsirError(f"--lexicon: expected LANG=PATH_OR_REPO, got '{v}'")
        specs.setdefault(check_lang(lang, "--lexicon"), []).append(spec)
    return specs


def _existing_configs(folder: Path) -> dict[str, dict[str, datasets.Dataset]]:
    manifest = read_manifest(folder)
    out = {}
    for name, splits in manifest.get("configs", {}).items():
        out[name] = {split: load_repo_dataset(folder, name, split=split) for split in splits}
    return out


def run(args) -> int:
    if args.num_proc < 1:
        raise CsirError(f"--num-proc: must be at least 1, got {args.num_proc}")
    die_with_parent()  # the map workers must not outlive a killed run
    cfg = build_config(args)
    lex_specs = _parse_lexicon_args(args.lexicon)
    lexicons = load_lexicons(lex_specs)
    dd = load_rows(args.input, config=args.input_config, revision=args.input_revision, split=args.split,
                   label_required=True, float_labels=args.float_labels)
    switcher = CodeSwitcher(cfg, lexicons)
    name = args.config_name or cfg.config_name()
    t0 = time.time()
    data_splits, meta_splits, stats = {}, {}, {}
    for split, ds in dd.items():
        data, meta, st = codeswitch_dataset(ds, switcher, num_proc=args.num_proc, source=args.input)
        data_splits[split], meta_splits[split], stats[split] = data, meta, st
    configs, prior = {}, {}
    out = Path(args.output)
    if args.append and out.exists():
        configs = _existing_configs(out)
        prior = read_manifest(out).get("variants", {})
    configs[name] = data_splits
    configs[f"{name}-meta"] = meta_splits
    input_desc = describe_rows_input(args.input, config=args.input_config, revision=args.input_revision)
    variant_record = {
        "config": name, "codeswitch": cfg.to_dict(), "input": input_desc,
        "lexicons": {lang: {"specs": specs, "name": lexicons[lang].name, "sources": len(lexicons[lang]),
                            "inputs": [describe_input(s) for s in specs if Path(s).is_file()]}
                     for lang, specs in lex_specs.items()},
        "switch_statistics": stats,
    }
    variants = {**prior, name: variant_record}
    langs = sorted({"en", *cfg.query_langs, *cfg.passage_langs,
                    *(l for v in prior.values() for l in v["codeswitch"]["query_langs"] + v["codeswitch"]["passage_langs"])})
    manifest = {"kind": "code-switched-corpus", "variants": variants,
                "tokenizer": {"fast": "Treebank-compatible regex word spans, in-place replacement",
                              "treebank": "nltk TreebankWordTokenizer.span_tokenize"}[cfg.tokenizer]}
    ratio_rows = "\n".join(
        f"| `{v}` | {r['codeswitch']['variant']} | {r['codeswitch']['p']} | {s} | {st['query']['ratio']:.3f} | {st['passage']['ratio']:.3f} |"
        for v, r in variants.items() for s, st in r["switch_statistics"].items())
    card = {
        "pretty_name": f"Code-switched retrieval training data ({', '.join(variants)})",
        "language": langs, "license": "other", "tags": ["code-switched", "information-retrieval"],
        "description": "Query/passage training pairs code-switched with bilingual lexicons (Litschko et al., 2023). "
                       "Each config `X` has columns `query, passage, label` (the sentence-transformers cross-encoder "
                       "contract: inputs in order, label last); `X-meta` holds the example ids and per-row switch "
                       "counts (content tokens switched / content tokens) in the same row order.",
        "sections": {"Realised switch ratios": "| config | variant | p | split | query | passage |\n"
                                               "|---|---|---:|---|---:|---:|\n" + ratio_rows},
        "repo_id": getattr(args, "push_to_hub", None), "version": getattr(args, "version", None),
    }
    write_dataset_repo(out, configs, card=card, manifest=manifest)
    summary = {"output": str(out), "config": name, "seconds": round(time.time() - t0, 2),
               "rows": {s: len(d) for s, d in data_splits.items()},
               "switch_ratio": {s: st["overall"]["ratio"] for s, st in stats.items()},
               "query_ratio": {s: st["query"]["ratio"] for s, st in stats.items()},
               "passage_ratio": {s: st["passage"]["ratio"] for s, st in stats.items()}}
    print(json.dumps(summary, ensure_ascii=False))
    if getattr(args, "push_to_hub", None):
        from csir.hub.cli import publish_from_args
        publish_from_args(out, args)
    return 0
