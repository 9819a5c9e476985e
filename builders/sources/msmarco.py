"""MS MARCO passage ranking: streaming readers, paper-style training pairs and the dev set.

Two layouts are read:
- the original TSVs (plain or `.gz`): `collection.tsv` (pid, passage), `queries.{train,dev.small}.tsv`
  (qid, query), `msmarco-qidpidtriples.rnd-shuf.train.tsv` / `qidpidtriples.train.full.2.tsv`
  (qid, positive pid, negative pid), `qrels.dev.small.tsv` (qid 0 pid 1), `top1000.dev`
  (qid, pid, query, passage: the BM25 top-1000 candidates of the dev queries);
- the `sentence-transformers/msmarco` Hub layout (a Hub id or a local folder with a README `configs:` block):
  configs `corpus` (passage_id, passage), `queries` (query_id, query), `triplets` (query_id, positive_id,
  negative_id), split `train`, read with `datasets.load_dataset(repo, config, revision=...)`.

Python API (no CLI involved):

    from builders.sources.msmarco import open_msmarco, msmarco_training_pairs, load_msmarco_dev

    src = open_msmarco("sentence-transformers/msmarco", revision="main")   # or a folder of TSVs / Hub layout
    stats = {}
    pairs = msmarco_training_pairs(src, negatives=4, seed=1, max_queries=100_000, stats=stats)
    # -> datasets.Dataset(id, query, passage, label): per query 1 positive (label 1.0) + 4 negatives (0.0)
    pairs = msmarco_training_pairs(src, with_ids=True)       # + columns qid, pid: the MS MARCO ids of each row
    data, meta = split_pair_ids(pairs)                       # (id, query, passage, label), (id, qid, pid)
    dev = load_msmarco_dev("/data/msmarco", max_queries=500)
    dev.queries["1048585"], dev.qrels["1048585"], dev.candidates["1048585"][:10], dev.passages[pid]

Training data never loads the 8.8M-passage collection into a dict: pass 1 reads the triples and keeps, per
query, the positive and N negatives (the first N distinct ones in file order, or a deterministic sample);
pass 2 streams the queries and the collection and keeps only the texts of the ids chosen.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import datasets
from tqdm.auto import tqdm

from builders.sources.pairs import PAIR_FEATURES
from csir.errors import CsirError, where
from csir.hub.load import load_repo_dataset  # content-keyed cache for local folders

# The MS MARCO ids of each pair row, kept in a `-meta` config next to the pairs (same row order): the join keys
# of translate-train (`csir msmarco-translate`).
PAIR_ID_FEATURES = datasets.Features({**PAIR_FEATURES, "qid": datasets.Value("string"),
                                      "pid": datasets.Value("string")})
PAIR_META_COLUMNS = ("id", "qid", "pid")

# File names as distributed (each may also end in .gz); the first one found wins.
TRIPLES_FILES = ("msmarco-qidpidtriples.rnd-shuf.train.tsv", "qidpidtriples.train.full.2.tsv",
                 "qidpidtriples.train.full.tsv", "triples.train.ids.small.tsv")
COLLECTION_FILES = ("collection.tsv",)
TRAIN_QUERIES_FILES = ("queries.train.tsv",)
DEV_QUERIES_FILES = ("queries.dev.small.tsv", "queries.dev.tsv")
DEV_QRELS_FILES = ("qrels.dev.small.tsv", "qrels.dev.tsv")
TOP1000_DEV_FILES = ("top1000.dev", "top1000.dev.tsv")

HUB_REPO = "sentence-transformers/msmarco"
HUB_COLUMNS = {"corpus": ("passage_id", "passage"), "queries": ("query_id", "query"),
               "triplets": ("query_id", "positive_id", "negative_id")}


# ----------------------------------------------------------------------------------------------- low level

def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) for each non-blank line; gzip by suffix; errors name file:line.

    Lines are split on b"\\n" only and decoded one by one, so a stray \\r or a bad byte is reported on its line.
    """
    path = Path(path)
    lineno = 0
    try:
        with _open_bytes(path) as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise CsirError(f"{where(path, lineno)}: not valid UTF-8 ({e.reason})") from None
                if line and not line.isspace():
                    yield lineno, line
    except (OSError, EOFError) as e:
        raise CsirError(f"{path}: cannot read ({e})") from None


