"""Training data: any `datasets.load_dataset` source -> checked columns -> objective-shaped examples.

Static data is tokenized once (`Dataset.map`, cached, run under `main_process_first`) and padded per batch;
batches group similar lengths (transformers' `get_length_grouped_indices`) so little compute goes to padding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from csir.errors import CsirError, where
from csir.hub.load import load_repo_dataset
from csir.hub.resolve import is_hub_id, resolve

from .config import DataConfig, TrainConfig

log = logging.getLogger(__name__)

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}


@dataclass
class DataSource:
    """What was loaded, for the model card and manifest."""

    path: str
    name: str | None
    split: str
    revision: str | None  # as requested
    resolved_revision: str | None  # 40-hex commit where it can be resolved
    num_rows: int
    is_hub_id: bool


def load_source(data: DataConfig, source: str = "config"):
    """Load the raw split; any failure is a CsirError naming `data.path`."""
    from datasets import load_dataset

    path = data.path
    suffix = Path(path).suffix.lower()
    kwargs = {}
    resolved = None
    try:
        if Path(path).is_file():
            if suffix not in FILE_BUILDERS:
                raise CsirError(f"{where(source, field='data.path')}: unsupported file type {suffix!r} "
                                f"(use {', '.join(sorted(FILE_BUILDERS))})")
            if suffix == ".tsv":
                kwargs["delimiter"] = "\t"
            ds = load_dataset(FILE_BUILDERS[suffix], data_files={"train": path}, split="train", **kwargs)
        else:
            # one resolver for every source: a missing path-like spec or an unreachable Hub fails here, in one line;
            # a local git repo is read at `data.revision` (a temp export when that is not its HEAD)
            r = resolve(path, data.revision, "dataset", download=False, hash_folder=False,
                        flag=where(source, field="data.path"), rev_flag=where(source, field="data.revision"))
            resolved = r.commit if r.kind != "folder" else None
            try:
                if r.path is not None and r.kind != "hub":  # content-keyed cache: datasets 5.2 would serve a
                    ds = load_repo_dataset(r.path, data.name, split=data.split)  # same-named folder's cached rows
                else:
                    ds = load_dataset(path, data.name, split=data.split, revision=data.revision)
            finally:
                r.cleanup()
    except CsirError:
        raise
    except Exception as exc:  # datasets raises many types: not found, bad config, offline...
        raise CsirError(f"{where(source, field='data.path')}: cannot load {path!r}"
                        f"{f' config {data.name!r}' if data.name else ''} split {data.split!r}: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if data.max_rows is not None:
        ds = ds.select(range(min(data.max_rows, len(ds))))
    info = DataSource(path=path, name=data.name, split=data.split, revision=data.revision,
                      resolved_revision=resolved, num_rows=len(ds), is_hub_id=is_hub_id(path))
    return ds, info


def check_columns(ds, cfg: TrainConfig, source: str = "config") -> None:
    """The objective's columns must exist; the error lists what the dataset has."""
    d = cfg.data
    needed = {"data.query_column": d.query_column, "data.passage_column": d.passage_column,
              "data.label_column": d.label_column}
    for fieldname, col in needed.items():
        if col not in ds.column_names:
            raise CsirError(f"{where(d.path, field=col)}: column missing for the {cfg.objective} objective "
                            f"(set {fieldname} in {source}); the dataset has columns {ds.column_names}")
    if len(ds) == 0:
        raise CsirError(f"{where(d.path)}: the {d.split!r} split is empty")


def _ratio_indices(queries: list[str], labels: list[float], negs_per_pos: int) -> list[int]:
    """Keep every positive and at most `negs_per_pos` negatives per positive of the same query (in order)."""
    pos: dict[str, int] = {}
    for q, y in zip(queries, labels):
        if y > 0:
            pos[q] = pos.get(q, 0) + 1
    used: dict[str, int] = {}
    keep = []
    for i, (q, y) in enumerate(zip(queries, labels)):
        if y > 0:
            keep.append(i)
        elif used.get(q, 0) < negs_per_pos * pos.get(q, 0):
            used[q] = used.get(q, 0) + 1
            keep.append(i)
    return keep


def _warn_lost_negatives(queries: list[str], labels: list[float], keep: list[int], cfg) -> None:
    """Rows are grouped by query text: negatives whose query text differs from every positive's are dropped. Data
    whose queries were switched per row (not per query, as `csir codeswitch` does) loses most of them: say so."""
    negatives = sum(1 for y in labels if y <= 0)
    kept = sum(1 for i in keep if labels[i] <= 0)
    wanted = min(negatives, cfg.negatives_per_positive * (len(labels) - negatives))
    if wanted and kept < 0.5 * wanted:
        log.warning("%s: only %d of %d negatives share a query text with a positive and are kept (1:%d); were the "
                    "queries code-switched per row rather than once per query?", cfg.data.path, kept, negatives,
                    cfg.negatives_per_positive)


