"""`csir evalset ddtp|mmarco|emoji|flags`: build evaluation sets in MTEB's retrieval layout."""

from __future__ import annotations


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def register(sub) -> None:
    e = sub.add_parser("evalset", help="build an evaluation set in MTEB's retrieval layout")
    esub = e.add_subparsers(dest="evalset", metavar="SET", required=True)
    d = esub.add_parser("ddtp", help="DDTP held-out packages: X-en, en-X, X-X and MLIR subsets")
    d.add_argument("--ddtp-dir", required=True, help="folder with Translation-<lang> files (see README)")
    d.add_argument("--output", required=True)
    d.add_argument("--langs", default="en,de,fr,it")
    d.add_argument("--pairs", help="only these pairs (default: all X-en, en-X, X-X, X-mlir)")
    d.add_argument("--setup", default="clir,moir,mlir")
    d.add_argument("--top-k", type=int, default=100, help="BM25 candidates per query")
    d.add_argument("--first-stage", choices=("bm25-en", "bm25-pair"), default="bm25-en",
                   help="bm25-en: English BM25 for every pair (the paper); bm25-pair: each pair's own queries and "
                        "collection (never sees the English query)")
    d.add_argument("--max-queries", type=int)
    d.add_argument("--max-docs", type=int)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_evalset_ddtp)
    m = esub.add_parser("mmarco", help="MS MARCO dev small + mMARCO translations (CLIR, MLIR, MoIR)")
    m.add_argument("--msmarco-dir", required=True, help="MS MARCO files: collection.tsv, queries.dev.small.tsv, "
                                                         "qrels.dev.small.tsv, optional top1000.dev")
    m.add_argument("--mmarco-dir", required=True, help="mMARCO translations (unicamp-dl/mmarco layout)")
    m.add_argument("--output", required=True)
    m.add_argument("--langs", default="en,de,it")
    m.add_argument("--pairs")
    m.add_argument("--setup", default="clir,moir,mlir")
    m.add_argument("--top-k", type=int, default=1000)
    m.add_argument("--max-queries", type=int)
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_evalset_mmarco)

    e = esub.add_parser(
        "emoji", help="emoji image-text retrieval (npm emoji-datasource-google + emojibase-data), t2i and i2t")
    e.add_argument("--output", required=True)
    e.add_argument("--npm-dir", help="folder with <package>/package/ trees (default: npm pack into the raw cache)")
    e.add_argument("--langs", default="en,de,fr,it,ja,es,ru,zh")
    e.add_argument("--directions", default="t2i,i2t", help="t2i (text->image), i2t (image->text)")
    e.add_argument("--max-heldout", type=int, help="cap on held-out emojis (quick runs)")
    e.add_argument("--caption-langs", default="en", help="languages of the training captions (captions-<lang3> configs beyond en: translate-train)")
    e.set_defaults(func=cmd_evalset_emoji)

    f = esub.add_parser("flags", help="country-flag image-text retrieval (npm svg-country-flags + CLDR names via "
                                      "Babel), t2i and i2t")
    f.add_argument("--output", required=True)
    f.add_argument("--npm-dir", help="folder with svg-country-flags/package/ (default: npm pack into the raw cache)")
    f.add_argument("--langs", default="en,de,fr,it,es,ja,ru,zh", help="evaluation languages (any CLDR locale)")
    f.add_argument("--directions", default="t2i,i2t", help="t2i (text->image), i2t (image->text)")
    f.add_argument("--caption-langs", default="en", help="languages of the training captions (captions-<lang3> configs beyond en: translate-train)")
    f.set_defaults(func=cmd_evalset_flags)

    c = esub.add_parser("codeswitch-queries", help="code-switched query subsets derived from any MTEB-layout set")
    c.add_argument("--input", required=True, help="retrieval set (folder, git clone or Hub id) in MTEB's layout")
    c.add_argument("--input-revision", help="tag/branch/commit of --input")
    c.add_argument("--lexicon", action="append", default=[], metavar="LANG=PATH_OR_REPO",
                   help="en->LANG lexicon (repeatable; csir lexicon output folder, Hub repo or TSV)")
    c.add_argument("--langs", required=True, help="target languages, e.g. de,fr")
    c.add_argument("--p", default="0.25,0.5,1.0", help="switch probabilities (grid), e.g. 0.25,0.5,1.0")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--subsets", help="source subsets (default: every subset with English queries)")
    c.add_argument("--output", required=True)
    c.set_defaults(func=cmd_evalset_codeswitch_queries)