def _check_id(value: str, path, lineno, name: str) -> str:
    if not value.isdigit():
        shown = value if len(value) <= 30 else value[:30] + "..."
        raise CsirError(f"{where(path, lineno, name)}: expected a numeric id, got '{shown}'")
    return value


def read_id_text(path: str | os.PathLike, what: str = "text") -> Iterator[tuple[str, str]]:
    """(id, text) rows of an `id<TAB>text` file (collection, queries; MS MARCO and mMARCO)."""
    for lineno, line in iter_lines(path):
        key, sep, text = line.partition("\t")
        if not sep:
            raise CsirError(f"{where(path, lineno)}: expected 'id<TAB>{what}', found no tab")
        if not key.isdigit():
            key = _check_id(key.strip(), path, lineno, "id")
        yield key, text.strip()


def read_triples(path: str | os.PathLike) -> Iterator[tuple[str, str, str]]:
    """(qid, positive pid, negative pid) rows of a qidpidtriples file."""
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
            yield parts[0], parts[1], parts[2]
            continue
        if len(parts) != 3:
            raise CsirError(f"{where(path, lineno)}: expected 3 fields 'qid pos_pid neg_pid', found {len(parts)}")
        for v, n in zip(parts, ("qid", "pos_pid", "neg_pid")):
            _check_id(v, path, lineno, n)


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """{qid: {pid: relevance}} from a TREC-style qrels file (`qid 0 pid rel`), queries in file order."""
    out: dict[str, dict[str, int]] = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise CsirError(f"{where(path, lineno)}: expected 4 fields 'qid 0 pid relevance', found {len(parts)}")
        qid, _, pid, rel = parts
        _check_id(qid, path, lineno, "qid")
        _check_id(pid, path, lineno, "pid")
        try:
            out.setdefault(qid, {})[pid] = int(rel)
        except ValueError:
            raise CsirError(f"{where(path, lineno, 'relevance')}: expected an integer, got '{rel}'") from None
    return out


def read_top1000(path: str | os.PathLike) -> Iterator[tuple[str, str, str, str]]:
    """(qid, pid, query, passage) rows of `top1000.dev` / `top1000.eval`."""
    for lineno, line in iter_lines(path):
        parts = line.split("\t", 3)
        if len(parts) != 4:
            raise CsirError(f"{where(path, lineno)}: expected 4 tab-separated fields 'qid pid query passage', "
                            f"found {len(parts)}")
        qid, pid, query, passage = parts
        yield _check_id(qid, path, lineno, "qid"), _check_id(pid, path, lineno, "pid"), query.strip(), passage.strip()


def read_run(path: str | os.PathLike) -> dict[str, list[str]]:
    """{qid: [pid, ...] by rank} from a `qid pid rank` run (mMARCO `run.bm25_*.txt`) or a TREC run."""
    ranked: dict[str, list[tuple[int, str]]] = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) == 6:  # TREC: qid Q0 pid rank score tag
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise CsirError(f"{where(path, lineno)}: expected 'qid pid rank' (or a 6-field TREC run)")
        qid, pid, rank = parts
        _check_id(qid, path, lineno, "qid")
        _check_id(pid, path, lineno, "pid")
        if not rank.isdigit():
            raise CsirError(f"{where(path, lineno, 'rank')}: expected an integer, got '{rank}'")
        ranked.setdefault(qid, []).append((int(rank), pid))
    return {q: [p for _, p in sorted(v, key=lambda x: x[0])] for q, v in ranked.items()}