def _listwise_groups(keep: list[int], queries: list[str], labels: list[float], size: int, cfg) -> list[int]:
    """Rows of whole listwise groups, each 1 positive followed by `size - 1` negatives of the same query; queries
    with fewer negatives are dropped (a group's softmax needs every one of its rows in the batch)."""
    groups: dict[str, list[int]] = {}
    for i in keep:
        groups.setdefault(queries[i], []).append(i)
    out = []
    for rows in groups.values():
        pos = [i for i in rows if labels[i] > 0]
        neg = [i for i in rows if labels[i] <= 0]
        if len(pos) == 1 and len(neg) >= size - 1:
            out += pos + neg[:size - 1]
    if not out:
        raise CsirError(f"{where(cfg.data.path, field=cfg.data.label_column)}: no query has 1 positive and "
                        f"{size - 1} negatives, as ce_loss: listwise needs")
    return out


def batch_sampler(lengths: list[int], cfg: TrainConfig):
    """Length-grouped batches of rows; for the listwise loss, of whole groups (rows i*G .. i*G+G-1)."""
    if cfg.objective == "cross-encoder" and cfg.ce_loss == "listwise":
        size = 1 + cfg.negatives_per_positive
        group_lengths = [sum(lengths[i:i + size]) for i in range(0, len(lengths), size)]
        return GroupExpandingSampler(LengthGroupedBatchSampler(group_lengths, max(1, cfg.batch_size // size),
                                                               seed=cfg.seed, group=cfg.length_grouping), size)
    return LengthGroupedBatchSampler(lengths, cfg.batch_size, seed=cfg.seed, group=cfg.length_grouping)


def shape_examples(ds, cfg: TrainConfig):
    """Objective-shaped text columns: CE (query, passage, label); BE (query, positive, negative_0..k-1)."""
    d = cfg.data
    queries = ds[d.query_column]
    labels = [float(x) for x in ds[d.label_column]]
    if cfg.objective == "cross-encoder":
        keep = _ratio_indices(queries, labels, cfg.negatives_per_positive)
        _warn_lost_negatives(queries, labels, keep, cfg)
        if cfg.ce_loss == "listwise":
            keep = _listwise_groups(keep, queries, labels, 1 + cfg.negatives_per_positive, cfg)
        ds = ds.select(keep)
        rename = {d.query_column: "query", d.passage_column: "passage", d.label_column: "label"}
        ds = ds.rename_columns({k: v for k, v in rename.items() if k != v})
        ids = ds[d.id_column] if d.id_column and d.id_column in ds.column_names else None
        ds = ds.select_columns(["query", "passage", "label"])
        ds = ds.cast_column("label", _float_feature())
        if ids is not None:
            ds = ds.add_column("example_id", [str(x) for x in ids])
        return ds
    from datasets import Dataset

    passages = ds[d.passage_column]
    ids = ds[d.id_column] if d.id_column and d.id_column in ds.column_names else [str(i) for i in range(len(ds))]
    negatives: dict[str, list[str]] = {}
    for q, p, y in zip(queries, passages, labels):
        if y <= 0:
            negatives.setdefault(q, []).append(p)
    rows = {"query": [], "positive": [], "example_id": []}
    for k in range(cfg.hard_negatives):
        rows[f"negative_{k}"] = []
    for q, p, y, i in zip(queries, passages, labels, ids):
        if y <= 0:
            continue
        negs = negatives.get(q, [])
        if len(negs) < cfg.hard_negatives:
            continue  # not enough hard negatives for a fixed-width batch
        rows["query"].append(q)
        rows["positive"].append(p)
        rows["example_id"].append(str(i))
        for k in range(cfg.hard_negatives):
            rows[f"negative_{k}"].append(negs[k])
    if not rows["query"]:
        raise CsirError(f"{where(d.path, field=d.label_column)}: no positive (label > 0) rows"
                        + (f" with {cfg.hard_negatives} hard negatives" if cfg.hard_negatives else ""))
    return Dataset.from_dict(rows)


def _float_feature():
    from datasets import Value

    return Value("float32")


def with_prompt(texts: list[str], prompt: str | None) -> list[str]:
    return [prompt + t for t in texts] if prompt else texts


def column_prompt(column: str, prompts: dict | None) -> str | None:
    """A bi-encoder column's prompt: the model's query prompt for `query`, its document prompt for the rest."""
    return (prompts or {}).get("query" if column == "query" else "document")


def tokenize(ds, tokenizer, cfg: TrainConfig, prompts: dict | None = None):
    """Pre-tokenize (no padding); adds `length` (tokens per example) for length-grouped batching.

    Bi-encoder texts get the model's own prompts (e5: `query: ` / `passage: `), as evaluation encodes them.
    """
    max_length = cfg.max_length

    if cfg.objective == "cross-encoder":
        def fn(batch):
            enc = tokenizer(batch["query"], batch["passage"], truncation="longest_first", max_length=max_length)
            enc["length"] = [len(x) for x in enc["input_ids"]]
            return enc
        keep = ["label"]
    else:
        cols = ["query", "positive"] + [f"negative_{k}" for k in range(cfg.hard_negatives)]

        def fn(batch):
            out, total = {}, None
            for col in cols:
                enc = tokenizer(with_prompt(batch[col], column_prompt(col, prompts)), truncation=True,
                                max_length=max_length)
                for key, val in enc.items():
                    out[f"{col}.{key}"] = val
                lens = [len(x) for x in enc["input_ids"]]
                total = lens if total is None else [a + b for a, b in zip(total, lens)]
            out["length"] = total
            return out
        keep = []
    remove = [c for c in ds.column_names if c not in keep]
    return ds.map(fn, batched=True, remove_columns=remove, desc="Tokenizing")


class LengthGroupedBatchSampler(torch.utils.data.Sampler):
    """Batches of similar-length examples in a seeded, epoch-dependent order (resumable: order = f(seed, epoch))."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group: bool = True, drop_last: bool = True):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        from transformers.trainer_pt_utils import get_length_grouped_indices

        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.group:
            return list(get_length_grouped_indices(self.lengths, self.batch_size, generator=gen))
        return torch.randperm(len(self.lengths), generator=gen).tolist()

    def __iter__(self):
        idx = self._indices()
        batches = [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.group:  # the longest batch comes first (OOM early); shuffle the others, seeded per epoch
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + 7)
            rest = [batches[i] for i in (torch.randperm(len(batches) - 1, generator=gen) + 1).tolist()]
            batches = batches[:1] + rest
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths) // self.batch_size
        return n if self.drop_last or len(self.lengths) % self.batch_size == 0 else n + 1


class GroupExpandingSampler(torch.utils.data.Sampler):
    """A batch sampler over groups, yielding each batch's rows (group g = rows g*size .. g*size+size-1)."""

    def __init__(self, groups: LengthGroupedBatchSampler, size: int):
        self.groups, self.size = groups, size

    def set_epoch(self, epoch: int) -> None:
        self.groups.set_epoch(epoch)

    def __iter__(self):
        for batch in self.groups:
            yield [g * self.size + k for g in batch for k in range(self.size)]

    def __len__(self) -> int:
        return len(self.groups)


class PaddingCollator:
    """Dynamic padding: each batch is padded to its own longest example (and a multiple of 8 on GPU)."""

    def __init__(self, tokenizer, cfg: TrainConfig, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer
        self.objective = cfg.objective
        self.cols = ["query", "positive"] + [f"negative_{k}" for k in range(cfg.hard_negatives)]
        self.pad_to_multiple_of = pad_to_multiple_of

    def _pad(self, feats: list[dict]) -> dict:
        return dict(self.tokenizer.pad(feats, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                       return_tensors="pt"))

    def __call__(self, rows: list[dict]) -> dict:
        keys = ("input_ids", "token_type_ids", "attention_mask")
        if self.objective == "cross-encoder":
            feats = [{k: r[k] for k in keys if k in r} for r in rows]
            return {"features": self._pad(feats),
                    "labels": torch.tensor([r["label"] for r in rows], dtype=torch.float32)}
        # one padded batch per column (query, positive, negative_0, ...): each padded to its own longest text
        return {"columns": [self._pad([{k: r[f"{c}.{k}"] for k in keys if f"{c}.{k}" in r} for r in rows])
                            for c in self.cols]}


class TextCollator:
    """Tokenizes at batch time: used for dynamic code-switching, where texts change every epoch."""

    def __init__(self, tokenizer, cfg: TrainConfig, pad_to_multiple_of: int | None = None,
                 prompts: dict | None = None):
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.pad_to_multiple_of = pad_to_multiple_of
        self.prompts = prompts

    def _enc(self, *texts):
        return dict(self.tokenizer(*texts, padding=True, truncation=True if len(texts) == 1 else "longest_first",
                                   max_length=self.cfg.max_length, pad_to_multiple_of=self.pad_to_multiple_of,
                                   return_tensors="pt"))

    def __call__(self, rows: list[dict]) -> dict:
        if self.cfg.objective == "cross-encoder":
            return {"features": self._enc([r["query"] for r in rows], [r["passage"] for r in rows]),
                    "labels": torch.tensor([r["label"] for r in rows], dtype=torch.float32)}
        cols = ["query", "positive"] + [f"negative_{k}" for k in range(self.cfg.hard_negatives)]
        return {"columns": [self._enc(with_prompt([r[c] for r in rows], column_prompt(c, self.prompts)))
                            for c in cols]}
