"""Dictionary lexicons: MUSE text (`src tgt`), Ding (`trans-de-en`), FreeDict dictd (`.index` + `.dict.dz`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from builders.lexicons.base import Lexicon, read_pair_file
from csir.errors import CsirError, where
from csir.textio import read_compressed, text_lines

_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/]*/")
_SPACE = re.compile(r"\s+")
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_NON_TRANSLATION = ('"', "Synonym", "see:", "Note:", "Antonym", "Example", "Usage", "Syn:", "Ant:")
_SENSE = re.compile(r"^\d+\.\s+")
_DOMAIN = re.compile(r"\[[^\]]*\.\]")


def _clean(term: str) -> str:
    term = _SPACE.sub(" ", _ANNOTATION.sub(" ", term)).strip(" ,;:/")
    return term


def read_muse(path, src, tgt, **kw) -> Lexicon:
    return read_pair_file(path, src, tgt, **kw)


# ---------------------------------------------------------------- Ding
def _ding_pairs(path: Path, source_left: bool) -> Iterator[tuple[str, str, float]]:
    for lineno, line in text_lines(path, "Ding dictionary"):  # every line decoded on its own: errors name the line
        if not line.strip() or line.startswith("#"):
            continue
        if " :: " not in line:
            raise CsirError(f"{where(path, lineno)}: expected 'left :: right' (Ding format)")
        left, right = line.split(" :: ", 1)
        lsubs, rsubs = left.split(" | "), right.split(" | ")
        if len(lsubs) != len(rsubs):  # misaligned sub-entries: keep the headword pair only
            lsubs, rsubs = lsubs[:1], rsubs[:1]
        for i, (ls, rs) in enumerate(zip(lsubs, rsubs)):
            lsyn = [t for t in (_clean(x) for x in _ANNOTATION.sub(" ", ls).split(";")) if t]
            rsyn = [t for t in (_clean(x) for x in _ANNOTATION.sub(" ", rs).split(";")) if t]
            if not lsyn or not rsyn:
                continue
            src_terms, tgt_terms = (lsyn, rsyn) if source_left else (rsyn, lsyn)
            weight = (1.0 if i == 0 else 0.5) / (len(src_terms) * len(tgt_terms))
            for s in src_terms:
                s = s[3:] if s.startswith("to ") and len(s) > 3 else s  # English verbs: "to run" -> "run"
                for t in tgt_terms:
                    t = t[3:] if t.startswith("to ") and len(t) > 3 else t
                    yield s, t, weight


def read_ding(path, src, tgt, *, left_lang: str = "de", max_per_source: int | None = 10) -> Lexicon:
    """Ding `left :: right` lines; `|` aligns sub-entries, `;` separates synonyms.

    A pair's score sums, over every line it appears in, 1/(#synonyms on each side), halved for inflected
    sub-entries: frequent and specific translations rank first.
    """
    path = Path(path)
    if not path.is_file():
        raise CsirError(f"{path}: Ding file not found")
    if src != left_lang and tgt != left_lang:
        raise CsirError(f"{path}: left side is '{left_lang}' (--left-lang) but the pair is {src}-{tgt}")
    scores: dict[tuple[str, str], float] = {}
    for s, t, w in _ding_pairs(path, source_left=(src == left_lang)):
        scores[(s, t)] = scores.get((s, t), 0.0) + w
    if not scores:
        raise CsirError(f"{path}: empty dictionary")
    return Lexicon.from_pairs(((s, t, sc) for (s, t), sc in scores.items()), src, tgt,
                              max_per_source=max_per_source, name=str(path))


# ---------------------------------------------------------------- FreeDict (dictd)
def _b64(value: str) -> int:
    n = 0
    for ch in value:
        n = n * 64 + _B64[ch]
    return n


def _freedict_entry(headword: str, body: str) -> list[tuple[str, float]]:
    lines = body.split("\n")[1:]
    examples = sum(1 for l in lines if l.strip().startswith('"'))
    out = []
    pos = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(_NON_TRANSLATION):
            continue
        sense = 1
        m = _SENSE.match(line)
        if m:
            sense = int(m.group().strip(" .")[:6])  # a 5,000-digit "sense number" is not one
            line = line[m.end():]
        base = 1.0 + 0.5 * min(examples, 3) - (1.0 if _DOMAIN.search(line) else 0.0) - 0.1 * (sense - 1)
        for term in re.split(r"[,;]\s+", _ANNOTATION.sub(" ", line)):
            term = _clean(term)
            if term and term.lower() != headword.lower():
                out.append((term, base - 0.01 * pos))
                pos += 1
    return out


def read_freedict(path, src, tgt, *, max_per_source: int | None = 10) -> Lexicon:
    """dictd `.index` (headword, base64 offset, base64 length) + `.dict.dz`/`.dict` (gzip-compatible dictzip).

    `path` is the `.index` file or the common prefix. Senses with usage examples rank higher; domain-tagged
    senses (`[techn.]`) lower.
    """
    path = Path(path)
    index = path if path.suffix == ".index" else path.with_name(path.name + ".index")
    base = index.with_suffix("")
    data_path = next((p for p in (base.with_suffix(".dict.dz"), base.with_suffix(".dict")) if p.exists()), None)
    if not index.exists() or data_path is None:
        raise CsirError(f"{path}: need {index.name} and {base.name}.dict.dz (FreeDict dictd files)")
    if data_path.suffix == ".dz":
        data = read_compressed(data_path, "dictzip data")
    else:
        try:
            data = data_path.read_bytes()
        except OSError as exc:
            raise CsirError(f"{data_path}: cannot read ({exc.strerror})") from None
    pairs = []
    for lineno, line in text_lines(index, "dictd index", gz=False):
        parts = line.split("\t")
        if len(parts) != 3:
            raise CsirError(f"{where(index, lineno)}: expected 'headword<TAB>offset<TAB>length'")
        word, off, length = parts
        if word.startswith("00database") or word.startswith("00-database"):
            continue
        try:
            start, size = _b64(off), _b64(length)
        except KeyError:
            raise CsirError(f"{where(index, lineno)}: bad base64 offset/length") from None
        body = data[start:start + size].decode("utf-8", errors="replace")
        headword = body.split("\n", 1)[0].split(" /", 1)[0].strip() or word
        for term, score in _freedict_entry(headword, body):
            pairs.append((headword, term, score))
    if not pairs:
        raise CsirError(f"{index}: no entries")
    return Lexicon.from_pairs(pairs, src, tgt, max_per_source=max_per_source, name=str(index))


FORMATS = {"muse": read_muse, "ding": read_ding, "freedict": read_freedict}


def read_dictionary(fmt: str, path: str | os.PathLike, src: str, tgt: str, **kw) -> Lexicon:
    if fmt not in FORMATS:
        raise CsirError(f"--format: unknown dictionary format '{fmt}' (choose from {', '.join(FORMATS)})")
    return FORMATS[fmt](path, src, tgt, **kw)
