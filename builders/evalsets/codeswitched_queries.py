"""Code-switched query subsets derived from any retrieval set in MTEB's layout (`csir evalset codeswitch-queries`).

Code-switched *queries* are a benchmark topic of their own (Zeng et al. 2026, CSR-L / CS-MTEB: mixed-language
queries cost retrievers up to 27%). We build them with our own switcher: for every source subset `S` with English
queries, every target language X and every p of the grid, subset `S-cs-X-p<p>` has the same corpus, qrels and
top_ranked as `S` and its queries switched towards X (BL-CS on the query side only; lexicon lookups, seeded per
(seed, query id)); `S` itself is copied unchanged as the clean reference. Languages, p grid, seed, lexicons, the
source set's revision and the realised switch ratio of every subset are recorded in the card and manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from csir.errors import CsirError

ROLES = ("corpus", "queries", "qrels", "top_ranked")


@dataclass
class CodeSwitchedQueriesConfig:
    langs: list[str]                               # target languages (ISO 639-1), each with a lexicon
    p_grid: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    seed: int = 0
    subsets: list[str] | None = None               # source subsets (default: every subset with English queries)
    tokenizer: str = "fast"


def subset_name(source: str, lang: str, p: float) -> str:
    from csir.langs import to_iso3

    return f"{source}-cs-{to_iso3(lang)}-p{p:g}"


def _english_query_subsets(subsets: list[str]) -> list[str]:
    from builders.evalsets.tasks import pair_from_subset

    out = []
    for s in subsets:
        pair = pair_from_subset(s)
        if (pair is not None and pair.query_lang == "en") or s == "default":
            out.append(s)
    return out


def build_codeswitched_queries(source: str, lexicons: dict[str, str], output: str | os.PathLike,
                               cfg: CodeSwitchedQueriesConfig, revision: str | None = None) -> Path:
    """Write the derived set (see the module docstring); returns the output folder."""
    import datasets

    from builders.codeswitch import CodeSwitchConfig, CodeSwitcher
    from builders.lexicons.store import load_lexicons
    from builders.repo_writer import library_versions, write_dataset_repo
    from csir.langs import check_lang

    cfg.langs = langs = [check_lang(x, "--langs") for x in cfg.langs]
    lexicons = {check_lang(k, "--lexicon"): v for k, v in lexicons.items()}
    raise_if_bad(cfg, lexicons)
    lex = load_lexicons({lang: lexicons[lang] for lang in langs})
    ds = _open(source, revision)
    try:
        available = ds.subsets
        sources = cfg.subsets or _english_query_subsets(available)
        for s in sources:
            if s not in available:
                raise CsirError(f"--subsets: '{s}' is not a subset of {source} (have: {', '.join(available)})")
        if not sources:
            raise CsirError(f"{source}: no subset with English queries (name them with --subsets)")
        configs: dict[str, dict[str, datasets.Dataset]] = {}
        stats: dict[str, dict] = {}
        for s in sources:
            split, tables = ds.read(s)
            for role, table in tables.items():
                configs[f"{s}-{role}"] = {split: table}
            queries = tables["queries"]
            for lang in langs:
                for p in cfg.p_grid:
                    sw = CodeSwitcher(CodeSwitchConfig(variant="bl-cs", query_langs=[lang], p=p, seed=cfg.seed,
                                                       tokenizer=cfg.tokenizer), lex)
                    texts, switched, content = [], 0, 0
                    for qid, text in zip(queries["id"], queries["text"]):
                        new, n_sw, n_ct, _ = sw.switch_counts(text, qid, "query")
                        texts.append(new)
                        switched, content = switched + n_sw, content + n_ct
                    name = subset_name(s, lang, p)
                    configs[f"{name}-queries"] = {split: queries.remove_columns("text").add_column("text", texts)}
                    for role in ("corpus", "qrels", "top_ranked"):
                        if role in tables:
                            configs[f"{name}-{role}"] = {split: tables[role]}
                    stats[name] = {"source_subset": s, "lang": lang, "p": p,
                                   "switch_ratio": round(switched / content, 4) if content else 0.0,
                                   "queries": len(texts)}
        from model_cards.provenance import dataset_reference

        ref = dataset_reference(source, revision, ds.resolved_revision)
        manifest = {
            "builder": "csir evalset codeswitch-queries",
            "source": {**ref.to_dict(), "resolved_revision": ds.resolved_revision},
            "parameters": {"langs": langs, "p_grid": cfg.p_grid, "seed": cfg.seed, "variant": "bl-cs (queries)",
                           "tokenizer": cfg.tokenizer, "source_subsets": sources,
                           "lexicons": {lang: [_lexicon_name(x) for x in ([lexicons[lang]] if isinstance(
                               lexicons[lang], str) else lexicons[lang])] for lang in langs}},
            "subsets": stats,
            "library_versions": library_versions(("codeswitch-ir", "datasets", "nltk", "pyarrow")),
        }
        rows = "\n".join(f"| `{n}` | {v['source_subset']} | {v['lang']} | {v['p']:g} | {v['switch_ratio']:.3f} |"
                         for n, v in stats.items())
        card = {
            "pretty_name": f"Code-switched queries from {ref.id}",
            "language": sorted({"en", *langs}),
            "license": "other",
            "tags": ["mteb", "retrieval", "code-switching", "code-switched-queries"],
            "source_datasets": [ref.id],
            "description": (f"Queries of `{ref.id}` (revision `{ds.resolved_revision}`) code-switched towards "
                            f"{', '.join(langs)} with p in {{{', '.join(f'{p:g}' for p in cfg.p_grid)}}}, seed "
                            f"{cfg.seed} (BL-CS on the query side; every content word found in the lexicon is "
                            f"replaced with probability p). Corpus, qrels and top_ranked are the source subset's; "
                            f"the source subsets {', '.join(sources)} are included unchanged as the clean reference."
                            "\n\n| subset | source | language | p | realised switch ratio |\n|---|---|---|---:|---:|\n"
                            + rows),
        }
        return write_dataset_repo(output, configs, card=card, manifest=manifest)
    finally:
        ds.close()


def _lexicon_name(spec: str) -> str:
    """A lexicon as the card names it: repo id or file/folder name, never this machine's path."""
    from model_cards.provenance import dataset_reference

    return dataset_reference(spec).id if Path(spec).exists() else spec