def find_file(folder: Path, names: Iterable[str], what: str, required: bool = True) -> Path | None:
    """The first of `names` (or `name.gz`) present in `folder`."""
    names = list(names)
    for name in names:
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.is_file():
                return cand
    if required:
        raise CsirError(f"{folder}: no {what} file (looked for {', '.join(names)}, optionally .gz)")
    return None


def pairs_dataset(rows: dict[str, list], features: datasets.Features | None = None) -> datasets.Dataset:
    """Columns id/query/passage/label (or `features`' columns) as a Dataset, built in Arrow (no per-row encoding)."""
    import pyarrow as pa

    features = features or (PAIR_ID_FEATURES if "pid" in rows else PAIR_FEATURES)
    return datasets.Dataset(pa.Table.from_pydict(rows, schema=features.arrow_schema))


def split_pair_ids(ds: datasets.Dataset) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Pairs built `with_ids=True` -> (data: id, query, passage, label; meta: id, qid, pid), same row order."""
    return ds.select_columns(list(PAIR_FEATURES)), ds.select_columns(list(PAIR_META_COLUMNS))


def _progress(it, progress: bool, desc: str, total=None):
    return tqdm(it, desc=desc, unit=" rows", unit_scale=True, total=total, disable=not progress, mininterval=2)


# ----------------------------------------------------------------------------------------------- sources

class MsMarcoSource(Protocol):
    """What training-pair building needs: three streams of string ids and texts."""

    def iter_triples(self) -> Iterator[tuple[str, str, str]]: ...
    def iter_queries(self) -> Iterator[tuple[str, str]]: ...
    def iter_passages(self) -> Iterator[tuple[str, str]]: ...
    def location(self, kind: str) -> str: ...
    def describe(self, checksums: bool = True) -> dict: ...


@dataclass
class TsvMsMarco:
    """The original MS MARCO TSV files (any of them may be gzip-compressed)."""

    collection: Path | None = None
    queries: Path | None = None
    triples: Path | None = None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, collection=None, queries=None, triples=None) -> "TsvMsMarco":
        """Standard file names in `folder`; explicit names/paths (relative to `folder`) override them."""
        folder = Path(folder)

        def pick(explicit, names, what):
            if explicit is not None:
                p = Path(explicit)
                p = p if p.is_absolute() else folder / p
                if not p.is_file():
                    raise CsirError(f"{p}: {what} file not found")
                return p
            return find_file(folder, names, what)

        return cls(pick(collection, COLLECTION_FILES, "collection"), pick(queries, TRAIN_QUERIES_FILES, "queries"),
                   pick(triples, TRIPLES_FILES, "qidpidtriples"))

    def _need(self, kind: str) -> Path:
        p = getattr(self, kind)
        if p is None:
            raise CsirError(f"MS MARCO TSV source: no {kind} file given")
        return p

    def iter_triples(self):
        return read_triples(self._need("triples"))

    def iter_queries(self):
        return read_id_text(self._need("queries"), "query")

    def iter_passages(self):
        return read_id_text(self._need("collection"), "passage")

    def location(self, kind: str) -> str:
        return str({"triplets": self.triples, "queries": self.queries, "corpus": self.collection}[kind])

    def describe(self, checksums: bool = True) -> dict:
        from builders.repo_writer import describe_input

        out = {"format": "msmarco-tsv"}
        for kind in ("collection", "queries", "triples"):
            p = getattr(self, kind)
            if p is not None:
                out[kind] = describe_input(p) if checksums else {"path": str(p)}
        return out


@dataclass
class HubMsMarco:
    """The `sentence-transformers/msmarco` layout: a Hub id (with `revision`) or a local folder in that layout."""

    repo: str = HUB_REPO
    revision: str | None = None
    streaming: bool = False
    configs: dict = field(default_factory=lambda: {"corpus": "corpus", "queries": "queries", "triplets": "triplets"})
    batch_size: int = 10_000

    def _rows(self, kind: str) -> Iterator[tuple[str, ...]]:
        config = self.configs[kind]
        columns = HUB_COLUMNS[kind]
        try:
            ds = load_repo_dataset(self.repo, config, split="train", revision=self.revision, streaming=self.streaming)
        except CsirError:
            raise
        except Exception as e:  # unknown config, unreachable Hub, bad parquet: one line for the user
            raise CsirError(f"{self.repo}: cannot load config '{config}' ({type(e).__name__}: {e})") from None
        names = ds.column_names
        if names is not None:
            for col in columns:
                if col not in names:
                    raise CsirError(f"{self.repo} config '{config}': field '{col}' missing (columns: {', '.join(names)})")
        for batch in ds.iter(batch_size=self.batch_size):
            try:
                cols = [batch[c] for c in columns]
            except KeyError as e:
                raise CsirError(f"{self.repo} config '{config}': field {e} missing") from None
            for row in zip(*cols):
                yield tuple("" if v is None else str(v) for v in row)

    def iter_triples(self):
        return self._rows("triplets")

    def iter_queries(self):
        return self._rows("queries")

    def iter_passages(self):
        return self._rows("corpus")

    def location(self, kind: str) -> str:
        return f"{self.repo} config '{self.configs[kind]}'"

    def describe(self, checksums: bool = True) -> dict:
        out = {"format": "hub", "repo": self.repo, "revision": self.revision, "configs": dict(self.configs)}
        if Path(self.repo).is_dir():
            if checksums:
                from builders.repo_writer import describe_input

                out["files"] = describe_input(self.repo)["files"]
        else:
            out["resolved_revision"] = resolve_dataset_revision(self.repo, self.revision)
        return out


def resolve_dataset_revision(repo: str, revision: str | None) -> str | None:
    """The 40-hex commit a Hub dataset revision points to (None when the Hub cannot be asked)."""
    from csir.hub.resolve import resolve

    try:
        return resolve(repo, revision, "dataset", download=False).commit
    except CsirError:
        return None


def _hub_layout_configs(folder: Path) -> list[str]:
    """Config names declared in a local folder's README.md YAML header (empty if none)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return []
    import yaml
    from huggingface_hub import DatasetCard

    try:
        meta = DatasetCard.load(readme).data.to_dict()  # the Hub's own card parser
    except (yaml.YAMLError, ValueError) as e:
        raise CsirError(f"{readme}: YAML header does not parse ({e})") from None
    return [c.get("config_name") for c in meta.get("configs") or [] if isinstance(c, dict)]


