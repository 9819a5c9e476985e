"""Code-switching (Litschko et al. 2023): replace words of queries/passages by lexicon translations.

- BL-CS: queries switched towards one language, passages towards another (X-Y; X=Y and X=en allowed).
- ML-CS: for every token a language is drawn uniformly from the side's set, then looked up.
- Wiki-CS: BL-CS with a parallel-titles lexicon at p=1.0.

Tokens are Treebank-compatible word spans (the fast regex by default, NLTK's TreebankWordTokenizer with
`tokenizer="treebank"`); replacements are made in place, so everything that is not switched, spacing and
scripts included, is returned byte for byte (detokenization is exact). Lookup is lower-cased; multi-word
entries match longest first. Every (seed, example id, side) has its own RNG, so `num_proc`, sharding and
resumption give identical output.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Mapping

import datasets
import pyarrow.compute as pc

from builders.lexicons.base import Lexicon
from builders.sources.pairs import rng_for
from csir.errors import CsirError

VARIANTS = ("zero-shot", "bl-cs", "ml-cs", "wiki-cs")
# Treebank-style word tokens: hyphenated words stay whole ("well-known"); clitics split off as Treebank does
# ("don't" -> "do" "n't", "dog's" -> "dog" "'s"). Clitics and numbers are not content tokens.
WORD_RE = re.compile(r"[^\W_]+?(?=[nN]['’][tT]\b)|[nN]['’][tT]\b|['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL)\b|[^\W_]+(?:-[^\W_]+)*")


_FAST_RE = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")


def is_content(token: str) -> bool:
    return token[0].isalnum() and token.lower() not in ("n't", "n’t") and not token.replace("-", "").isdigit()


@dataclass
class CodeSwitchConfig:
    """Every knob that shapes the output; recorded in manifests and cards."""

    variant: str = "bl-cs"
    query_langs: list[str] = field(default_factory=list)   # [] = queries stay as they are
    passage_langs: list[str] = field(default_factory=list)
    p: float = 0.5
    seed: int = 0
    translation: str = "top1"          # top1 (paper) | sample (uniform over the k-best)
    tokenizer: str = "fast"            # fast | treebank (NLTK)
    source_lang: str = "en"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise CsirError(f"--variant: unknown variant '{self.variant}' (choose from {', '.join(VARIANTS)})")
        if not 0.0 <= float(self.p) <= 1.0:
            raise CsirError(f"--p: must be in [0, 1], got {self.p}")
        if self.translation not in ("top1", "sample"):
            raise CsirError(f"--translation: 'top1' or 'sample', got '{self.translation}'")
        if self.tokenizer not in ("fast", "treebank"):
            raise CsirError(f"--tokenizer: 'fast' or 'treebank', got '{self.tokenizer}'")
        self.p = float(self.p)
        self.query_langs = [l for l in self.query_langs if l != self.source_lang]
        self.passage_langs = [l for l in self.passage_langs if l != self.source_lang]
        if self.variant == "zero-shot":
            self.query_langs, self.passage_langs = [], []

    def config_name(self) -> str:
        if self.variant == "zero-shot":
            return "zero-shot"
        if self.variant == "ml-cs":
            langs = sorted(set(self.query_langs) | set(self.passage_langs))
            return f"ml-cs-p{self.p:g}-{'-'.join(langs)}"
        q = self.query_langs[0] if self.query_langs else self.source_lang
        d = self.passage_langs[0] if self.passage_langs else self.source_lang
        p = f"{self.p:.1f}" if self.p in (0.0, 1.0) else f"{self.p:g}"
        return f"{self.variant}-p{p}-{q}-{d}"

    def to_dict(self) -> dict:
        return asdict(self)


class _Table:
    """A lexicon prepared for matching: key → chosen-from targets, and max n-gram length per first word."""

    def __init__(self, lexicon: Lexicon):
        self.targets = {k: [t for t, _ in v] for k, v in lexicon.entries.items() if v}
        lengths: dict[str, set[int]] = {}
        for key in self.targets:
            if " " in key:
                lengths.setdefault(key.split(" ", 1)[0], set()).add(key.count(" ") + 1)
        # first word → the multi-word entry lengths that exist for it, longest first
        self.lengths = {w: sorted(ls, reverse=True) for w, ls in lengths.items()}
        self.starts = frozenset(self.targets) | frozenset(self.lengths)  # words that can begin a match


class CodeSwitcher:
    def __init__(self, config: CodeSwitchConfig, lexicons: Mapping[str, Lexicon]):
        self.config = config
        needed = set(config.query_langs) | set(config.passage_langs)
        missing = sorted(needed - set(lexicons))
        if missing:
            raise CsirError(f"--lexicon: no lexicon for language(s) {', '.join(missing)}")
        self.tables = {lang: _Table(lexicons[lang]) for lang in sorted(needed)}
        self.lexicon_fingerprints = {lang: lexicons[lang].fingerprint() for lang in sorted(needed)}
        self.side_langs = {"query": list(config.query_langs), "passage": list(config.passage_langs)}
        self._treebank = None
        if config.tokenizer == "treebank":
            from nltk.tokenize import TreebankWordTokenizer
            self._treebank = TreebankWordTokenizer()

    def _tokens(self, text: str) -> tuple[list[int], list[int], list[str]]:
        """Content tokens of `text`: start offsets, end offsets, lower-cased forms."""
        starts, ends, lowered = [], [], []
        if self._treebank is not None:
            for s, e in self._treebank.span_tokenize(text):
                if is_content(text[s:e]):
                    starts.append(s); ends.append(e); lowered.append(text[s:e].lower())
            return starts, ends, lowered
        add_s, add_e, add_w = starts.append, ends.append, lowered.append
        low = text.lower()
        same_len = len(low) == len(text)  # lower() can change lengths (e.g. 'İ'): then lower per token
        for m in _FAST_RE.finditer(text):
            s, e = m.span()
            tok = low[s:e] if same_len else m.group().lower()
            if "'" in tok or "’" in tok:  # rare: split clitics the Treebank way
                for sm in WORD_RE.finditer(m.group()):
                    if is_content(sm.group()):
                        add_s(s + sm.start()); add_e(s + sm.end()); add_w(sm.group().lower())
            elif not (tok[0].isdigit() and tok.replace("-", "").isdigit()):
                add_s(s); add_e(e); add_w(tok)
        return starts, ends, lowered

    def switch(self, text: str, example_id, side: str, epoch: int | None = None) -> tuple[str, int, int]:
        """Return (switched text, content tokens switched, content tokens)."""
        return self.switch_counts(text, example_id, side, epoch)[:3]

    def switch_counts(self, text: str, example_id, side: str, epoch: int | None = None) -> tuple[str, int, int, int]:
        """Return (switched text, switched, content tokens, content tokens the lexicon covered)."""
        starts, ends, lowered = self._tokens(text)
        n = len(lowered)
        langs = self.side_langs[side]
        if not langs or not n or self.config.p == 0.0:
            return text, 0, n, 0
        cfg = self.config
        p, top1 = cfg.p, cfg.translation == "top1"
        key = (cfg.seed, example_id, side) if epoch is None else (cfg.seed, example_id, side, epoch)
        rng = rng_for(*key)
        gap_ok: list[bool] | None = None

        def match_at(i: int, table: _Table):
            nonlocal gap_ok
            word = lowered[i]
            for m in table.lengths.get(word, ()):  # longest multi-word entry first
                if m <= n - i:
                    cand = table.targets.get(" ".join(lowered[i:i + m]))
                    if cand:
                        if gap_ok is None:  # the words of an entry must be separated by spaces only
                            gap_ok = [not (g := text[ends[j]:starts[j + 1]]) or g.isspace() for j in range(n - 1)]
                        if all(gap_ok[i:i + m - 1]):
                            return m, cand
            cand = table.targets.get(word)
            return (1, cand) if cand else (0, None)

        if len(langs) == 1:  # BL-CS: only tokens that can match need a look (and a random draw)
            table = self.tables[langs[0]]
            starts_ = table.starts
            candidates = [i for i, w in enumerate(lowered) if w in starts_]
            pick_table = None
        else:  # ML-CS: a language is drawn for every token, then looked up
            candidates = range(n)
            pick_table = [self.tables[l] for l in langs]
        out, last, switched, covered, free = [], 0, 0, 0, 0
        for i in candidates:
            if i < free:
                continue
            if pick_table is not None:
                table = pick_table[rng.randrange(len(pick_table))]
            m, targets = match_at(i, table)
            if not targets:
                continue
            if p >= 1.0 or rng.random() < p:
                choice = targets[0] if top1 or len(targets) == 1 else targets[rng.randrange(len(targets))]
                out.append(text[last:starts[i]]); out.append(choice)
                last = ends[i + m - 1]
                switched += m; covered += m
                free = i + m
            else:
                covered += 1
        if not switched:
            return text, 0, n, covered
        out.append(text[last:])
        return "".join(out), switched, n, covered


_REGISTRY: dict[str, "CodeSwitcher"] = {}


class _BatchFn:
    """The `datasets.map` function. Under fork (Linux) it pickles as a registry key: workers inherit the
    switcher instead of receiving megabytes of lexicon through dill for every shard."""

    def __init__(self, switcher: CodeSwitcher, key: str, epoch: int | None = None):
        self.switcher, self.key, self.epoch = switcher, key, epoch

    def __reduce__(self):
        import multiprocess

        if multiprocess.get_start_method(allow_none=True) in (None, "fork") and self.key in _REGISTRY:
            return (_from_registry, (self.key, self.epoch))
        return (_BatchFn, (self.switcher, self.key, self.epoch))

    def __call__(self, batch):
        sw, epoch = self.switcher, self.epoch
        result = {k: [] for side in ("query", "passage") for k in (side, f"{side}_switched", f"{side}_content",
                                                                     f"{side}_covered")}
        for i, ex_id in enumerate(batch["id"]):
            for side in ("query", "passage"):
                text, n_sw, n_ct, n_cov = sw.switch_counts(batch[side][i], ex_id, side, epoch)
                result[side].append(text); result[f"{side}_switched"].append(n_sw)
                result[f"{side}_content"].append(n_ct); result[f"{side}_covered"].append(n_cov)
        return result


def _from_registry(key: str, epoch: int | None) -> _BatchFn:
    return _BatchFn(_REGISTRY[key], key, epoch)


def check_columns(ds: datasets.Dataset, source: str, required=("query", "passage")) -> None:
    missing = [c for c in required if c not in ds.column_names]
    if missing:
        raise CsirError(f"{source}: missing column(s) {', '.join(repr(c) for c in missing)} "
                        f"(have {', '.join(ds.column_names)})")


def codeswitch_dataset(ds: datasets.Dataset, switcher: CodeSwitcher, *, num_proc: int | None = None,
                       desc: str | None = None, source: str = "input") -> tuple[datasets.Dataset, datasets.Dataset, dict]:
    """Switch every row: returns (data with query, passage[, label], meta with id + per-row counts, stats)."""
    check_columns(ds, source)
    if "id" not in ds.column_names:
        ds = ds.add_column("id", [str(i) for i in range(len(ds))])
    elif ds.features["id"].dtype != "string":
        ds = ds.cast_column("id", datasets.Value("string"))
    keep = ["id", "query", "passage"] + (["label"] if "label" in ds.column_names else [])
    ds = ds.select_columns(keep)
    # an explicit fingerprint: datasets would otherwise hash the whole lexicon through dill (~20 s for FreeDict)
    fingerprint = hashlib.sha256(json.dumps([ds._fingerprint, switcher.config.to_dict(), switcher.lexicon_fingerprints],
                                            sort_keys=True).encode()).hexdigest()[:16]
    _REGISTRY[fingerprint] = switcher
    mapped = ds.map(_BatchFn(switcher, fingerprint), batched=True, batch_size=1000, num_proc=num_proc if num_proc and num_proc > 1 else None,
                    desc=desc or f"code-switching ({switcher.config.config_name()})", load_from_cache_file=False,
                    new_fingerprint=fingerprint)
    _REGISTRY.pop(fingerprint, None)
    data_cols = ["query", "passage"] + (["label"] if "label" in mapped.column_names else [])
    data = mapped.select_columns(data_cols)
    meta = mapped.select_columns(["id"] + [f"{side}_{k}" for side in ("query", "passage")
                                           for k in ("switched", "content", "covered")])
    stats = switch_statistics(meta)
    return data, meta, stats


def switch_statistics(meta: datasets.Dataset) -> dict:
    """Aggregate realised switch ratios: content tokens switched / content tokens, per side and overall."""
    def entry(sw, ct, cov):
        return {"switched": sw, "content_tokens": ct, "covered": cov, "ratio": round(sw / ct, 6) if ct else 0.0,
                "lexicon_coverage": round(cov / ct, 6) if ct else 0.0}

    out, totals = {}, [0, 0, 0]
    table = meta.with_format("arrow")[:]  # summed in Arrow: iterating a datasets Column goes row by row
    for side in ("query", "passage"):
        vals = [int(pc.sum(table[f"{side}_{k}"]).as_py() or 0) for k in ("switched", "content", "covered")]
        out[side] = entry(*vals)
        totals = [a + b for a, b in zip(totals, vals)]
    out["overall"] = entry(*totals)
    return out


class DynamicCodeSwitch:
    """A `set_transform` that re-samples the switching every epoch (call `set_epoch`)."""

    def __init__(self, switcher: CodeSwitcher, epoch: int = 0):
        self.switcher, self.epoch = switcher, epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, batch):
        if "id" not in batch:
            raise CsirError("dynamic code-switching needs an 'id' column")
        out = dict(batch)
        for side in ("query", "passage"):
            out[side] = [self.switcher.switch(t, i, side, self.epoch)[0] for t, i in zip(batch[side], batch["id"])]
        return out


def dynamic_codeswitch_transform(switcher: CodeSwitcher, epoch: int = 0) -> DynamicCodeSwitch:
    return DynamicCodeSwitch(switcher, epoch)
