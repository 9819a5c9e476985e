"""`csir lexicon dict|clwe|titles`: build a lexicon repo folder (optionally publish it)."""

from __future__ import annotations

import argparse
import json

from builders.lexicons.base import precision_at_k, read_gold
from builders.lexicons.store import lexicon_config_name, write_lexicon_repo
from builders.repo_writer import describe_input
from csir.errors import CsirError
from csir.langs import check_lang

DICT_LICENCES = {
    "ding": ("GPL-2.0-or-later", "Ding dictionary (trans-de-en) © Frank Richter, TU Chemnitz, GPL-2.0-or-later."),
    "freedict": ("GPL-3.0-or-later", "FreeDict dictionaries (freedict.org), GPL-3.0-or-later / AGPL-3.0 as stated "
                                     "in each dictionary's 00-database-info."),
    "muse": ("other", "MUSE bilingual dictionaries (facebookresearch/MUSE), CC-BY-NC-4.0, when taken from there."),
}


def _common(p: argparse.ArgumentParser):
    p.add_argument("--src", required=True, help="source language (the language of the training text, e.g. en)")
    p.add_argument("--tgt", required=True, help="target language")
    p.add_argument("--output", required=True, help="output folder (Hub-layout dataset repo)")
    p.add_argument("--config-name", help="config name (default METHOD-SRC-TGT)")
    p.add_argument("--gold", help="gold dictionary (`src tgt` per line): report P@1/P@5")
    p.add_argument("--license", help="licence id for the card (default: the source's)")
    _publish_args(p)


def _publish_args(p):
    try:
        from csir.hub.cli import add_publish_args
    except ImportError:
        return
    add_publish_args(p)


def register(sub):
    lex = sub.add_parser("lexicon", help="build bilingual lexicons")
    kinds = lex.add_subparsers(dest="lexicon_kind", required=True, metavar="KIND")

    d = kinds.add_parser("dict", help="from a dictionary: MUSE text, Ding, FreeDict dictd")
    d.add_argument("--format", required=True, choices=["muse", "ding", "freedict"])
    d.add_argument("--input", required=True, help="dictionary file (FreeDict: the .index file)")
    d.add_argument("--left-lang", default="de", help="Ding: language of the left side (default de)")
    d.add_argument("--max-per-source", type=int, default=10, help="keep the k best targets per source")
    _common(d)
    d.set_defaults(func=run_dict)

    c = kinds.add_parser("clwe", help="from aligned cross-lingual word embeddings (.vec)")
    c.add_argument("--src-emb", required=True)
    c.add_argument("--tgt-emb", required=True)
    c.add_argument("--method", choices=["nn", "csls"], default="nn", help="nn = cosine argmax (paper)")
    c.add_argument("--k", type=int, default=1, help="k-best translations per source word")
    c.add_argument("--csls-k", type=int, default=10)
    c.add_argument("--seed-dict", help="align the source space first (orthogonal Procrustes on these `src tgt` pairs)")
    c.add_argument("--max-vocab", type=int, default=200_000)
    c.add_argument("--batch-size", type=int, default=4096)
    _common(c)
    c.set_defaults(func=run_clwe)

    t = kinds.add_parser("titles", help="from parallel titles: a TSV, or Wikipedia page + langlinks SQL dumps")
    t.add_argument("--input", help="two-column TSV: source title<TAB>target title")
    t.add_argument("--page-sql", help="{src}wiki-*-page.sql(.gz)")
    t.add_argument("--langlinks-sql", help="{src}wiki-*-langlinks.sql(.gz)")
    t.add_argument("--keep-disambiguation", action="store_true", help="keep '(…)' suffixes of titles")
    _common(t)
    t.set_defaults(func=run_titles)


def _finish(args, method, lexicon, inputs, parameters, license_default, attribution):
    src, tgt = lexicon.src, lexicon.tgt
    name = args.config_name or lexicon_config_name(method, src, tgt)
    gold = {name: precision_at_k(lexicon, read_gold(args.gold))} if args.gold else None
    if args.gold:
        inputs = inputs + [describe_input(args.gold, role="gold")]
    out = write_lexicon_repo(args.output, {name: lexicon}, inputs=inputs, parameters=parameters, gold=gold,
                             license=args.license or license_default, attribution=attribution,
                             repo_id=getattr(args, "push_to_hub", None), version=getattr(args, "version", None))
    summary = {"output": str(out), "config": name, "sources": len(lexicon), "pairs": lexicon.num_pairs}
    if gold:
        summary.update({k: v for k, v in gold[name].items()})
    print(json.dumps(summary, ensure_ascii=False))
    if getattr(args, "push_to_hub", None):
        from csir.hub.cli import publish_from_args
        publish_from_args(out, args)
    return 0


def run_dict(args):
    from builders.lexicons.dictionaries import read_dictionary

    src, tgt = check_lang(args.src, "--src"), check_lang(args.tgt, "--tgt")
    kw = {"max_per_source": args.max_per_source}
    if args.format == "ding":
        kw["left_lang"] = check_lang(args.left_lang, "--left-lang")
    lex = read_dictionary(args.format, args.input, src, tgt, **kw)
    inputs = [describe_input(args.input, role="dictionary", format=args.format)]
    if args.format == "freedict":
        from pathlib import Path
        dz = Path(args.input).with_suffix(".dict.dz")
        if dz.exists():
            inputs.append(describe_input(dz, role="dictionary-data"))
    licence, attribution = DICT_LICENCES[args.format]
    return _finish(args, args.format, lex, inputs, {"format": args.format, **kw}, licence, attribution)


def run_clwe(args):
    from builders.lexicons.clwe import build_clwe_lexicon

    src, tgt = check_lang(args.src, "--src"), check_lang(args.tgt, "--tgt")
    lex = build_clwe_lexicon(args.src_emb, args.tgt_emb, src, tgt, method=args.method, k=args.k,
                             max_vocab=args.max_vocab, csls_k=args.csls_k, batch_size=args.batch_size,
                             seed_dict=args.seed_dict)
    inputs = [describe_input(args.src_emb, role="src-embeddings"), describe_input(args.tgt_emb, role="tgt-embeddings")]
    params = {"method": args.method, "k": args.k, "csls_k": args.csls_k, "max_vocab": args.max_vocab,
              "procrustes_seed_dict": args.seed_dict}
    if args.seed_dict:
        inputs.append(describe_input(args.seed_dict, role="procrustes-seed-dictionary"))
    return _finish(args, "clwe", lex, inputs, params, "other", "Induced from the given aligned embeddings.")


def run_titles(args):
    from builders.lexicons.titles import read_titles_tsv, read_wikipedia_dumps

    src, tgt = check_lang(args.src, "--src"), check_lang(args.tgt, "--tgt")
    strip = not args.keep_disambiguation
    if args.input:
        lex = read_titles_tsv(args.input, src, tgt, strip_disambiguation=strip)
        inputs = [describe_input(args.input, role="titles")]
    elif args.page_sql and args.langlinks_sql:
        lex = read_wikipedia_dumps(args.page_sql, args.langlinks_sql, src, tgt, strip_disambiguation=strip)
        inputs = [describe_input(args.page_sql, role="page"), describe_input(args.langlinks_sql, role="langlinks")]
    else:
        raise CsirError("titles: give --input TSV, or both --page-sql and --langlinks-sql")
    attribution = "Wikipedia page titles and interlanguage links, CC BY-SA 4.0 (Wikimedia Foundation)."
    return _finish(args, "wiki", lex, inputs, {"strip_disambiguation": strip}, "cc-by-sa-4.0", attribution)
