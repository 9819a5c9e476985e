"""Translate-train: the MS MARCO training pairs with queries and passages swapped for their mMARCO translations.

The paper's translate-train baseline trains on the `csir msmarco-pairs` rows in the target language. Rows are
joined on the MS MARCO ids that `csir msmarco-pairs` keeps in config `pairs-meta` (id, qid, pid; the row order
of `pairs`): the query by qid in `data/google/queries/train/{language}_queries.train.tsv`, the passage by pid in
`data/google/collections/{language}_collection.tsv`. Each file is streamed once per language and only the ids
the pairs use are kept (a collection is ~9 GB).

Output, one dataset folder written by `builders.repo_writer`: per language a config named by its code (`de`:
columns query, passage, label, in the pairs' row order) and `de-meta` (id, qid, pid). `--queries-only` /
`--passages-only` keep the other side in English; their configs are `de-queries` / `de-passages`.

Python API (no CLI involved):

    from builders.sources.mmarco import MMarco
    from builders.sources.msmarco_translate import load_pair_ids, translate_pairs
    data, meta = load_pair_ids("data/msmarco-pairs")                     # configs pairs + pairs-meta
    de, de_meta, stats = translate_pairs(data, meta, MMarco("/data/mmarco"), "de")
"""

from __future__ import annotations

from pathlib import Path

import datasets

from builders.inputs import describe_rows_input, load_rows
from builders.sources.mmarco import MMARCO_REPO, MMarco, mmarco_language, mmarco_name
from builders.sources.msmarco import PAIR_META_COLUMNS, collect_texts, pairs_dataset, read_id_text
from csir.errors import CsirError

SIDES = {"both": ("query", "passage"), "queries": ("query",), "passages": ("passage",)}
ON_MISSING = ("error", "drop")
TRANSLATED_FEATURES = datasets.Features({"query": datasets.Value("string"), "passage": datasets.Value("string"),
                                         "label": datasets.Value("float32")})
_JOIN_KEY = {"query": "qid", "passage": "pid"}


def config_name(lang: str, sides: str = "both") -> str:
    """`de` for both sides translated, `de-queries` / `de-passages` for one side."""
    iso = mmarco_language(lang)
    return iso if sides == "both" else f"{iso}-{sides}"


def load_pair_ids(spec: str, *, config: str = "pairs", revision: str | None = None,
                  split: str = "train") -> tuple[datasets.Dataset, datasets.Dataset]:
    """The pairs (query, passage, label) and their MS MARCO ids (`{config}-meta`: id, qid, pid), same rows."""
    data = load_rows(spec, config=config, revision=revision, split=split,
                     required=("query", "passage", "label"))[split]
    try:
        meta = load_rows(spec, config=f"{config}-meta", revision=revision, split=split,
                         required=PAIR_META_COLUMNS)[split]
    except CsirError as e:
        raise CsirError(f"{e}; the translation join needs the MS MARCO qid and pid of every row, which "
                        f"`csir msmarco-pairs` writes to config '{config}-meta': rebuild the pairs with it") from None
    same = len(meta) == len(data) and ("id" not in data.column_names or
                                       data.with_format("arrow")["id"].equals(meta.with_format("arrow")["id"]))
    if not same:
        raise CsirError(f"{spec}: configs '{config}' ({len(data)} rows) and '{config}-meta' ({len(meta)} rows) "
                        "do not hold the same rows in the same order")
    return data, meta


def read_translations(mm: MMarco, lang: str, side: str, ids: set[str], *, strict: bool = True,
                      progress: bool = True) -> dict[str, str]:
    """{id: text in `lang`} for the train queries (side "query") or collection passages ("passage") in `ids`."""
    path = mm.queries_path(lang, "train") if side == "query" else mm.collection_path(lang)
    return collect_texts(read_id_text(path, side), ids, str(path), side, progress, used_by="the pairs",
                          strict=strict, desc=f"reading {mmarco_name(lang)} {side} texts")


def translate_pairs(data: datasets.Dataset, meta: datasets.Dataset, mm: MMarco, lang: str, *, sides: str = "both",
                    on_missing: str = "error", progress: bool = True
                    ) -> tuple[datasets.Dataset, datasets.Dataset, dict]:
    """(translated query, passage, label; meta id, qid, pid; statistics), rows in the order of `data`.

    on_missing="error": a CsirError naming the mMARCO file and the missing ids; "drop": rows whose query or
    passage has no translation are left out (a dropped positive leaves its negatives; the trainer's
    `negatives_per_positive` filter then drops them too) and counted in the statistics.
    """
    if sides not in SIDES:
        raise CsirError(f"sides: expected one of {', '.join(SIDES)}, got '{sides}'")
    if on_missing not in ON_MISSING:
        raise CsirError(f"on_missing: expected one of {', '.join(ON_MISSING)}, got '{on_missing}'")
    keys = {side: meta[_JOIN_KEY[side]] for side in SIDES[sides]}
    texts = {side: read_translations(mm, lang, side, set(k), strict=on_missing == "error", progress=progress)
             for side, k in keys.items()}
    n = len(data)
    missing = {side: len(set(k).difference(texts[side])) for side, k in keys.items()}
    if any(missing.values()):
        keep = [i for i in range(n) if all(keys[s][i] in texts[s] for s in keys)]
        if not keep:
            raise CsirError(f"mMARCO {mmarco_name(lang)}: no pair has all its translations")
        data, meta = data.select(keep), meta.select(keep)
        keys = {side: [k[i] for i in keep] for side, k in keys.items()}
    rows = {side: [texts[side][k] for k in keys[side]] if side in keys else data[side] for side in ("query", "passage")}
    rows["label"] = data["label"]
    stats = {"rows": len(data), "rows_dropped": n - len(data), "translated": list(SIDES[sides]),
             **{f"missing_{_JOIN_KEY[s]}s": m for s, m in missing.items()}}
    return pairs_dataset(rows, TRANSLATED_FEATURES), meta.select_columns(list(PAIR_META_COLUMNS)), stats


