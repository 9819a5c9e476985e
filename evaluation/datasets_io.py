"""Read any retrieval dataset in MTEB's layout, from a local folder or a Hub id + revision.

Subset `S` lives in configs `S-corpus`, `S-queries`, `S-qrels` (or `S-default`) and optionally `S-top_ranked`;
a dataset without subsets uses `corpus`, `queries`, `qrels`/`default`, `top_ranked` (subset name `default`).
Ids come from `id` or `_id`; a non-empty `title` is prepended to the text as MTEB does. A repo with no such configs
but an image-caption table in one of the Hub layouts MTEB reads (XM3600, xFlickrCO, XTD-10) is read through
`evaluation.caption_layouts`. The exact version read is recorded: the 40-hex commit for Hub repos and local git
repos, a content hash for plain folders.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from csir.errors import CsirError
from evaluation.subsets import PREFERRED_SPLITS, RetrievalSubset

log = logging.getLogger(__name__)
ROLES = {"corpus": ("corpus",), "queries": ("queries",), "qrels": ("qrels", "default"), "top_ranked": ("top_ranked",)}


@dataclass
class RetrievalDataset:
    source: str                                # path or Hub id as given
    revision: str | None                       # as requested
    resolved_revision: str                     # 40-hex commit or sha256:<hash>
    local_dir: Path
    configs: list[str] = field(default_factory=list)
    _tmp: str | None = None
    layout: object | None = None              # evaluation.caption_layouts.CaptionLayout, for image-caption tables

    @property
    def subsets(self) -> list[str]:
        if self.layout is not None:
            return self.layout.subsets
        names = set(self.configs)
        out = [c[: -len("-corpus")] for c in self.configs if c.endswith("-corpus")
               and f"{c[: -len('-corpus')]}-queries" in names]
        if "corpus" in names and "queries" in names:
            out.append("default")
        return out

    def _config(self, subset: str, role: str, required: bool = True) -> str | None:
        for suffix in ROLES[role]:
            name = suffix if subset == "default" else f"{subset}-{suffix}"
            if name in self.configs:
                return name
        if required:
            raise CsirError(f"{self.source}: subset '{subset}' has no '{subset}-{ROLES[role][0]}' config "
                            f"(have subsets: {', '.join(self.subsets) or 'none'})")
        return None

    def load(self, subset: str, split: str | None = None) -> RetrievalSubset:
        """Read one subset into memory (ids as strings)."""
        if subset not in self.subsets:
            raise CsirError(f"--subsets: '{subset}' is not a subset of {self.source} "
                            f"(have: {', '.join(self.subsets) or 'none'})")
        if self.layout is not None:
            return self.layout.load(subset, split)
        qrels_ds, split = self._read(self._config(subset, "qrels"), split)
        cols = set(qrels_ds.column_names)
        for c in ("query-id", "corpus-id", "score"):
            if c not in cols:
                raise CsirError(f"{self.source}: config {self._config(subset, 'qrels')}: field '{c}' missing")
        qrels: dict[str, dict[str, int]] = {}
        for q, d, s in zip(qrels_ds["query-id"], qrels_ds["corpus-id"], qrels_ds["score"]):
            qrels.setdefault(str(q), {})[str(d)] = int(s)
        corpus_ds, _ = self._read(self._config(subset, "corpus"), split)
        queries_ds, _ = self._read(self._config(subset, "queries"), split)
        corpus = self._texts(corpus_ds, self._config(subset, "corpus"))
        queries = self._texts(queries_ds, self._config(subset, "queries"))
        doc_lang = None
        if "language" in corpus_ds.column_names:
            doc_lang = {str(i): str(lang) for i, lang in zip(corpus_ds[self._id_col(corpus_ds, 'corpus')], corpus_ds["language"])}
        top = None
        top_cfg = self._config(subset, "top_ranked", required=False)
        if top_cfg:
            top_ds, _ = self._read(top_cfg, split)
            for c in ("query-id", "corpus-ids"):
                if c not in top_ds.column_names:
                    raise CsirError(f"{self.source}: config {top_cfg}: field '{c}' missing")
            top = {str(q): [str(d) for d in ds] for q, ds in zip(top_ds["query-id"], top_ds["corpus-ids"])}
        missing = [q for q in qrels if q not in queries]
        if missing:
            log.warning("%s/%s: %d qrels queries have no text; they score 0", self.source, subset, len(missing))
        from csir.images import image_column  # image-text subsets (MTEB any-to-any layout)

        return RetrievalSubset(subset, corpus, queries, qrels, top, doc_lang, split,
                               image_column(corpus_ds, self.source, self._config(subset, "corpus")),
                               image_column(queries_ds, self.source, self._config(subset, "queries")))

    def _read(self, config: str, split: str | None):
        from csir.hub.load import load_repo_dataset  # content-keyed cache: a rebuilt folder is never read stale

        try:
            dsd = load_repo_dataset(str(self.local_dir), config)
        except Exception as exc:  # datasets raises many types for unreadable data
            raise CsirError(f"{self.source}: config {config}: cannot read ({exc.__class__.__name__}: {exc})") from None
        names = list(dsd)
        if split and split in dsd:
            return dsd[split], split
        if split is None:
            for s in PREFERRED_SPLITS:
                if s in dsd:
                    return dsd[s], s
        if len(names) == 1:
            return dsd[names[0]], (split or names[0])
        raise CsirError(f"{self.source}: config {config}: no split '{split}' (have {', '.join(names)})")

    @staticmethod
    def _id_col(ds, config) -> str:
        for c in ("id", "_id"):
            if c in ds.column_names:
                return c
        raise CsirError(f"config {config}: field 'id' (or '_id') missing")

    def _texts(self, ds, config) -> dict[str, str]:
        idc = self._id_col(ds, config)
        if "text" not in ds.column_names and "image" in ds.column_names:  # image rows: see image_column
            return {str(doc_id): "" for doc_id in ds[idc]}
        if "text" not in ds.column_names:
            raise CsirError(f"{self.source}: config {config}: field 'text' missing")
        titles = ds["title"] if "title" in ds.column_names else None
        out = {}
        for i, (doc_id, text) in enumerate(zip(ds[idc], ds["text"])):
            t = text or ""
            if titles is not None and titles[i]:
                t = f"{titles[i]} {t}".strip()
            out[str(doc_id)] = t
        return out

    def close(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _config_names(folder: Path) -> list[str]:
    from evaluation.card_tables import card_configs

    names = list(card_configs(folder))
    if not names:  # folders without a YAML `configs:` block: one sub-folder per config
        names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        names = [n for n in names if any(n.endswith(s) or n == s for r in ROLES.values() for s in r)]
    return names


def open_dataset(source: str, revision: str | None = None) -> RetrievalDataset:
    """Locate `source` (local folder, local git repo, or Hub dataset id) at `revision` and list its configs."""
    from csir.hub.resolve import resolve

    r = resolve(source, revision, "dataset", flag="--dataset", rev_flag="--dataset-revision")
    local, resolved, tmp = r.path, r.commit, r.tmp
    ds = RetrievalDataset(source, revision, resolved, local, _config_names(local), tmp)
    if not ds.subsets:
        from evaluation.caption_layouts import detect_layout

        ds.layout = detect_layout(local, source)
    if not ds.subsets:
        ds.close()
        raise CsirError(f"{source}: no retrieval subsets found (expected configs '<subset>-corpus', "
                        "'<subset>-queries', '<subset>-qrels' in MTEB's layout, or an image-caption table with "
                        "fields image_id+captions+image (XM3600), id+sentences+image (xFlickrCO) or "
                        "qry_text+tgt_img_path (XTD-10))")
    return ds
