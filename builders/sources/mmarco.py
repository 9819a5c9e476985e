"""mMARCO: MS MARCO machine-translated into 13 languages (`unicamp-dl/mmarco`), read as its TSV files.

The Hub repo ships a dataset *script* (configs `english`, `collection-german`, `queries-german`,
`runs-german`, ...), which datasets >= 4 no longer runs; we read the files the script reads, from a local
copy of the repo or from the Hub with `hf_hub_download` (revision pinned and recorded):

    data/google/collections/{language}_collection.tsv            pid \\t passage      (config collection-{language})
    data/google/queries/train/{language}_queries.train.tsv       qid \\t query        (queries-{language}, split train)
    data/google/queries/dev/{language}_queries.dev.small.tsv     qid \\t query        (queries-{language}, split dev)
    data/google/queries/dev/{language}_queries.dev.tsv           qid \\t query        (queries-{language}, split dev.full)
    data/google/runs/run.bm25_{language}-msmarco.txt             qid \\t pid \\t rank  (runs-{language})
    data/qrels.dev.small.tsv, data/triples.train.ids.small.tsv   shared by all languages

Ids are the MS MARCO ids, so translations join the English dev set (`builders.sources.msmarco.load_msmarco_dev`).

Python API (no CLI involved):

    from builders.sources.mmarco import MMarco, load_mmarco_translations, mmarco_language
    mm = MMarco("unicamp-dl/mmarco", revision="<commit>")       # or a local folder holding data/google/...
    de_queries = mm.queries("de", ids=dev.queries, split="dev")  # {qid: German query}
    de_passages = load_mmarco_translations("de", pids, kind="passages", source="/data/mmarco")
    mmarco_language("deu") == "de"; MMARCO_LANGUAGES["de"] == "german"
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from builders.sources.msmarco import read_id_text, read_qrels, read_run, read_triples  # noqa: F401 (re-exported)
from csir.errors import CsirError

MMARCO_REPO = "unicamp-dl/mmarco"
# ISO 639-1 -> the language name mMARCO uses in file and config names (v2, 14 languages incl. English)
MMARCO_LANGUAGES = {
    "ar": "arabic", "de": "german", "en": "english", "es": "spanish", "fr": "french", "hi": "hindi",
    "id": "indonesian", "it": "italian", "ja": "japanese", "nl": "dutch", "pt": "portuguese", "ru": "russian",
    "vi": "vietnamese", "zh": "chinese",
}
ISO3 = {"ar": "ara", "de": "deu", "en": "eng", "es": "spa", "fr": "fra", "hi": "hin", "id": "ind", "it": "ita",
        "ja": "jpn", "nl": "nld", "pt": "por", "ru": "rus", "vi": "vie", "zh": "zho"}
_ALIASES = {**{v: k for k, v in MMARCO_LANGUAGES.items()}, **{v: k for k, v in ISO3.items()},
            "ger": "de", "fre": "fr", "dut": "nl", "chi": "zh", "cmn": "zh", "arb": "ar"}
QUERY_SPLITS = {"train": "queries/train/{name}_queries.train.tsv", "dev": "queries/dev/{name}_queries.dev.small.tsv",
                "dev.full": "queries/dev/{name}_queries.dev.tsv"}
_SNAPSHOT_RE = re.compile(r"[\\/]snapshots[\\/]([0-9a-f]{40})[\\/]")


def mmarco_language(code: str) -> str:
    """ISO 639-1 code for `de`, `deu`, `de-DE`, `de_DE` or `german`; CsirError if mMARCO lacks the language."""
    raw = str(code).strip()
    key = raw.lower().replace("-", "_").split("_")[0]
    iso = key if key in MMARCO_LANGUAGES else _ALIASES.get(key)
    if iso is None:
        raise CsirError(f"language: '{raw}' is not an mMARCO language (have "
                        f"{', '.join(f'{k} ({v})' for k, v in sorted(MMARCO_LANGUAGES.items()))})")
    return iso


def mmarco_name(code: str) -> str:
    """The mMARCO file/config name (`german`) for any accepted language code."""
    return MMARCO_LANGUAGES[mmarco_language(code)]


def _ids(ids: Iterable | None) -> set[str] | None:
    return None if ids is None else {str(i) for i in ids}


class MMarco:
    """One mMARCO copy: a local folder (the repo's layout, `data/...`) or a Hub dataset id + revision."""

    def __init__(self, source: str | os.PathLike = MMARCO_REPO, revision: str | None = None,
                 translation: str = "google"):
        self.source = str(source)
        self.revision = revision
        self.translation = translation
        self.local = Path(self.source).is_dir()
        if not self.local and Path(self.source).exists():
            raise CsirError(f"{self.source}: expected the mMARCO folder (holding data/{translation}/...) or a Hub id")
        if self.local and not (Path(self.source) / "data").is_dir():
            raise CsirError(f"{self.source}: no data/ folder (expected the unicamp-dl/mmarco layout)")
        self.resolved_revision: str | None = None
        self.used: dict[str, str] = {}  # repo-relative path -> local path, for manifests

    # -- files --------------------------------------------------------------------------------------------
    def file(self, rel: str) -> Path:
        """Local path of a repo file (downloaded with hf_hub_download when the source is a Hub id)."""
        if self.local:
            p = Path(self.source) / rel
            if not p.is_file():
                raise CsirError(f"{p}: mMARCO file not found")
        else:
            from huggingface_hub import hf_hub_download

            from csir.hub.resolve import resolve

            if self.resolved_revision is None:  # one lookup first: an unreachable Hub fails at once, in one line
                self.resolved_revision = resolve(self.source, self.revision, "dataset", download=False,
                                                 flag="--mmarco-dir").commit
            try:
                p = Path(hf_hub_download(self.source, rel, repo_type="dataset", revision=self.revision))
            except Exception as e:
                raise CsirError(f"{self.source}@{self.revision or 'main'}: cannot fetch {rel} "
                                f"({type(e).__name__}: {e})") from None
            m = _SNAPSHOT_RE.search(str(p))
            if m:
                self.resolved_revision = m.group(1)
        self.used[rel] = str(p)
        return p

    def collection_path(self, lang: str) -> Path:
        return self.file(f"data/{self.translation}/collections/{mmarco_name(lang)}_collection.tsv")

    def queries_path(self, lang: str, split: str = "dev") -> Path:
        if split not in QUERY_SPLITS:
            raise CsirError(f"split: expected one of {', '.join(QUERY_SPLITS)}, got '{split}'")
        return self.file(f"data/{self.translation}/" + QUERY_SPLITS[split].format(name=mmarco_name(lang)))

    def run_path(self, lang: str) -> Path:
        return self.file(f"data/{self.translation}/runs/run.bm25_{mmarco_name(lang)}-msmarco.txt")

    def config_files(self, config: str) -> dict[str, Path]:
        """The files behind a config of the repo's dataset script (`collection-german`, `queries-german`...)."""
        kind, _, name = config.rpartition("-")
        if kind == "collection":
            return {"collection": self.collection_path(name)}
        if kind == "queries":
            return {split: self.queries_path(name, split) for split in QUERY_SPLITS}
        if kind == "runs":
            return {"bm25": self.run_path(name)}
        if kind == "":
            return {"train": self.file("data/triples.train.ids.small.tsv"), "collection": self.collection_path(name),
                    "queries": self.queries_path(name, "train")}
        raise CsirError(f"config: unknown mMARCO config '{config}' (e.g. german, collection-german, "
                        "queries-german, runs-german)")

    # -- readers ------------------------------------------------------------------------------------------
    @staticmethod
    def _select(path: Path, ids: set[str] | None, strict: bool, what: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, text in read_id_text(path, what):
            if ids is None or key in ids:
                out.setdefault(key, text)
                if ids is not None and len(out) == len(ids):
                    break
        if strict and ids is not None and len(out) < len(ids):
            missing = sorted(ids.difference(out), key=lambda x: (len(x), x))
            raise CsirError(f"{path}: {len(missing)} of {len(ids)} requested {what} ids not found "
                            f"(e.g. {', '.join(missing[:5])})")
        return out

    def passages(self, lang: str, ids: Iterable | None = None, strict: bool = True) -> dict[str, str]:
        """{pid: passage in `lang`} for `ids` (all when None: the whole 8.8M collection, mind the memory)."""
        return self._select(self.collection_path(lang), _ids(ids), strict, "passage")

    def queries(self, lang: str, ids: Iterable | None = None, split: str = "dev", strict: bool = True) -> dict[str, str]:
        """{qid: query in `lang`} of a query split (`train`, `dev` = dev.small, `dev.full`)."""
        return self._select(self.queries_path(lang, split), _ids(ids), strict, "query")

    def dev_qrels(self) -> dict[str, dict[str, int]]:
        return read_qrels(self.file("data/qrels.dev.small.tsv"))

    def bm25_run(self, lang: str = "en") -> dict[str, list[str]]:
        """{qid: pids by rank} of mMARCO's BM25 run on the `lang` collection (dev queries)."""
        return read_run(self.run_path(lang))

    def describe(self, checksums: bool = True) -> dict:
        """Manifest entry: source, requested and resolved revision, and the files read (with sha256 if local)."""
        out = {"format": "mmarco", "source": self.source, "translation": self.translation}
        if self.local:
            if checksums:
                from builders.repo_writer import sha256_file

                out["files"] = {rel: sha256_file(p) for rel, p in sorted(self.used.items())}
            else:
                out["files"] = sorted(self.used)
        else:
            out.update({"revision": self.revision, "resolved_revision": self.resolved_revision,
                        "files": sorted(self.used)})
        return out


def load_mmarco_translations(lang: str, ids: Iterable, *, kind: str = "passages", split: str = "dev",
                             source: str | os.PathLike | MMarco = MMARCO_REPO, revision: str | None = None,
                             strict: bool = True) -> dict[str, str]:
    """{id: text in `lang`} for the requested query or passage ids (one streaming pass over one file)."""
    mm = source if isinstance(source, MMarco) else MMarco(source, revision)
    if kind in ("passages", "passage", "corpus", "collection"):
        return mm.passages(lang, ids, strict=strict)
    if kind in ("queries", "query"):
        return mm.queries(lang, ids, split=split, strict=strict)
    raise CsirError(f"kind: expected 'passages' or 'queries', got '{kind}'")