# ----------------------------------------------------------------------------------------------- CLI

def register(sub):
    """`csir msmarco-translate`: translate-train pairs, one config per mMARCO language."""
    p = sub.add_parser("msmarco-translate", help="translate-train: MS MARCO pairs joined with mMARCO translations")
    p.add_argument("--pairs", required=True, help="a `csir msmarco-pairs` dataset folder or Hub id")
    p.add_argument("--pairs-config", default="pairs", help="its data config (ids in CONFIG-meta; default pairs)")
    p.add_argument("--pairs-revision", help="Hub revision of --pairs")
    p.add_argument("--split", default="train")
    p.add_argument("--mmarco", "--mmarco-dir", dest="mmarco", default=MMARCO_REPO,
                   help=f"mMARCO folder (holding data/google/...) or Hub id (default {MMARCO_REPO})")
    p.add_argument("--mmarco-revision", help="Hub revision of --mmarco (pin a commit)")
    p.add_argument("--lang", "--langs", dest="lang", required=True,
                   help="comma list of mMARCO languages (de, deu or german); one config per language")
    side = p.add_mutually_exclusive_group()
    side.add_argument("--queries-only", action="store_true", help="translate queries only (configs LANG-queries)")
    side.add_argument("--passages-only", action="store_true", help="translate passages only (configs LANG-passages)")
    p.add_argument("--on-missing", choices=ON_MISSING, default="error",
                   help="a pair id without translation: error (exit 2, nothing written) or drop the row")
    p.add_argument("--no-checksums", action="store_true", help="skip sha256 of the input files in the manifest")
    p.add_argument("--output", required=True)
    p.set_defaults(func=_run_cli)


def _langs(value: str) -> list[str]:
    langs = list(dict.fromkeys(mmarco_language(x) for x in value.split(",") if x.strip()))
    if not langs:
        raise CsirError("--lang: give at least one mMARCO language, e.g. de")
    return langs


def _card(langs: list[str], sides: str, args) -> dict:
    side_text = {"both": "queries and passages", "queries": "queries (passages stay English)",
                 "passages": "passages (queries stay English)"}[sides]
    return {
        "pretty_name": f"MS MARCO translate-train pairs ({', '.join(langs)})",
        "language": sorted({*langs, *([] if sides == "both" else ["en"])}), "license": "other",
        "tags": ["msmarco", "mmarco", "translate-train", "information-retrieval"],
        "source_datasets": ["ms_marco", "unicamp-dl/mmarco"],
        "description": f"The MS MARCO training pairs of `{args.pairs}` (config `{args.pairs_config}`) with their "
                       f"{side_text} replaced by the mMARCO translations, joined on the MS MARCO query and passage "
                       "ids; the translate-train baseline of Litschko et al. (2023). Each config `X` (a language "
                       "code) has columns `query, passage, label` in the pairs' row order; `X-meta` holds the "
                       "example id, `qid` and `pid` of each row.",
        "attribution": "MS MARCO (Microsoft), released for non-commercial research purposes under its own terms: "
                       "https://microsoft.github.io/msmarco/. mMARCO (Bonifacio et al., 2021, `unicamp-dl/mmarco`) "
                       "is MS MARCO machine-translated; see its dataset card for its terms.",
    }


def _run_cli(args) -> int:
    import time

    from builders.repo_writer import read_manifest, write_dataset_repo

    t0 = time.time()
    langs = _langs(args.lang)
    sides = "queries" if args.queries_only else "passages" if args.passages_only else "both"
    mm = MMarco(args.mmarco, args.mmarco_revision)
    for lang in langs:  # every file exists before any long read
        if "query" in SIDES[sides]:
            mm.queries_path(lang, "train")
        if "passage" in SIDES[sides]:
            mm.collection_path(lang)
    data, meta = load_pair_ids(args.pairs, config=args.pairs_config, revision=args.pairs_revision, split=args.split)
    configs, stats = {}, {}
    for lang in langs:
        name = config_name(lang, sides)
        out, out_meta, stats[name] = translate_pairs(data, meta, mm, lang, sides=sides, on_missing=args.on_missing)
        configs[name], configs[f"{name}-meta"] = {args.split: out}, {args.split: out_meta}
    pairs_build = read_manifest(args.pairs) if Path(args.pairs).is_dir() else {}
    pairs_desc = describe_rows_input(args.pairs, config=args.pairs_config, revision=args.pairs_revision,
                                     checksums=not args.no_checksums)
    pairs_desc["build"] = {k: pairs_build[k] for k in ("kind", "parameters", "statistics") if k in pairs_build}
    manifest = {"kind": "msmarco-translate-train", "pairs": pairs_desc,
                "mmarco": mm.describe(checksums=not args.no_checksums),
                "parameters": {"langs": langs, "translated": list(SIDES[sides]), "on_missing": args.on_missing,
                               "pairs_config": args.pairs_config, "split": args.split},
                "statistics": stats}
    out = write_dataset_repo(args.output, configs, card=_card(langs, sides, args), manifest=manifest,
                             default_config=config_name(langs[0], sides))
    rows = ", ".join(f"{name}: {st['rows']} rows" for name, st in stats.items())
    print(f"wrote {rows} to {out} in {time.time() - t0:.1f}s")
    return 0