def cmd_evalset_ddtp(args) -> int:
    from builders.evalsets.tasks import filter_setups, parse_pair
    from builders.evalsets.text import EvalsetConfig, build_ddtp_evalset
    from csir.langs import check_lang

    langs = [check_lang(x, "--langs") for x in _csv(args.langs)]
    setups = _csv(args.setup)
    cfg = EvalsetConfig(langs=langs, setups=setups, top_k=args.top_k, max_queries=args.max_queries,
                        max_docs=args.max_docs, seed=args.seed, first_stage=args.first_stage)
    pairs = filter_setups([parse_pair(p) for p in _csv(args.pairs)], setups) if args.pairs else None
    out = build_ddtp_evalset(args.ddtp_dir, args.output, cfg, pairs)
    print(f"wrote {out}")
    return 0


def cmd_evalset_mmarco(args) -> int:
    from builders.evalsets.tasks import filter_setups, parse_pair
    from builders.evalsets.text import EvalsetConfig, build_mmarco_evalset
    from csir.langs import check_lang

    langs = [check_lang(x, "--langs") for x in _csv(args.langs)]
    setups = _csv(args.setup)
    cfg = EvalsetConfig(langs=langs, setups=setups, top_k=args.top_k, max_queries=args.max_queries, seed=args.seed)
    pairs = filter_setups([parse_pair(p) for p in _csv(args.pairs)], setups) if args.pairs else None
    out = build_mmarco_evalset(args.msmarco_dir, args.mmarco_dir, args.output, cfg, pairs)
    print(f"wrote {out}")
    return 0


def cmd_evalset_emoji(args) -> int:
    from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
    from csir.langs import check_lang

    langs = [check_lang(x.strip(), "--langs") for x in args.langs.split(",") if x.strip()]
    cfg = EmojiSetConfig(langs=langs, directions=[d.strip() for d in args.directions.split(",") if d.strip()],
                         max_heldout=args.max_heldout, caption_langs=_csv(args.caption_langs))
    out = build_emoji_evalset(args.npm_dir, args.output, cfg)
    print(f"wrote {out}")
    return 0


def cmd_evalset_flags(args) -> int:
    from builders.evalsets.flags import FlagSetConfig, build_flags_evalset

    cfg = FlagSetConfig(langs=_csv(args.langs), directions=_csv(args.directions), caption_langs=_csv(args.caption_langs))
    out = build_flags_evalset(args.npm_dir, args.output, cfg)
    print(f"wrote {out}")
    return 0


def cmd_evalset_codeswitch_queries(args) -> int:
    from builders.codeswitch_cli import _parse_lexicon_args
    from builders.evalsets.codeswitched_queries import CodeSwitchedQueriesConfig, build_codeswitched_queries
    from csir.errors import CsirError

    try:
        grid = [float(x) for x in _csv(args.p)]
    except ValueError:
        raise CsirError(f"--p: expected numbers like 0.25,0.5,1.0, got '{args.p}'") from None
    lexicons = {lang: specs[0] if len(specs) == 1 else specs
                for lang, specs in _parse_lexicon_args(args.lexicon).items()}
    cfg = CodeSwitchedQueriesConfig(langs=_csv(args.langs), p_grid=grid, seed=args.seed, subsets=_csv(args.subsets))
    out = build_codeswitched_queries(args.input, lexicons, args.output, cfg, revision=args.input_revision)
    print(f"wrote {out}")
    return 0
