"""Image-caption tables from the Hub, read as MTEB any-to-any subsets: `<lang>` (text -> image), `i2t-<lang>`.

The layouts and how MTEB turns them into corpus / queries / qrels (ids kept as MTEB makes them), with where each fact
comes from (files of github.com/embeddings-benchmark/mteb unless said otherwise):

- **XM3600** (`mteb/xm3600`; before that `floschne/xm3600`). Source: mteb/tasks/retrieval/multilingual/
  xm3600_t2i_retrieval.py (XM3600T2IRetrieval, XM3600I2TRetrieval) and the older
  mteb/tasks/Image/Any2AnyRetrieval/multilingual/XM3600T2IRetrieval.py, which read it with
  `load_dataset(path, split=lang)`; the column list is the `floschne/xm3600` card's `dataset_info`. There is one
  `default` config, and its splits are the 36 languages (`de`, `en`, `fil`, `quz`, ...; files `data/<lang>-*`). Each
  row is one image: `image_id`, `image_locale`, `captions` (list), `captions_tokenized`,
  `captions_tokenized_lowercase`, `image` (a raw `{bytes, path}` struct). For t2i, each caption is a query
  `query-<image_id>-<i>` whose relevant document is `corpus-<image_id>`. For i2t, the image is the query
  `query-<image_id>` and its captions `corpus-<image_id>-<i>` are all relevant.
- **WIT** (`mteb/wit`; IGLUE's WIT retrieval test set, 11 languages). Source:
  mteb/tasks/retrieval/multilingual/wit_t2i_retrieval.py (WITT2IRetrieval, t2i only in MTEB), which reads
  `load_dataset("mteb/wit", split=lang)` and uses the columns `image_id`, `captions` (list) and `image`: the XM3600
  row layout and ids (`query-<image_id>-<i>` -> `corpus-<image_id>`), so it is read by the same code (kind
  `xm3600`, i2t offered as well).
- **xFlickrCO** (`mteb/xflickrco`; before that `floschne/xflickrco`). Source:
  mteb/tasks/retrieval/multilingual/x_flickr30k_co_t2i_retrieval.py and x_flickr30k_co_i2t_retrieval.py
  (`load_dataset(path)[lang]`); columns from the `floschne/xflickrco` card. There is one `default` config with splits
  de/en/es/id/ja/ru/tr/zh (`data/<lang>-*`). Each row is `sentences` (one caption), `id`, and `image` (a
  `{bytes, path}` struct). The caption is the query `query-<id>` and the image is the document `corpus-<id>` (for
  i2t, the image is `query-<id>` and the caption `corpus-<id>`).
- **XTD-10**. No MTEB task reads XTD10 in the MTEB sources indexed here. This reader follows the Hub copy
  `Haon-Chen/XTD-10` (its card; read by mmE5's eval_multi.py and src/dataset.py, github.com/haon-chen/mmE5). It has
  one config per language (it, es, ru, zh, pl, tr, ko), each with split `test` (`<lang>/<lang>.parquet`), and MMEB's
  eval columns `qry_text`, `qry_img_path`, `tgt_text` (list), and `tgt_img_path` (list; the first entry is the
  ground truth). The images are in `XTD10_dataset.tar.gz`, with paths relative to where it is unpacked. Row r becomes
  the text query `query-<r>` (`qry_text` as is, with any instruction the set puts in it). Every listed image is a
  document, with its path as id. Relevant is `tgt_img_path[0]`, and the row's list is kept as `top_ranked`. A
  CLIP-style model searches the union of all rows' images (mmE5 ranks each row's own list). Only t2i is read.

Multi30K (MTEB's Multi30kT2IRetrieval / Multi30kI2TRetrieval: `vnahata/Multi30k-T2I` / `-I2T`, built by
scripts/data/multi30k_retrieval/create_data.py) is already MTEB's standard layout with ISO 639-1 subsets
(`de-corpus` -> images.parquet `id, image`; `de-queries` -> captions_de.parquet `id, text`; `de-qrels`), so
`datasets_io` reads it. There and here, `--subsets deu` finds `de` (`builders.evalsets.tasks.resolve_subset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from csir.errors import CsirError
from evaluation.card_tables import card_configs, column_names, read_table
from evaluation.subsets import PREFERRED_SPLITS, RetrievalSubset

KINDS = {  # kind -> (columns it needs, directions offered)
    "xm3600": (("image_id", "captions", "image"), ("t2i", "i2t")),
    "xflickrco": (("id", "sentences", "image"), ("t2i", "i2t")),
    "xtd10": (("qry_text", "tgt_img_path"), ("t2i",)),
}
IMAGE_FIELDS = ("image", "tgt_img_path")


@dataclass
class CaptionLayout:
    kind: str
    source: str
    folder: Path
    tables: dict[str, tuple[str, str, list[str]]]   # language -> (config, split, file patterns)

    @property
    def subsets(self) -> list[str]:
        directions = KINDS[self.kind][1]
        return [f"{'i2t-' if d == 'i2t' else ''}{lang}" for d in directions for lang in self.tables]

    def load(self, subset: str, split: str | None = None) -> RetrievalSubset:
        i2t = subset.startswith("i2t-")
        config, hf_split, patterns = self.tables[subset[4:] if i2t else subset]
        if split and split != hf_split and not (split == "test" and hf_split not in PREFERRED_SPLITS):
            raise CsirError(f"--split: {self.source} stores subset {subset} as config {config}, split {hf_split} "
                            f"(no split '{split}')")
        where = f"{config}, split {hf_split}"
        what = f"{self.source}: config {where}"
        if self.kind == "xtd10":
            return _xtd10(self, subset, what, read_table(self.folder, patterns, ["qry_text", "tgt_img_path"], what))
        key, text = ("image_id", "captions") if self.kind == "xm3600" else ("id", "sentences")
        table = read_table(self.folder, patterns, [key, text, "image"], what)
        keys = [str(k) for k in table.column(key).to_pylist()]
        captions = table.column(text).to_pylist()
        if self.kind == "xflickrco":
            captions = [[c] for c in captions]
        images = _image_bytes(keys, table.column("image"), self.source, where)
        return _captions_subset(subset, keys, images, captions, multi=self.kind == "xm3600", i2t=i2t)


def _image_bytes(keys: list[str], column, source: str, where: str) -> dict[str, bytes]:
    """{key: encoded bytes} from a `{bytes, path}` struct or Image column (csir.images.image_column)."""
    import datasets
    import pyarrow as pa

    from csir.images import image_column

    return image_column(datasets.Dataset(pa.table({"id": keys, "image": column})), source, where)


def _captions_subset(name: str, keys: list[str], images: dict[str, bytes], captions: list[list], multi: bool,
                     i2t: bool) -> RetrievalSubset:
    """MTEB's ids: image `corpus-<key>` (t2i) / `query-<key>` (i2t); caption `query|corpus-<key>[-<i>]`."""
    img_side, txt_side = ("query", "corpus") if i2t else ("corpus", "query")
    imgs = {f"{img_side}-{k}": images[k] for k in keys}
    texts: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for k, caps in zip(keys, captions):
        for i, c in enumerate(caps or []):
            tid = f"{txt_side}-{k}" + (f"-{i}" if multi else "")
            texts[tid] = c or ""
            if i2t:
                qrels.setdefault(f"query-{k}", {})[tid] = 1
            else:
                qrels.setdefault(tid, {})[f"corpus-{k}"] = 1
    blank = {i: "" for i in imgs}
    if i2t:
        return RetrievalSubset(name, texts, blank, qrels, query_images=imgs)
    return RetrievalSubset(name, blank, texts, qrels, corpus_images=imgs)


