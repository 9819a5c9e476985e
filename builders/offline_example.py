"""The offline example: real lexicons (Ding, FreeDict) and code-switched DDTP training data.

Builds `OUT/lexicons` (configs ding-en-de, freedict-en-{de,fr,it}) and `OUT/ddtp-codeswitched` (configs
zero-shot, bl-cs-p0.5-en-{de,fr,it}, ml-cs-p0.5-de-fr-it, each with a `-meta` sibling), from files fetched
with apt (see builders/fetch.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builders.codeswitch import CodeSwitchConfig, CodeSwitcher, codeswitch_dataset
from builders.fetch import default_data_dir, fetch_ddtp, fetch_dictionaries
from builders.lexicons.dictionaries import read_ding, read_freedict
from builders.lexicons.store import write_lexicon_repo
from builders.repo_writer import describe_input, write_dataset_repo
from builders.sources.ddtp import ddtp_training_pairs, find_translation_files

FREEDICT = {"de": "deu", "fr": "fra", "it": "ita"}
NEW_OPTIONS = {"negative_pool": "queries", "near_duplicate_words": None}


@dataclass
class ExampleConfig:
    output: str = "demo-output/data"
    data_dir: str | None = None        # raw-data cache (default ~/.cache/codeswitch-ir/raw)
    ddtp_dir: str | None = None        # use these Translation files instead of fetching
    dict_dir: str | None = None        # folder holding usr/share/{trans,dictd}
    langs: list[str] = field(default_factory=lambda: ["de", "fr", "it"])
    p: float = 0.5
    seed: int = 1
    negatives: int = 4
    negatives_from: str = "random"     # or "bm25": hard negatives, as a re-ranker meets them (MS MARCO's triples)
    max_queries: int | None = 20_000   # training queries (x (1 + negatives) rows); None = every usable entry
    negative_pool: str = "queries"     # or "all": negatives from every non-held-out package, not only the kept ones
    near_duplicate_words: int | None = None  # drop negatives near-identical to the positive in their first N words
    num_proc: int = 2
    variants: list[str] | None = None  # build only these configs (default: all five)
    dictionaries: list[str] = field(default_factory=lambda: ["freedict", "ding"])


def build_lexicons(cfg: ExampleConfig, dict_root: Path) -> tuple[Path, dict]:
    share = dict_root / "usr" / "share"
    lexicons, inputs = {}, []
    ding = share / "trans" / "de-en"
    if "ding" in cfg.dictionaries and "de" in cfg.langs and ding.exists():
        lexicons["ding-en-de"] = read_ding(ding, "en", "de")
        inputs.append(describe_input(ding, role="dictionary", format="ding", package="trans-de-en"))
    for lang in cfg.langs:
        index = share / "dictd" / f"freedict-eng-{FREEDICT[lang]}.index"
        lexicons[f"freedict-en-{lang}"] = read_freedict(index, "en", lang)
        inputs += [describe_input(index, role="dictionary", format="freedict", package=f"dict-freedict-eng-{FREEDICT[lang]}"),
                   describe_input(index.with_suffix(".dict.dz"), role="dictionary-data")]
    out = Path(cfg.output) / "lexicons"
    attribution = ("Ding (trans-de-en) © Frank Richter, TU Chemnitz, GPL-2.0-or-later; FreeDict English-German/"
                   "French/Italian (dict-freedict-*), GPL-3.0-or-later/AGPL-3.0 per each 00-database-info; both "
                   "taken from the Debian archive.")
    write_lexicon_repo(out, lexicons, inputs=inputs, parameters={"max_per_source": 10}, license="gpl-3.0",
                       attribution=attribution)
    return out, lexicons


def lexicons_per_language(lexicons: dict) -> dict:
    """FreeDict first (its best sense is usually the common one), Ding entries fill gaps for German."""
    from builders.lexicons.base import Lexicon

    out = {}
    for name, lex in lexicons.items():
        lang = lex.tgt
        if lang not in out:
            out[lang] = lex
            continue
        merged = {k: list(v) for k, v in out[lang].entries.items()}
        for k, v in lex.entries.items():
            merged.setdefault(k, v)
        out[lang] = Lexicon("en", lang, dict(sorted(merged.items())), name=f"{out[lang].name} + {lex.name}")
    return out


def _extra_variants(cfg: ExampleConfig) -> list[CodeSwitchConfig]:
    """Variants beyond the default five that `variants` may name: X-X and X-en BL-CS per language, and ML-CS and
    query-side BL-CS at the paper's other switch probabilities (the p grid)."""
    out = []
    for l in cfg.langs:
        out.append(CodeSwitchConfig(variant="bl-cs", query_langs=[l], passage_langs=[l], p=cfg.p, seed=cfg.seed))
        out.append(CodeSwitchConfig(variant="bl-cs", query_langs=[l], p=cfg.p, seed=cfg.seed))
    for p in (0.25, 0.5, 0.75, 1.0):
        if p != cfg.p:
            out.append(CodeSwitchConfig(variant="ml-cs", query_langs=list(cfg.langs), passage_langs=list(cfg.langs),
                                        p=p, seed=cfg.seed))
            out += [CodeSwitchConfig(variant="bl-cs", query_langs=[l], p=p, seed=cfg.seed) for l in cfg.langs]
    return out


