"""Lexicons: ranked (source, target, score) translation lists, stored as Hub-layout datasets."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import datasets

from csir.errors import CsirError, where
from csir.textio import text_lines

LEXICON_FEATURES = datasets.Features({
    "source": datasets.Value("string"),
    "target": datasets.Value("string"),
    "score": datasets.Value("float32"),
    "rank": datasets.Value("int32"),
})
_SPACE = re.compile(r"\s+")


def normalize_key(text: str) -> str:
    """Lookup form: lower-cased, single spaces (multi-word entries are matched token by token)."""
    return _SPACE.sub(" ", text.strip()).lower()


@dataclass
class Lexicon:
    """source (lower-cased) → targets best first. `name` is what cards and manifests cite."""

    src: str
    tgt: str
    entries: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    name: str = ""

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def num_pairs(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def fingerprint(self) -> str:
        """Content hash (cached): cheap identity for caches and dataset fingerprints."""
        fp = getattr(self, "_fingerprint", None)
        if fp is None:
            import hashlib
            h = hashlib.sha256(f"{self.src}\t{self.tgt}\n".encode())
            for key, targets in self.entries.items():
                h.update(key.encode()); h.update(b"\t")
                h.update("\x1f".join(t for t, _ in targets).encode()); h.update(b"\n")
            fp = self._fingerprint = h.hexdigest()
        return fp

    @property
    def max_words(self) -> int:
        return max((k.count(" ") + 1 for k in self.entries), default=0)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str, float]], src: str, tgt: str, *, max_per_source: int | None = None,
                   name: str = "") -> "Lexicon":
        """Rank targets per source by score (desc), then first appearance; drop empty and duplicate targets."""
        grouped: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
        for order, (s, t, score) in enumerate(pairs):
            key, t = normalize_key(s), _SPACE.sub(" ", t.strip())
            if not key or not t:  # identical translations stay: they keep entities whole ("New York")
                continue
            prev = grouped[key].get(t)
            if prev is None or score > prev[0]:
                grouped[key][t] = (score, order if prev is None else prev[1])
        entries = {}
        for key in sorted(grouped):
            ranked = sorted(grouped[key].items(), key=lambda kv: (-kv[1][0], kv[1][1]))
            if max_per_source:
                ranked = ranked[:max_per_source]
            entries[key] = [(t, float(sc)) for t, (sc, _) in ranked]
        return cls(src, tgt, entries, name)

    def to_dataset(self) -> datasets.Dataset:
        rows = {"source": [], "target": [], "score": [], "rank": []}
        for key, targets in self.entries.items():
            for rank, (t, score) in enumerate(targets, 1):
                rows["source"].append(key); rows["target"].append(t); rows["score"].append(score); rows["rank"].append(rank)
        return datasets.Dataset.from_dict(rows, features=LEXICON_FEATURES)

    @classmethod
    def from_dataset(cls, ds: datasets.Dataset, src: str, tgt: str, name: str = "") -> "Lexicon":
        missing = {"source", "target"} - set(ds.column_names)
        if missing:
            raise CsirError(f"{name or 'lexicon'}: missing column(s) {', '.join(sorted(missing))}")
        cols = ds.select_columns([c for c in ("source", "target", "score", "rank") if c in ds.column_names]).to_dict()
        score = cols.get("score") or [1.0] * len(ds)  # plain lists: indexing datasets' Column per row is slow
        rank = cols.get("rank") or list(range(len(ds)))
        order = sorted(range(len(ds)), key=lambda i: rank[i])
        src_col, tgt_col = cols["source"], cols["target"]
        entries: dict[str, list[tuple[str, float]]] = {}
        for i in order:
            entries.setdefault(normalize_key(src_col[i]), []).append((tgt_col[i], float(score[i])))
        return cls(src, tgt, dict(sorted(entries.items())), name)


def read_pair_file(path: str | os.PathLike, src: str, tgt: str, *, max_per_source: int | None = None) -> Lexicon:
    """A plain `src tgt` file (MUSE dictionary text): tab-separated (multi-word) or whitespace-separated."""
    path = Path(path)
    pairs = []
    for lineno, line in text_lines(path, "lexicon"):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise CsirError(f"{where(path, lineno)}: expected 'source<TAB or space>target', got {line[:60]!r}")
        pairs.append((parts[0], parts[1], 1.0))
    if not pairs:
        raise CsirError(f"{path}: empty lexicon file")
    return Lexicon.from_pairs(pairs, src, tgt, max_per_source=max_per_source, name=str(path))


def precision_at_k(lexicon: Lexicon, gold: Mapping[str, set[str]], ks=(1, 5)) -> dict:
    """MUSE-style P@k over gold source words found in the lexicon, plus coverage of the gold vocabulary."""
    found = [s for s in gold if s in lexicon.entries]
    out = {"gold_sources": len(gold), "covered": len(found),
           "coverage": round(len(found) / len(gold), 4) if gold else 0.0}
    for k in ks:
        hits = sum(1 for s in found if {t.lower() for t, _ in lexicon.entries[s][:k]} & gold[s])
        out[f"p@{k}"] = round(hits / len(found), 4) if found else 0.0
    return out


def read_gold(path: str | os.PathLike) -> dict[str, set[str]]:
    lex = read_pair_file(path, "src", "tgt")
    return {s: {t.lower() for t, _ in ts} for s, ts in lex.entries.items()}