def _xtd10(layout: CaptionLayout, name: str, what: str, table) -> RetrievalSubset:
    from builders.evalsets.image_files import ImageFiles

    files = ImageFiles(layout.folder, layout.source)
    queries, qrels, top, images = {}, {}, {}, {}
    for r, (text, targets) in enumerate(zip(table.column("qry_text").to_pylist(),
                                            table.column("tgt_img_path").to_pylist())):
        if not targets:
            raise CsirError(f"{what}: row {r}: field 'tgt_img_path' is empty (the first entry is the ground truth)")
        qid = f"query-{r}"
        queries[qid], qrels[qid], top[qid] = text or "", {targets[0]: 1}, list(dict.fromkeys(targets))
        for path in targets:
            if path not in images:
                images[path] = files.read(path, f"{what}: row {r}: field 'tgt_img_path'")
    return RetrievalSubset(name, {p: "" for p in images}, queries, qrels, top, corpus_images=images)


def detect_layout(folder: Path, source: str) -> CaptionLayout | None:
    """The caption layout of a repo folder, from its card's configs and their columns; None when it has no image
    table. An image table that matches no layout is a CsirError naming the dataset and the missing field."""
    tables: dict[str, tuple[str, str, list[str]]] = {}
    kinds = set()
    for config, splits in card_configs(Path(folder)).items():
        for split, patterns in splits.items():
            cols = set(column_names(Path(folder), patterns))
            if not cols & set(IMAGE_FIELDS):
                continue
            kind = next((k for k, (need, _) in KINDS.items() if set(need) <= cols), None)
            if kind is None:
                wanted = "; ".join(f"{k}: {', '.join(need)}" for k, (need, _) in KINDS.items())
                missing = next(c for need, _ in KINDS.values() for c in need if c not in cols)
                raise CsirError(f"{source}: config {config}, split {split}: an image table without a caption "
                                f"layout: field '{missing}' missing (known layouts: {wanted})")
            kinds.add(kind)
            lang = config if split in (*PREFERRED_SPLITS, "train") and config != "default" else split
            tables[lang] = (config, split, patterns)
    if len(kinds) > 1:
        raise CsirError(f"{source}: tables of several caption layouts ({', '.join(sorted(kinds))}); expected one")
    return CaptionLayout(kinds.pop(), source, Path(folder), tables) if tables else None