def raise_if_bad(cfg: CodeSwitchedQueriesConfig, lexicons: dict[str, str]) -> None:
    if not cfg.langs:
        raise CsirError("--langs: at least one target language")
    missing = [x for x in cfg.langs if x not in lexicons]
    if missing:
        raise CsirError(f"--lexicon: no lexicon for '{missing[0]}' (give --lexicon {missing[0]}=PATH_OR_REPO)")
    for p in cfg.p_grid:
        if not 0.0 < p <= 1.0:
            raise CsirError(f"--p: {p} is outside (0, 1]")


@dataclass
class _SourceSet:
    """A retrieval set in MTEB's layout, located at a revision (builders may not import evaluation's reader)."""

    folder: Path
    resolved_revision: str | None
    configs: list[str]

    @property
    def subsets(self) -> list[str]:
        names = set(self.configs)
        out = [c[: -len("-queries")] for c in self.configs if c.endswith("-queries")
               and f"{c[: -len('-queries')]}-corpus" in names]
        return out + (["default"] if {"corpus", "queries"} <= names else [])

    def read(self, subset: str):
        from csir.hub.load import load_repo_dataset

        tables, split = {}, None
        for role in ROLES:
            names = [role if subset == "default" else f"{subset}-{role}"]
            if role == "qrels" and subset == "default":
                names.append("default")
            name = next((n for n in names if n in self.configs), None)
            if name is None:
                if role == "top_ranked":
                    continue
                raise CsirError(f"{self.folder.name}: subset '{subset}' has no '{names[0]}' config")
            dsd = load_repo_dataset(str(self.folder), name)
            split = split or ("test" if "test" in dsd else next(iter(dsd)))
            tables[role] = dsd[split]
        for col in ("id", "text"):
            if col not in tables["queries"].column_names:
                raise CsirError(f"{self.folder.name}: config {subset}-queries: field '{col}' missing")
        return split, tables

    def close(self) -> None:
        pass


def _open(source: str, revision: str | None) -> _SourceSet:
    from huggingface_hub import DatasetCard

    from csir.hub.resolve import resolve

    # the one resolver: local git repo (its commit; HEAD only), plain folder (no revision), or Hub id (snapshot)
    r = resolve(source, revision, "dataset", flag="--input", rev_flag="--input-revision", other_commit="refuse",
                hash_folder=False)
    folder, resolved = r.path, (r.commit if r.kind != "folder" else None)
    readme = folder / "README.md"
    configs = [c["config_name"] for c in (DatasetCard.load(readme).data.to_dict().get("configs") or [])
               if "config_name" in c] if readme.exists() else []
    if not configs:
        raise CsirError(f"--input: {source} has no YAML `configs:` in its README.md (MTEB's retrieval layout)")
    return _SourceSet(folder, resolved, configs)
