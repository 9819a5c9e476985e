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

import gc
import hashlib
import json
import re
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from itertools import accumulate, chain, compress, count, islice, repeat
from operator import and_, gt, itemgetter, ne, or_, truth
from typing import Mapping

import datasets
import pyarrow.compute as pc

from builders.lexicons.base import Lexicon
from builders.sources.pairs import rng_for, seed_for
from csir.errors import CsirError

try:  # the compiled inner loop of BL-CS top-1 (setup.py builds it when a C compiler is there); same output
    from builders import _cswitch
except ImportError:  # pragma: no cover - depends on the install
    _cswitch = None

VARIANTS = ("zero-shot", "bl-cs", "ml-cs", "wiki-cs")
# Treebank-style word tokens: hyphenated words stay whole ("well-known"); clitics split off as Treebank does
# ("don't" -> "do" "n't", "dog's" -> "dog" "'s"). Clitics and numbers are not content tokens.
WORD_RE = re.compile(r"[^\W_]+?(?=[nN]['’][tT]\b)|[nN]['’][tT]\b|['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL)\b|[^\W_]+(?:-[^\W_]+)*")


_FAST_RE = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")


def is_content(token: str) -> bool:
    return token[0].isalnum() and token.lower() not in ("n't", "n’t") and not token.replace("-", "").isdigit()


def _clitics(span: str) -> list[tuple[int, int, str]]:
    """Content tokens of one _FAST_RE span with an apostrophe, split the Treebank way: (start, end, lower-cased)."""
    return [(m.start(), m.end(), m.group().lower()) for m in WORD_RE.finditer(span) if is_content(m.group())]


def _seed_of(key: tuple) -> int:
    return seed_for(*key)


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


_NO_CHILDREN: dict = {}  # shared and never written: "no entry goes on from here"
_MISS = (None, _NO_CHILDREN)
_MISS_HEAD = (None, None)
_NOT_COMPILED = object()


class _Table:
    """A lexicon prepared for matching, so that a token costs one dict lookup and a phrase one per word matched.

    `single[word]` = targets of one-word entries; `pairs[(w1, w2)]` = the trie node of every multi-word entry's
    first two words: `(targets or None, children)`, `children` mapping the next word to such a node."""

    def __init__(self, lexicon: Lexicon):
        single: dict[str, list[str]] = {}
        pairs: dict[tuple[str, str], tuple] = {}
        for key, entry in lexicon.entries.items():
            if not entry:
                continue
            targets = [t for t, _ in entry]
            words = key.split(" ")
            if len(words) == 1:
                single[key] = targets
                continue
            level, at = pairs, (words[0], words[1])
            for word in words[2:]:
                tg, children = level.get(at, _MISS)
                if children is _NO_CHILDREN:
                    children = {}
                    level[at] = (tg, children)
                level, at = children, word
            level[at] = (targets, level.get(at, _MISS)[1])
        self.single, self.pairs = single, pairs
        self._heads = None

    def heads(self) -> dict[str, tuple]:
        """The compiled loop's form: word -> (single[word] or None, {second word: pairs[(word, second)]} or None).
        Made once, before datasets forks its workers, which inherit it."""
        if self._heads is None:
            heads = {w: (t, None) for w, t in self.single.items()}
            for (w1, w2), node in self.pairs.items():
                targets, seconds = heads.get(w1, _MISS_HEAD)
                if seconds is None:
                    seconds = {}
                    heads[w1] = (targets, seconds)
                seconds[w2] = node
            self._heads = heads
        return self._heads


_ASCII_DIGIT = re.compile(r"[0-9]")
_SPLIT_RE = re.compile(r"([^\W_]+(?:[-'’][^\W_]+)*)")  # _FAST_RE as a split: gaps and tokens alternate
_FIRST = itemgetter(0)