def open_msmarco(source: str | os.PathLike, revision: str | None = None, *, collection=None, queries=None,
                 triples=None, streaming: bool = False) -> TsvMsMarco | HubMsMarco:
    """A folder of original TSVs, a local folder in the Hub layout, or a Hub dataset id."""
    p = Path(source)
    if p.is_dir():
        configs = _hub_layout_configs(p)
        if configs:
            missing = [c for c in HUB_COLUMNS if c not in configs]
            if missing:
                raise CsirError(f"{p / 'README.md'}: field 'configs' lacks {', '.join(missing)} "
                                f"(the {HUB_REPO} layout has corpus, queries, triplets)")
            return HubMsMarco(str(p), revision, streaming=streaming)
        return TsvMsMarco.from_folder(p, collection=collection, queries=queries, triples=triples)
    if p.exists():
        raise CsirError(f"{p}: expected a folder (MS MARCO TSVs or Hub layout) or a Hub dataset id")
    from csir.hub.resolve import check_local_or_hub

    check_local_or_hub(str(source), "--source")  # a missing path-like spec is an error, never a Hub lookup
    return HubMsMarco(str(source), revision, streaming=streaming)


def _as_source(source) -> MsMarcoSource:
    return source if hasattr(source, "iter_triples") else open_msmarco(source)


