"""What every retrieval-set reader returns: one subset in memory (texts, qrels, optional images and candidates).

Its own module so the readers (`datasets_io` for MTEB's layout, `caption_layouts` for image-caption tables) share
it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFERRED_SPLITS = ("test", "dev", "validation")


@dataclass
class RetrievalSubset:
    name: str
    corpus: dict[str, str]                     # doc id -> text (collection order)
    queries: dict[str, str]                    # query id -> text
    qrels: dict[str, dict[str, int]]
    top_ranked: dict[str, list[str]] | None = None
    doc_lang: dict[str, str] | None = None     # MLIR: language of each passage
    split: str = "test"
    corpus_images: dict[str, bytes] | None = None   # image rows (any-to-any sets): id -> encoded bytes
    query_images: dict[str, bytes] | None = None