def query_group(example_id):
    """The query an example belongs to: `ID` for `ID`, `ID#neg0`, `ID#neg1`... (the id convention of every pair
    builder here). The query side is switched once per group, as the paper switches a (query, positive, negative)
    triple's query once: switched per row, a query's negatives would carry other queries than its positive, and
    trainers that group rows by query (the 1:k ratio, listwise groups, hard negatives) would lose them."""
    return example_id.split("#", 1)[0] if isinstance(example_id, str) else example_id


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
        # sides the compiled loop does: BL-CS top-1 (the lexicon's heads), or not switched (None: only counted);
        # ML-CS, sampled translations and NLTK tokens stay in Python
        self._compiled_sides = {}
        if config.tokenizer == "fast" and _cswitch is not None:
            for side, langs in self.side_langs.items():
                if not langs:
                    self._compiled_sides[side] = None
                elif len(langs) == 1 and config.translation == "top1":
                    self._compiled_sides[side] = self.tables[langs[0]].heads()

    def _tokens(self, text: str) -> tuple[list[int], list[int], list[str]]:
        """Content tokens of `text`: start offsets, end offsets, lower-cased forms."""
        if self._treebank is not None:
            starts, ends, lowered = [], [], []
            for s, e in self._treebank.span_tokenize(text):
                if is_content(text[s:e]):
                    starts.append(s); ends.append(e); lowered.append(text[s:e].lower())
            return starts, ends, lowered
        low = text.lower()
        if len(low) == len(text) and "'" not in low and "’" not in low:
            # the common case without a Python step per token: one split of the lower-cased text (lowering keeps
            # every character's class, checked over all of Unicode in the tests), offsets by accumulation
            parts = _SPLIT_RE.split(low)
            pos = list(accumulate(map(len, parts)))
            lowered, starts, ends = parts[1::2], pos[0:-1:2], pos[1::2]
            if not low.isascii() or _ASCII_DIGIT.search(low):  # numbers are not content tokens
                digit_first = list(map(str.isdigit, map(_FIRST, lowered)))
                drop = {i for i in compress(range(len(lowered)), digit_first) if lowered[i].replace("-", "").isdigit()}
                if drop:
                    keep = [i for i in range(len(lowered)) if i not in drop]
                    lowered = [lowered[i] for i in keep]
                    starts, ends = [starts[i] for i in keep], [ends[i] for i in keep]
            return starts, ends, lowered
        starts, ends, lowered = [], [], []
        add_s, add_e, add_w = starts.append, ends.append, lowered.append
        same_len = len(low) == len(text)  # lower() can change lengths (e.g. 'İ'): then lower per token
        for m in _FAST_RE.finditer(text):
            s, e = m.span()
            tok = low[s:e] if same_len else m.group().lower()
            if "'" in tok or "’" in tok:  # split clitics the Treebank way
                for sm in WORD_RE.finditer(m.group()):
                    if is_content(sm.group()):
                        add_s(s + sm.start()); add_e(s + sm.end()); add_w(sm.group().lower())
            elif not (tok[0].isdigit() and tok.replace("-", "").isdigit()):
                add_s(s); add_e(e); add_w(tok)
        return starts, ends, lowered

    def switch_column(self, texts: list[str], example_ids: list, side: str, epoch: int | None = None) -> list[tuple]:
        """`switch_counts` of every row of one side. With the compiled loop the rows go through C-level maps (no
        Python frame per row); a row whose lower-casing changes its length takes the Python path."""
        heads = self._compiled_sides.get(side, _NOT_COMPILED)
        if heads is _NOT_COMPILED:
            return list(map(self.switch_counts, texts, example_ids, repeat(side), repeat(epoch)))
        lows = list(map(str.lower, texts))
        cfg = self.config
        if side == "query":
            example_ids = list(map(query_group, example_ids))
        keys = (zip(repeat(cfg.seed), example_ids, repeat(side)) if epoch is None else
                zip(repeat(cfg.seed), example_ids, repeat(side), repeat(epoch)))
        if any(map(ne, map(len, texts), map(len, lows))):  # e.g. 'İ' -> 'i̇': tokens by the Python path
            return [self.switch_counts(t, i, side, epoch) for t, i in zip(texts, example_ids)]
        return list(map(_cswitch.top1, texts, lows, repeat(heads), repeat(cfg.p), keys, repeat(_seed_of), repeat(_clitics)))

    def switch(self, text: str, example_id, side: str, epoch: int | None = None) -> tuple[str, int, int]:
        """Return (switched text, content tokens switched, content tokens)."""
        return self.switch_counts(text, example_id, side, epoch)[:3]

    def switch_counts(self, text: str, example_id, side: str, epoch: int | None = None) -> tuple[str, int, int, int]:
        """Return (switched text, switched, content tokens, content tokens the lexicon covered).

        Going left to right, each token that begins a match (the longest entry, its words separated by
        whitespace only) is switched with probability p: one draw per match, then for `sample` one draw for the
        translation; ML-CS first draws the token's language. A switched match skips the tokens it covers."""
        if side == "query":  # one switched query per training query: its positive and `#negK` rows share it
            example_id = query_group(example_id)
        key = (self.config.seed, example_id, side) if epoch is None else (self.config.seed, example_id, side, epoch)
        if side in self._compiled_sides:  # only filled when the compiled loop is installed
            low = text.lower()
            if len(low) == len(text):
                return _cswitch.top1(text, low, self._compiled_sides[side], self.config.p, key, _seed_of, _clitics)
        starts, ends, lowered = self._tokens(text)
        n = len(lowered)
        langs = self.side_langs[side]
        cfg = self.config
        if not langs or not n or cfg.p == 0.0:
            return text, 0, n, 0
        if len(langs) == 1 and cfg.translation == "top1":
            return self._switch_top1(text, starts, ends, lowered, self.tables[langs[0]], key)
        return self._switch_drawing(text, starts, ends, lowered, [self.tables[l] for l in langs], key)

    @staticmethod
    def _longest(text, starts, ends, lowered, i, targets, node):
        """(length, targets) of the longest entry at token i, given the trie node of tokens i and i+1: the words
        of an entry must be separated by whitespace only (not across punctuation)."""
        m, j, n = 1, i + 1, len(lowered)
        while True:
            gap = text[ends[j - 1]:starts[j]]
            if gap and not gap.isspace():
                break
            if node[0] is not None:
                targets, m = node[0], j - i + 1
            j += 1
            if j >= n:
                break
            node = node[1].get(lowered[j])
            if node is None:
                break
        return m, targets

    def _switch_top1(self, text, starts, ends, lowered, table, key):
        """BL-CS with the top translation (the paper's setting) without a Python step per token.

        Matches do not depend on the draws, so they are found first: single tokens and token pairs in C-level
        passes, a trie walk only where a pair begins an entry. The draws (one per visited match, in order) are
        taken in one go; only a switched phrase changes which matches come next (it covers them), so the
        matches are consumed in runs that end at a switched phrase."""
        n = len(lowered)
        p = self.config.p
        targets = list(map(table.single.get, lowered))
        span = None
        if n > 1:
            cont = list(map(table.pairs.get, zip(lowered, lowered[1:])))  # cont[i]: an entry spans tokens i, i+1
            if any(cont):
                span = [1] * n
                longest = self._longest
                for i in compress(range(n - 1), cont):
                    node = cont[i]
                    if node[0] is None and (i + 2 >= n or lowered[i + 2] not in node[1]):
                        continue  # only a prefix of longer entries, which the next token does not continue
                    m, tg = longest(text, starts, ends, lowered, i, targets[i], node)
                    if m > 1:
                        span[i], targets[i] = m, tg
        at = list(compress(range(n), targets))  # the tokens where a match begins
        k_all = len(at)
        if not k_all:
            return text, 0, n, 0
        switch = repeat(True, k_all) if p >= 1.0 else map(p.__gt__, islice(iter(rng_for(*key).random, None), k_all))
        spans = None if span is None else list(map(span.__getitem__, at))
        if spans is None or max(spans) == 1:  # no phrase: every match is visited, one draw each
            first = last_ = list(compress(at, switch))
            covered = k_all
        else:
            switch = list(switch)
            phrase = list(map(gt, spans, repeat(1)))
            first, last_, covered, k, d = [], [], 0, 0, 0
            while k < k_all:
                rest = switch[d:d + k_all - k]
                stop = next(compress(count(), map(and_, rest, phrase[k:])), None)  # the next switched phrase
                if stop is None:
                    run = list(compress(at[k:], rest))
                    first += run; last_ += run; covered += k_all - k
                    break
                run = list(compress(at[k:k + stop], rest[:stop]))
                first += run; last_ += run
                i, m = at[k + stop], spans[k + stop]
                first.append(i); last_.append(i + m - 1)
                covered += stop + m
                d += stop + 1
                k = bisect_left(at, i + m, k + stop + 1)  # the matches it covers get no draw
        if not first:
            return text, 0, n, covered
        bounds = list(map(ends.__getitem__, last_))
        gaps = list(map(text.__getitem__, map(slice, [0, *bounds], [*map(starts.__getitem__, first), len(text)])))
        choices = map(_FIRST, map(targets.__getitem__, first))
        switched = len(first) + sum(last_) - sum(first)
        return "".join(chain.from_iterable(zip(gaps, choices))) + gaps[-1], switched, n, covered

    def _switch_drawing(self, text, starts, ends, lowered, tables, key):
        """ML-CS and sampled translations: draws interleave with the matching, one token at a time."""
        n = len(lowered)
        p, top1 = self.config.p, self.config.translation == "top1"
        rng = rng_for(*key)
        nexts = lowered[1:] + [None]
        if len(tables) == 1:  # only tokens that can begin a match need a look (and a draw)
            table = tables[0]
            singles = list(map(table.single.get, lowered))
            conts = list(map(table.pairs.get, zip(lowered, nexts)))
            candidates = list(compress(range(n), map(or_, map(truth, singles), map(truth, conts))))
        else:
            candidates = range(n)
        out, last, switched, covered, free = [], 0, 0, 0, 0
        for i in candidates:
            if i < free:
                continue
            if len(tables) == 1:
                targets, node = singles[i], conts[i]
            else:  # ML-CS: a language is drawn for every token, then looked up
                table = tables[rng.randrange(len(tables))]
                targets, node = table.single.get(lowered[i]), table.pairs.get((lowered[i], nexts[i]))
            m = 1
            if node is not None:
                m, targets = self._longest(text, starts, ends, lowered, i, targets, node)
            if targets is None:
                continue
            if p < 1.0 and rng.random() >= p:
                covered += 1
                continue
            choice = targets[0] if top1 or len(targets) == 1 else targets[rng.randrange(len(targets))]
            out.append(text[last:starts[i]]); out.append(choice)
            last = ends[i + m - 1]
            switched += m; covered += m
            free = i + m
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
        """A side at a time, one C-level map each: every (id, side) has its own RNG, so the order is free."""
        ids, result = batch["id"], {}
        for side in ("query", "passage"):
            rows = self.switcher.switch_column(batch[side], ids, side, self.epoch)
            cols = zip(*rows) if rows else ((), (), (), ())
            for name, col in zip((side, f"{side}_switched", f"{side}_content", f"{side}_covered"), cols):
                result[name] = list(col)
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
    workers = num_proc if num_proc and num_proc > 1 else None
    thaw = workers and not gc.get_freeze_count()  # leave a caller's own gc.freeze() as it is
    if workers:  # forked workers then leave the lexicon's objects alone (gc passes write to every object they visit)
        gc.freeze()
    try:
        mapped = ds.map(_BatchFn(switcher, fingerprint), batched=True, batch_size=1000, num_proc=workers,
                        desc=desc or f"code-switching ({switcher.config.config_name()})", load_from_cache_file=False,
                        new_fingerprint=fingerprint)
    finally:
        _REGISTRY.pop(fingerprint, None)
        if thaw:
            gc.unfreeze()
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