def build(cfg: ExampleConfig, progress=print) -> dict:
    t0 = time.time()
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir()
    ddtp = Path(cfg.ddtp_dir) if cfg.ddtp_dir else fetch_ddtp(data_dir)
    dict_root = Path(cfg.dict_dir) if cfg.dict_dir else fetch_dictionaries(data_dir)
    progress(f"[1/3] lexicons from {dict_root}")
    lex_dir, lexicons = build_lexicons(cfg, dict_root)
    by_lang = lexicons_per_language(dict(sorted(lexicons.items(), key=lambda kv: not kv[0].startswith("freedict"))))
    progress(f"[2/3] DDTP training pairs from {ddtp}")
    pairs = ddtp_training_pairs(ddtp, negatives=cfg.negatives, seed=cfg.seed, limit=cfg.max_queries,
                                negatives_from=cfg.negatives_from, negative_pool=cfg.negative_pool,
                                near_duplicate_words=cfg.near_duplicate_words)
    variants = [CodeSwitchConfig(variant="zero-shot", seed=cfg.seed)]
    variants += [CodeSwitchConfig(variant="bl-cs", passage_langs=[l], p=cfg.p, seed=cfg.seed) for l in cfg.langs]
    variants.append(CodeSwitchConfig(variant="ml-cs", query_langs=list(cfg.langs), passage_langs=list(cfg.langs),
                                     p=cfg.p, seed=cfg.seed))
    if cfg.variants:
        variants = [v for v in variants if v.config_name() in cfg.variants]
        variants += [v for v in _extra_variants(cfg) if v.config_name() in cfg.variants]
    configs, records = {}, {}
    progress(f"[3/3] code-switching {len(pairs)} rows into {len(variants)} variants")
    for vc in variants:
        name = vc.config_name()
        data, meta, stats = codeswitch_dataset(pairs, CodeSwitcher(vc, by_lang), num_proc=cfg.num_proc)
        configs[name], configs[f"{name}-meta"] = {"train": data}, {"train": meta}
        records[name] = {"config": name, "codeswitch": vc.to_dict(), "switch_statistics": {"train": stats},
                         "lexicons": {l: by_lang[l].name for l in set(vc.query_langs) | set(vc.passage_langs)}}
    en_files = find_translation_files(ddtp)["en"]
    example = {k: v for k, v in asdict(cfg).items()  # options left at their default are not recorded, so data
               if k not in NEW_OPTIONS or v != NEW_OPTIONS[k]}  # built before they existed keeps its manifest
    manifest = {"kind": "code-switched-corpus", "example": example, "variants": records,
                "inputs": [describe_input(f, role="ddtp-en") for f in en_files],
                "lexicon_repo": str(lex_dir), "tokenizer": "Treebank-compatible regex word spans, in-place replacement"}
    rows = "\n".join(f"| `{n}` | {r['codeswitch']['p']} | {r['switch_statistics']['train']['query']['ratio']:.3f} | "
                     f"{r['switch_statistics']['train']['passage']['ratio']:.3f} | "
                     f"{r['switch_statistics']['train']['overall']['lexicon_coverage']:.3f} |" for n, r in records.items())
    card = {"pretty_name": "Code-switched DDTP retrieval training data",
            "language": sorted({"en", *cfg.langs}), "license": "other",
            "tags": ["code-switched", "information-retrieval", "ddtp"],
            "description": "Queries = short and passages = long English Debian package descriptions (DDTP, held-out "
                           f"evaluation packages excluded), 1 positive : {cfg.negatives} "
                           + ("BM25-ranked" if cfg.negatives_from == "bm25" else "sampled") + " negatives, code-switched with "
                           "FreeDict/Ding lexicons (Litschko et al., 2023). Columns `query, passage, label`.",
            "sections": {"Realised switch ratios": "| config | p | query | passage | lexicon coverage |\n"
                                                   "|---|---:|---:|---:|---:|\n" + rows},
            "attribution": "Debian package descriptions and DDTP translations (ddtp.debian.org), distributed with "
                           "the Debian archive under the packages' licences."}
    out = write_dataset_repo(Path(cfg.output) / "ddtp-codeswitched", configs, card=card, manifest=manifest,
                             default_config="zero-shot")
    summary = {"lexicons": str(lex_dir), "dataset": str(out), "rows": len(pairs), "seconds": round(time.time() - t0, 1),
               "switch_ratio": {n: r["switch_statistics"]["train"]["overall"]["ratio"] for n, r in records.items()}}
    progress(json.dumps(summary, indent=1))
    return summary


def register(sub):
    p = sub.add_parser("example", help="build the offline example (DDTP + Debian dictionaries) end to end")
    p.add_argument("--output", default=ExampleConfig.output)
    p.add_argument("--data-dir", help="raw-data cache (default ~/.cache/codeswitch-ir/raw or $CSIR_DATA_DIR)")
    p.add_argument("--ddtp-dir", help="existing folder with Translation-<lang> files (skip apt)")
    p.add_argument("--dict-dir", help="existing folder with usr/share/{trans,dictd} (skip apt)")
    p.add_argument("--p", type=float, default=ExampleConfig.p)
    p.add_argument("--seed", type=int, default=ExampleConfig.seed)
    p.add_argument("--max-queries", type=int, default=ExampleConfig.max_queries)
    p.add_argument("--num-proc", type=int, default=ExampleConfig.num_proc)
    p.add_argument("--negatives-from", choices=("random", "bm25"), default=ExampleConfig.negatives_from,
                   help="negatives per query: a keyed random sample, or the top of a BM25 ranking (hard negatives)")
    p.set_defaults(func=lambda a: build(ExampleConfig(output=a.output, data_dir=a.data_dir, ddtp_dir=a.ddtp_dir,
                                                      dict_dir=a.dict_dir, p=a.p, seed=a.seed,
                                                      max_queries=a.max_queries, num_proc=a.num_proc,
                                                      negatives_from=a.negatives_from)) and 0)
