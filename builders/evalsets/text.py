"""Build evaluation sets in MTEB's retrieval layout with the project's single repo writer.

Per subset (`deu-eng`, `mlir-deu`, ...), split `test`:
`{subset}-corpus` (id, text[, language]), `{subset}-queries` (id, text), `{subset}-qrels` (query-id, corpus-id,
score), `{subset}-top_ranked` (query-id, corpus-ids): the English BM25 candidates, the same for every pair,
as the paper fixes its candidates from English (`first_stage="bm25-en"`); or, with `first_stage="bm25-pair"`,
each pair's own BM25 ranking of its collection for its own queries, a first stage that never sees the English
query (for DE->EN the English candidates are an oracle the realistic pipeline does not have).

DDTP: a query is a package's short description in language X, its relevant passage the long description of the
same `Description-md5` in language Y. Only held-out packages (`is_heldout`) present in every requested language
are used, so all pairs share one query set and one collection (translations of each other) and are comparable.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from builders.evalsets.tasks import Pair, default_pairs
from builders.repo_writer import describe_input, library_versions, write_dataset_repo
from builders.sources.pairs import rng_for
from csir.errors import CsirError

log = logging.getLogger(__name__)
SPLIT = "test"
CORPUS_FEATURES = datasets.Features({"id": datasets.Value("string"), "text": datasets.Value("string")})
MLIR_CORPUS_FEATURES = datasets.Features({"id": datasets.Value("string"), "text": datasets.Value("string"),
                                          "language": datasets.Value("string")})
QUERY_FEATURES = CORPUS_FEATURES
QRELS_FEATURES = datasets.Features({"query-id": datasets.Value("string"), "corpus-id": datasets.Value("string"),
                                    "score": datasets.Value("int32")})
TOP_FEATURES = datasets.Features({"query-id": datasets.Value("string"),
                                  "corpus-ids": datasets.Sequence(datasets.Value("string"))})


@dataclass
class EvalsetConfig:
    langs: list[str] = field(default_factory=lambda: ["en", "de", "fr", "it"])
    setups: list[str] = field(default_factory=lambda: ["clir", "moir", "mlir"])
    top_k: int = 100                  # BM25 candidates per query (top_ranked)
    max_queries: int | None = None    # cap on queries (deterministic hash order), for quick runs
    max_docs: int | None = None       # cap on the collection (relevant docs of kept queries always stay)
    seed: int = 0                     # MLIR language sampling and the caps
    first_stage: str = "bm25-en"      # bm25-en: English BM25, shared by all pairs; bm25-pair: BM25 per pair


FIRST_STAGES = {"bm25-en": "bm25s English, stopwords=en",
                "bm25-pair": "bm25s per pair: the pair's queries against its collection, stopwords of the passage "
                             "language (none for MLIR)"}


def bm25_candidates(query_texts: list[str], doc_ids: list[str], doc_texts: list[str], k: int) -> list[list[str]]:
    """English BM25 (bm25s, Lucene variant, English stop words) top-k doc ids per query."""
    from builders.sources.pairs import bm25_search

    docs, _ = bm25_search(query_texts, doc_texts, k, "en")
    return [[doc_ids[i] for i in row] for row in docs]


def _hash_order(ids, seed, salt):
    return sorted(ids, key=lambda x: hashlib.sha256(f"{seed}:{salt}:{x}".encode()).hexdigest())


def build_subsets_from_parallel(queries: dict[str, dict[str, str]], passages: dict[str, dict[str, str]],
                                pairs: list[Pair], cfg: EvalsetConfig) -> dict[str, dict[str, datasets.Dataset]]:
    """DDTP-style subsets from parallel texts: queries[lang][id], passages[lang][id], same id = relevant.

    Ids present in every language are used; `queries['en']`/`passages['en']` drive the BM25 first stage.
    """
    ids = sorted(set.intersection(*(set(queries[lang]) for lang in cfg.langs),
                                  *(set(passages[lang]) for lang in cfg.langs)))
    if not ids:
        raise CsirError(f"no held-out entry has a translation in every language of {cfg.langs}")
    doc_ids = ids
    if cfg.max_docs is not None and cfg.max_docs < len(doc_ids):
        doc_ids = sorted(_hash_order(ids, cfg.seed, "docs")[:cfg.max_docs])
    query_ids = [i for i in ids if i in set(doc_ids)]
    if cfg.max_queries is not None and cfg.max_queries < len(query_ids):
        query_ids = sorted(_hash_order(query_ids, cfg.seed, "queries")[:cfg.max_queries])
    log.info("evalset: %d queries, %d passages per language", len(query_ids), len(doc_ids))
    qrels = {q: {q: 1} for q in query_ids}
    if cfg.first_stage == "bm25-pair":
        return make_subsets(query_ids, doc_ids, queries, passages, qrels, {}, pairs, cfg,
                            per_pair=pair_candidates(query_ids, doc_ids, queries, passages, pairs, cfg))
    cands = bm25_candidates([queries["en"][q] for q in query_ids], doc_ids, [passages["en"][d] for d in doc_ids], cfg.top_k)
    return make_subsets(query_ids, doc_ids, queries, passages, qrels, dict(zip(query_ids, cands)), pairs, cfg)


def pair_candidates(query_ids: list[str], doc_ids: list[str], queries: dict[str, dict[str, str]],
                    passages: dict[str, dict[str, str]], pairs: list[Pair], cfg: EvalsetConfig
                    ) -> dict[str, dict[str, list[str]]]:
    """{subset: {query id: top-k doc ids}}: BM25 of each pair's queries over the pair's own collection."""
    from builders.sources.pairs import bm25_search

    mlir = mlir_languages(doc_ids, cfg)
    out = {}
    for pair in pairs:
        if pair.passage_lang == "mlir":
            texts, lang = [passages[mlir[d]][d] for d in doc_ids], "xx"
        else:
            texts, lang = [passages[pair.passage_lang][d] for d in doc_ids], pair.passage_lang
        docs, _ = bm25_search([queries[pair.query_lang][q] for q in query_ids], texts, cfg.top_k, lang)
        out[pair.subset] = {q: [doc_ids[i] for i in row] for q, row in zip(query_ids, docs)}
    return out


def mlir_languages(doc_ids: list[str], cfg: EvalsetConfig) -> dict[str, str]:
    """Each MLIR passage's language: uniform over the set's languages, keyed by (seed, doc id)."""
    return {d: rng_for(cfg.seed, d, "mlir").choice(sorted(cfg.langs)) for d in doc_ids}


def make_subsets(query_ids: list[str], doc_ids: list[str], queries: dict[str, dict[str, str]],
                 passages: dict[str, dict[str, str]], qrels: dict[str, dict[str, int]],
                 candidates: dict[str, list[str]], pairs: list[Pair], cfg: EvalsetConfig,
                 per_pair: dict[str, dict[str, list[str]]] | None = None) -> dict[str, dict[str, datasets.Dataset]]:
    """The four MTEB configs of every pair; qrels are shared by all pairs, and so are the candidates (fixed from
    English) unless `per_pair` gives each subset its own."""
    def top_for(cands: dict[str, list[str]]) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"query-id": query_ids, "corpus-ids": [cands.get(q, []) for q in query_ids]},
                                          features=TOP_FEATURES)

    top = top_for(candidates)
    rows = [(q, d, int(s)) for q in query_ids for d, s in qrels.get(q, {}).items()]
    qrels_ds = datasets.Dataset.from_dict({"query-id": [r[0] for r in rows], "corpus-id": [r[1] for r in rows],
                                           "score": [r[2] for r in rows]}, features=QRELS_FEATURES)
    mlir_lang = mlir_languages(doc_ids, cfg)
    out: dict[str, dict[str, datasets.Dataset]] = {}
    for pair in pairs:
        if pair.passage_lang == "mlir":
            corpus = datasets.Dataset.from_dict(
                {"id": doc_ids, "text": [passages[mlir_lang[d]][d] for d in doc_ids],
                 "language": [mlir_lang[d] for d in doc_ids]}, features=MLIR_CORPUS_FEATURES)
        else:
            corpus = datasets.Dataset.from_dict({"id": doc_ids, "text": [passages[pair.passage_lang][d] for d in doc_ids]},
                                                features=CORPUS_FEATURES)
        qs = datasets.Dataset.from_dict({"id": query_ids, "text": [queries[pair.query_lang][q] for q in query_ids]},
                                        features=QUERY_FEATURES)
        s = pair.subset
        out[f"{s}-corpus"] = {SPLIT: corpus}
        out[f"{s}-queries"] = {SPLIT: qs}
        out[f"{s}-qrels"] = {SPLIT: qrels_ds}
        out[f"{s}-top_ranked"] = {SPLIT: top_for(per_pair[s]) if per_pair is not None else top}
    return out


def _langs_and_pairs(cfg: EvalsetConfig, pairs: list[Pair] | None) -> tuple[list[str], list[Pair]]:
    """English plus `cfg.langs` (recorded back into cfg), and the pairs to build, each using only those languages."""
    langs = list(dict.fromkeys(["en", *cfg.langs]))
    cfg.langs = langs
    pairs = pairs or default_pairs(langs, cfg.setups)
    for p in pairs:
        for lang in (p.query_lang, p.passage_lang):
            if lang != "mlir" and lang not in langs:
                raise CsirError(f"--pairs: {p.name} uses '{lang}', which is not in --langs {','.join(langs)}")
    return langs, pairs


def build_ddtp_evalset(ddtp_dir: str | os.PathLike, output: str | os.PathLike, cfg: EvalsetConfig,
                       pairs: list[Pair] | None = None, dev_exclude: set[str] | None = None) -> Path:
    """Write the DDTP evaluation set (held-out packages only) under `output`.

    With `dev_exclude` (the ids of the training queries), a development set instead: packages of the training
    side of the split that are not training queries, so a learning curve never touches the test packages.
    """
    from builders.sources.ddtp import find_translation_files, is_heldout, load_ddtp

    langs, pairs = _langs_and_pairs(cfg, pairs)
    if cfg.first_stage not in FIRST_STAGES:
        raise CsirError(f"--first-stage: expected one of {', '.join(FIRST_STAGES)}, got '{cfg.first_stage}'")
    tables = load_ddtp(ddtp_dir, langs)
    def keep(m: str) -> bool:
        return is_heldout(m) if dev_exclude is None else not is_heldout(m) and m not in dev_exclude

    queries = {lang: {m: e.short for m, e in t.items() if keep(m)} for lang, t in tables.items()}
    passages = {lang: {m: e.long for m, e in t.items() if keep(m)} for lang, t in tables.items()}
    configs = build_subsets_from_parallel(queries, passages, pairs, cfg)
    files = find_translation_files(ddtp_dir)
    subsets = [p.subset for p in pairs]
    n_q = len(configs[f"{subsets[0]}-queries"][SPLIT])
    n_d = len(configs[f"{subsets[0]}-corpus"][SPLIT])
    manifest = {
        "builder": "csir evalset ddtp",
        "sources": [describe_input(f, lang=lang) for lang in langs for f in files[lang]],
        "parameters": {"langs": langs, "pairs": [p.name for p in pairs], "subsets": subsets, "top_k": cfg.top_k,
                       "max_queries": cfg.max_queries, "max_docs": cfg.max_docs, "seed": cfg.seed,
                       "heldout": "builders.sources.ddtp.is_heldout (10%)", "first_stage": FIRST_STAGES[cfg.first_stage],
                       **({"packages": f"dev: training side of the split minus {len(dev_exclude)} training queries"}
                          if dev_exclude is not None else {})},
        "num_queries": n_q, "num_corpus": n_d,
        "library_versions": library_versions(("codeswitch-ir", "datasets", "bm25s", "pyarrow", "numpy")),
    }
    card = {
        "pretty_name": "DDTP cross-lingual retrieval (" + ("held-out packages)" if dev_exclude is None else
                                                           "development set, training-side packages)"),
        "language": [lang.split("_")[0] for lang in langs],
        "license": "other",
        "license_name": "debian-package-descriptions",
        "tags": ["mteb", "retrieval", "clir", "mlir"],
        "source_datasets": ["Debian Description Translation Project"],
        "description": (f"Queries are Debian package short descriptions, passages the long descriptions of the same "
                        f"packages, in {', '.join(langs)} (human translations from DDTP). {n_q} queries and {n_d} "
                        f"passages per subset; subsets {', '.join(subsets)}. `top_ranked` holds "
                        + (f"the English BM25 top-{cfg.top_k} candidates, identical for every pair. "
                           if cfg.first_stage == "bm25-en" else
                           f"each pair's own BM25 top-{cfg.top_k} (its queries against its collection). ")
                        + f"MLIR subsets (`mlir-xxx`) draw each "
                        f"passage's language uniformly (seed {cfg.seed}); the `language` column records it. "
                        + ("Only packages held out of the DDTP training data are used." if dev_exclude is None else
                           "Only training-side packages that are not training queries are used (a dev set).")),
    }
    return write_dataset_repo(output, configs, card=card, manifest=manifest)


def build_mmarco_evalset(msmarco_dir: str | os.PathLike, mmarco_source: str | os.PathLike, output: str | os.PathLike,
                         cfg: EvalsetConfig, pairs: list[Pair] | None = None, mmarco_revision: str | None = None) -> Path:
    """MS MARCO dev (small) with mMARCO translations: the paper's evaluation, in MTEB's layout.

    Queries: `qrels.dev.small` queries (first `max_queries`); candidates: the English BM25 `top1000.dev` (first
    `top_k` per query), identical for every pair; collection: all candidates plus the relevant passages, so
    that dense full-collection search sees every positive. English texts come from MS MARCO, the others from
    mMARCO (`unicamp-dl/mmarco` layout, a folder or a Hub id + revision).
    """
    from builders.sources.mmarco import MMarco
    from builders.sources.msmarco import COLLECTION_FILES, find_file, load_msmarco_dev, read_id_text

    langs, pairs = _langs_and_pairs(cfg, pairs)
    dev = load_msmarco_dev(msmarco_dir, max_queries=cfg.max_queries)
    query_ids = list(dev.queries)
    cands = {q: dev.candidates.get(q, [])[:cfg.top_k] for q in query_ids}
    doc_ids = list(dict.fromkeys([d for q in query_ids for d in cands[q]] +
                                 [d for q in query_ids for d in dev.qrels[q]]))
    en_passages = {d: dev.passages[d] for d in doc_ids if d in dev.passages}
    missing = set(doc_ids) - set(en_passages)
    if missing:  # relevant passages BM25 did not retrieve: from collection.tsv
        coll = find_file(Path(msmarco_dir), COLLECTION_FILES, "collection")
        for pid, text in read_id_text(coll, "passage"):
            if pid in missing:
                en_passages[pid] = text
        if set(doc_ids) - set(en_passages):
            raise CsirError(f"{coll}: {len(set(doc_ids) - set(en_passages))} relevant passages not found")
    mm = MMarco(mmarco_source, mmarco_revision)
    queries = {"en": dict(dev.queries)}
    passages = {"en": en_passages}
    for lang in langs:
        if lang != "en":
            queries[lang] = mm.queries(lang, query_ids, split="dev")
            passages[lang] = mm.passages(lang, doc_ids)
    log.info("mmarco evalset: %d queries, %d passages per language", len(query_ids), len(doc_ids))
    configs = make_subsets(query_ids, doc_ids, queries, passages, dev.qrels, cands, pairs, cfg)
    subsets = [p.subset for p in pairs]
    manifest = {
        "builder": "csir evalset mmarco",
        "sources": [describe_input(f) for f in dev.files.values()] + [mm.describe()],
        "parameters": {"langs": langs, "pairs": [p.name for p in pairs], "subsets": subsets, "top_k": cfg.top_k,
                       "max_queries": cfg.max_queries, "seed": cfg.seed,
                       "first_stage": f"MS MARCO top1000.dev (English BM25), first {cfg.top_k}"},
        "num_queries": len(query_ids), "num_corpus": len(doc_ids),
        "library_versions": library_versions(("codeswitch-ir", "datasets", "pyarrow", "numpy")),
    }
    card = {
        "pretty_name": "MS MARCO dev (small) + mMARCO: cross-lingual re-ranking",
        "language": [lang.split("_")[0] for lang in langs],
        "license": "other",
        "license_name": "ms-marco",
        "tags": ["mteb", "retrieval", "clir", "mlir", "mmarco"],
        "source_datasets": ["microsoft/ms_marco", "unicamp-dl/mmarco"],
        "description": (f"MS MARCO passage dev (small) queries and their English BM25 top-{cfg.top_k} candidates "
                        f"(`top1000.dev`), with queries and passages swapped for their mMARCO translations "
                        f"({', '.join(langs)}). {len(query_ids)} queries, {len(doc_ids)} passages per subset; "
                        f"subsets {', '.join(subsets)}. MLIR subsets (`mlir-xxx`) draw each passage's language "
                        f"uniformly (seed {cfg.seed}); the `language` column records it."),
    }
    return write_dataset_repo(output, configs, card=card, manifest=manifest)