# ----------------------------------------------------------------------------------------------- training pairs

def _priority(seed, qid: str, pid: str) -> int:
    """Order-free sampling key, keyed like `pairs.rng_for(seed, qid, pid)`: the N smallest keys are the sample."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{qid}\x1f{pid}".encode(), digest_size=8).digest(), "big")


def collect_texts(stream, needed: set[str], where_: str, what: str, progress: bool, *, used_by: str = "the triples",
                   strict: bool = True, desc: str | None = None) -> dict[str, str]:
    """Keep the texts of `needed` ids from an (id, text) stream; stop once all are found.

    Missing ids raise a CsirError naming `where_` and the smallest missing ids, unless `strict=False` (then the
    result simply lacks them)."""
    out: dict[str, str] = {}
    if not needed:
        return out
    for key, text in _progress(stream, progress, desc or f"reading {what}"):
        if key in needed and key not in out:
            out[key] = text
            if len(out) == len(needed):
                break
    missing = needed.difference(out)
    if missing and strict:
        shown = ", ".join(sorted(missing, key=lambda x: (len(x), x))[:5])
        raise CsirError(f"{where_}: {len(missing)} {what} id(s) used by {used_by} not found (e.g. {shown})")
    return out


def msmarco_training_pairs(source, *, negatives: int = 4, seed: int = 0, max_queries: int | None = None,
                           selection: str = "first", max_triples: int | None = None,
                           exclude_qids: Iterable[str] | None = None, stats: dict | None = None,
                           progress: bool = True, with_ids: bool = False) -> datasets.Dataset:
    """Per query: 1 positive (label 1.0) and `negatives` negatives (0.0) from the qidpidtriples.

    selection="first": the first `negatives` distinct negatives of the query in file order (the rnd-shuf
    file is already shuffled); "sample": the `negatives` with the smallest keyed hash of (seed, qid, pid), a
    deterministic sample that does not depend on line order. Queries are taken in order of first appearance;
    `max_queries` caps them (the first ones seen), `max_triples` caps the lines read. Queries with fewer
    distinct negatives are dropped (counted in `stats["queries_dropped_short"]`). Ids: `qid` for the positive,
    `qid#neg{k}` for the negatives, so code-switching randomness is keyed per example. `with_ids=True` adds the
    columns `qid` and `pid` (the MS MARCO ids of each row; see `split_pair_ids`).
    """
    if negatives < 1:
        raise CsirError(f"negatives: must be >= 1, got {negatives}")
    if selection not in ("first", "sample"):
        raise CsirError(f"selection: expected 'first' or 'sample', got '{selection}'")
    source = _as_source(source)
    exclude = {str(q) for q in exclude_qids or ()}
    # qid -> [positive, positives set, negatives list]; negatives as pids ("first") or (key, pid) ("sample")
    groups: dict[str, list] = {}
    full = 0
    n_read = 0
    for qid, pos, neg in _progress(source.iter_triples(), progress, "reading triples"):
        if max_triples is not None and n_read >= max_triples:
            break
        n_read += 1
        if qid in exclude:
            continue
        g = groups.get(qid)
        if g is None:
            if max_queries is not None and len(groups) >= max_queries:
                continue
            g = groups[qid] = [pos, {pos}, []]
        g[1].add(pos)
        negs = g[2]
        if selection == "first":
            if len(negs) < negatives and neg not in negs and neg not in g[1]:
                negs.append(neg)
                if len(negs) == negatives:
                    full += 1
                    if max_queries is not None and full >= max_queries:
                        break
        else:
            item = (_priority(seed, qid, neg), neg)
            if item not in negs and (len(negs) < negatives or item < negs[-1]):
                negs.append(item)
                negs.sort()
                del negs[negatives:]
    chosen: dict[str, tuple[str, list[str]]] = {}
    dropped = 0
    for qid, (pos, positives, negs) in groups.items():
        if selection == "sample":
            pos = min(positives, key=lambda p: _priority(seed, qid, p))
            negs = [p for _, p in negs]
        negs = [n for n in negs if n not in positives]
        if len(negs) < negatives:
            dropped += 1
            continue
        chosen[qid] = (pos, negs)
    need_q = set(chosen)
    need_p = {p for pos, negs in chosen.values() for p in (pos, *negs)}
    qtext = collect_texts(source.iter_queries(), need_q, source.location("queries"), "query", progress)
    ptext = collect_texts(source.iter_passages(), need_p, source.location("corpus"), "passage", progress)
    rows = {"id": [], "query": [], "passage": [], "label": [], "qid": [], "pid": []}
    for qid, (pos, negs) in chosen.items():
        for k, pid in enumerate([pos, *negs]):
            rows["id"].append(qid if k == 0 else f"{qid}#neg{k - 1}")
            rows["query"].append(qtext[qid])
            rows["passage"].append(ptext[pid])
            rows["label"].append(1.0 if k == 0 else 0.0)
            rows["qid"].append(qid)
            rows["pid"].append(pid)
    if not with_ids:
        del rows["qid"], rows["pid"]
    if stats is not None:
        stats.update({"triples_read": n_read, "queries_seen": len(groups), "queries_used": len(chosen),
                      "queries_dropped_short": dropped, "negatives_per_query": negatives, "selection": selection,
                      "rows": len(rows["id"])})
    if not chosen:
        raise CsirError(f"{source.location('triplets')}: no query has {negatives} distinct negatives "
                        f"({len(groups)} queries read)")
    return pairs_dataset(rows)


def msmarco_stream_pairs(source, *, negatives: int = 4, max_examples: int | None = None,
                         exclude_qids: Iterable[str] | None = None, stats: dict | None = None,
                         progress: bool = True, with_ids: bool = False) -> datasets.Dataset:
    """The sentence-transformers cross-encoder MS MARCO recipe: walk the (shuffled) triples in order; example k
    is (query, positive, 1.0) when k % (negatives + 1) == 0, else (query, negative, 0.0). Ids `qid@k`;
    `with_ids=True` adds the columns `qid` and `pid`."""
    if negatives < 0:
        raise CsirError(f"negatives: must be >= 0, got {negatives}")
    source = _as_source(source)
    exclude = {str(q) for q in exclude_qids or ()}
    qids, pids = array("q"), array("q")  # compact: the paper's 12.8M examples fit in ~200 MB
    period = negatives + 1
    for qid, pos, neg in _progress(source.iter_triples(), progress, "reading triples"):
        if max_examples is not None and len(qids) >= max_examples:
            break
        if qid in exclude:
            continue
        k = len(qids)
        qids.append(int(qid))
        pids.append(int(pos) if k % period == 0 else int(neg))
    need_q, need_p = {str(q) for q in set(qids)}, {str(p) for p in set(pids)}
    qtext = collect_texts(source.iter_queries(), need_q, source.location("queries"), "query", progress)
    ptext = collect_texts(source.iter_passages(), need_p, source.location("corpus"), "passage", progress)
    rows = {"id": [f"{q}@{k}" for k, q in enumerate(qids)],
            "query": [qtext[str(q)] for q in qids],
            "passage": [ptext[str(p)] for p in pids],
            "label": [1.0 if k % period == 0 else 0.0 for k in range(len(qids))]}
    if with_ids:
        rows["qid"], rows["pid"] = [str(q) for q in qids], [str(p) for p in pids]
    if stats is not None:
        stats.update({"examples": len(qids), "positives": int(sum(rows["label"])), "queries": len(need_q),
                      "passages": len(need_p)})
    if not qids:
        raise CsirError(f"{source.location('triplets')}: no triples read")
    return pairs_dataset(rows)


# ----------------------------------------------------------------------------------------------- dev set

@dataclass
class MsMarcoDev:
    """The dev set the paper re-ranks: queries, qrels and the fixed English BM25 top-1000 candidates."""

    queries: dict[str, str]               # qid -> English query
    qrels: dict[str, dict[str, int]]      # qid -> {pid: relevance}
    candidates: dict[str, list[str]]      # qid -> candidate pids, in file order (empty if BM25 found none)
    passages: dict[str, str]              # pid -> English passage text, for every candidate (if requested)
    files: dict[str, str] = field(default_factory=dict)

    def stats(self) -> dict:
        n_cands = sum(len(v) for v in self.candidates.values())
        found = sum(1 for q, rel in self.qrels.items() if set(rel) & set(self.candidates.get(q, ())))
        return {"queries": len(self.qrels), "candidates": n_cands, "queries_without_candidates":
                sum(1 for q in self.qrels if not self.candidates.get(q)), "queries_with_relevant_candidate": found}


def load_msmarco_dev(folder: str | os.PathLike | None = None, *, queries=None, qrels=None, top1000=None,
                     max_queries: int | None = None, with_passages: bool = True, progress: bool = True) -> MsMarcoDev:
    """Read `qrels.dev.small.tsv`, `top1000.dev` and (if present) `queries.dev.small.tsv` from `folder`.

    Explicit paths override the standard names. The evaluated queries are those of the qrels (file order);
    `max_queries` keeps the first ones. Queries come from the queries file, else from top1000's query column.
    """
    base = Path(folder) if folder is not None else None

    def pick(explicit, names, what, required=True):
        if explicit is not None:
            p = Path(explicit)
            if base is not None and not p.is_absolute() and not p.exists():
                p = base / p
            if not p.is_file():
                raise CsirError(f"{p}: {what} file not found")
            return p
        if base is None:
            if required:
                raise CsirError(f"load_msmarco_dev: give a folder or the {what} path")
            return None
        return find_file(base, names, what, required)

    qrels_path = pick(qrels, DEV_QRELS_FILES, "dev qrels")
    top_path = pick(top1000, TOP1000_DEV_FILES, "top1000.dev")
    queries_path = pick(queries, DEV_QUERIES_FILES, "dev queries", required=False)
    all_qrels = read_qrels(qrels_path)
    qids = list(all_qrels)[:max_queries] if max_queries is not None else list(all_qrels)
    wanted = set(qids)
    qrels_out = {q: all_qrels[q] for q in qids}
    texts: dict[str, str] = {}
    if queries_path is not None:
        texts = {q: t for q, t in read_id_text(queries_path, "query") if q in wanted}
    cands: dict[str, list[str]] = {q: [] for q in qids}
    seen: dict[str, set] = {q: set() for q in qids}
    passages: dict[str, str] = {}
    for qid, pid, qtext, ptext in _progress(read_top1000(top_path), progress, "reading top1000.dev"):
        if qid not in wanted:
            continue
        texts.setdefault(qid, qtext)
        if pid not in seen[qid]:
            seen[qid].add(pid)
            cands[qid].append(pid)
            if with_passages:
                passages.setdefault(pid, ptext)
    missing = [q for q in qids if q not in texts]
    if missing:
        raise CsirError(f"{queries_path or top_path}: no query text for {len(missing)} qrels queries "
                        f"(e.g. {', '.join(missing[:5])})")
    files = {"qrels": str(qrels_path), "top1000": str(top_path)}
    if queries_path is not None:
        files["queries"] = str(queries_path)
    return MsMarcoDev({q: texts[q] for q in qids}, qrels_out, cands, passages, files)


# ----------------------------------------------------------------------------------------------- CLI

def register(sub):
    """`csir msmarco-pairs`: paper-style MS MARCO training pairs as a dataset repo folder (config `pairs`)."""
    p = sub.add_parser("msmarco-pairs", help="MS MARCO training pairs (1 positive : N negatives) as a dataset folder")
    p.add_argument("--source", default=HUB_REPO,
                   help=f"folder of MS MARCO TSVs, a folder in the Hub layout, or a Hub id (default {HUB_REPO})")
    p.add_argument("--revision", help="Hub revision (tag/branch/commit) of --source")
    p.add_argument("--triples", help="triples file name/path inside a TSV --source (default: rnd-shuf, then full.2)")
    p.add_argument("--collection", help="collection file inside a TSV --source (default collection.tsv)")
    p.add_argument("--queries", help="queries file inside a TSV --source (default queries.train.tsv)")
    p.add_argument("--recipe", choices=["per-query", "stream"], default="per-query",
                   help="per-query: 1 positive + N negatives per query; stream: the sentence-transformers "
                        "cross-encoder recipe (every (N+1)-th triple gives its positive, the others their negative)")
    p.add_argument("--negatives", type=int, default=4)
    p.add_argument("--selection", choices=["first", "sample"], default="first",
                   help="per-query: the first N negatives in file order, or a seeded order-free sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-queries", type=int, help="per-query: keep the first N queries seen")
    p.add_argument("--max-triples", type=int, help="per-query: read at most this many triples")
    p.add_argument("--max-examples", type=int, help="stream: number of examples (paper: 200k steps x 64)")
    p.add_argument("--config-name", default="pairs",
                   help="data config (id, query, passage, label); CONFIG-meta holds id, qid, pid per row")
    p.add_argument("--no-checksums", action="store_true", help="skip sha256 of the input files in the manifest")
    p.add_argument("--output", required=True)
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    import time

    from builders.repo_writer import write_dataset_repo

    t0 = time.time()
    src = open_msmarco(args.source, args.revision, collection=args.collection, queries=args.queries,
                       triples=args.triples)
    stats: dict = {}
    if args.recipe == "stream":
        ds = msmarco_stream_pairs(src, negatives=args.negatives, max_examples=args.max_examples, stats=stats,
                                  with_ids=True)
    else:
        ds = msmarco_training_pairs(src, negatives=args.negatives, seed=args.seed, max_queries=args.max_queries,
                                    selection=args.selection, max_triples=args.max_triples, stats=stats,
                                    with_ids=True)
    ds, meta = split_pair_ids(ds)
    params = {k: getattr(args, k) for k in ("recipe", "negatives", "selection", "seed", "max_queries", "max_triples",
                                            "max_examples")}
    manifest = {"kind": "msmarco-training-pairs", "source": src.describe(checksums=not args.no_checksums),
                "parameters": params, "statistics": stats}
    card = {"pretty_name": "MS MARCO passage ranking training pairs", "language": ["en"], "license": "other",
            "tags": ["msmarco", "information-retrieval"], "source_datasets": ["ms_marco"],
            "description": f"Query-passage pairs from MS MARCO passage ranking (`{args.source}`), 1 positive : "
                           f"{args.negatives} negatives from the qidpidtriples ({args.recipe}). Config "
                           f"`{args.config_name}`: columns `id, query, passage, label`, the input of "
                           "`csir codeswitch`; "
                           f"`{args.config_name}-meta`: `id, qid, pid` (the MS MARCO query and passage ids, same row "
                           "order), the join keys of `csir msmarco-translate`.",
            "attribution": "MS MARCO (Microsoft), released for non-commercial research purposes under its own terms: "
                           "https://microsoft.github.io/msmarco/"}
    configs = {args.config_name: {"train": ds}, f"{args.config_name}-meta": {"train": meta}}
    out = write_dataset_repo(args.output, configs, card=card, manifest=manifest, default_config=args.config_name)
    print(f"wrote {len(ds)} rows ({stats}) to {out} (config '{args.config_name}') in {time.time() - t0:.1f}s")
    return 0
