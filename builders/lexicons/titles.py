"""Parallel-title lexicons: a two-column TSV, or Wikipedia `page` + `langlinks` SQL dumps (streamed).

In an `{src}wiki` dump, `langlinks` rows are (ll_from page_id, ll_lang, ll_title) and `page` rows start
(page_id, page_namespace, page_title, ...): joining them on page_id gives src-title -> tgt-title pairs.
INSERT statements are parsed line by line; a whole dump never sits in memory.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Iterator

from builders.lexicons.base import Lexicon
from csir.errors import CsirError, where

_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}
_PAREN = re.compile(r"\s*\([^)]*\)$")


def read_titles_tsv(path, src, tgt, *, strip_disambiguation: bool = True) -> Lexicon:
    path = Path(path)
    pairs = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise CsirError(f"{where(path, lineno)}: expected 'source title<TAB>target title'")
            pairs.append(_title_pair(parts[0], parts[1], strip_disambiguation))
    if not pairs:
        raise CsirError(f"{path}: empty titles file")
    return Lexicon.from_pairs(pairs, src, tgt, max_per_source=1, name=str(path))


def _title_pair(s: str, t: str, strip: bool) -> tuple[str, str, float]:
    s, t = s.replace("_", " ").strip(), t.replace("_", " ").strip()
    if strip:
        s, t = _PAREN.sub("", s), _PAREN.sub("", t)
    return s, t, 1.0


def _open_text(path: Path):
    if not path.exists():
        raise CsirError(f"{path}: file not found")
    return gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.suffix == ".gz" else \
        open(path, encoding="utf-8", errors="replace")


def iter_sql_rows(path: str | os.PathLike, table: str) -> Iterator[tuple]:
    """Rows of `INSERT INTO `table` VALUES (...),(...);` statements, one statement (line) at a time."""
    path = Path(path)
    prefix = f"INSERT INTO `{table}` VALUES "
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.startswith(prefix):
                continue
            try:
                yield from _parse_values(line, len(prefix))
            except ValueError as exc:
                raise CsirError(f"{where(path, lineno)}: malformed INSERT statement ({exc})") from None
            except IndexError:  # the statement ends inside a row or a quoted string (a truncated dump)
                raise CsirError(f"{where(path, lineno)}: malformed INSERT statement (ends inside a row)") from None


def _parse_values(s: str, i: int) -> Iterator[tuple]:
    n = len(s)
    while i < n:
        if s[i] != "(":
            raise ValueError(f"expected '(' at column {i}")
        i += 1
        row = []
        while True:
            if s[i] == "'":
                i += 1
                buf = []
                while True:
                    c = s[i]
                    if c == "\\":
                        buf.append(_ESCAPES.get(s[i + 1], s[i + 1]))
                        i += 2
                    elif c == "'":
                        if s[i + 1] == "'":
                            buf.append("'"); i += 2
                        else:
                            i += 1
                            break
                    else:
                        j = i
                        while s[j] not in "\\'":
                            j += 1
                        buf.append(s[i:j]); i = j
                row.append("".join(buf))
            else:
                j = i
                while s[j] not in ",)":
                    j += 1
                tok = s[i:j]
                row.append(None if tok == "NULL" else (int(tok) if tok.lstrip("-").isdigit() else tok))
                i = j
            if s[i] == ",":
                i += 1
                continue
            if s[i] == ")":
                i += 1
                break
            raise ValueError(f"unexpected {s[i]!r} at column {i}")
        yield tuple(row)
        if i < n and s[i] == ",":
            i += 1
        elif i < n and s[i] == ";":
            return
        elif i >= n or s[i] in "\r\n":
            return


def read_wikipedia_dumps(page_sql, langlinks_sql, src, tgt, *, strip_disambiguation: bool = True,
                         namespace: int = 0) -> Lexicon:
    """Titles of `{src}wiki` articles (namespace 0) joined with their `tgt` interlanguage link."""
    links: dict[int, str] = {}
    for row in iter_sql_rows(langlinks_sql, "langlinks"):
        if len(row) >= 3 and row[1] == tgt and row[2]:
            links[int(row[0])] = row[2]
    if not links:
        raise CsirError(f"{langlinks_sql}: no langlinks rows for language '{tgt}'")
    pairs = []
    for row in iter_sql_rows(page_sql, "page"):
        if len(row) >= 3 and row[1] == namespace and row[0] in links:
            pairs.append(_title_pair(str(row[2]), links[row[0]], strip_disambiguation))
    if not pairs:
        raise CsirError(f"{page_sql}: no namespace-{namespace} pages matched the langlinks")
    return Lexicon.from_pairs(pairs, src, tgt, max_per_source=1, name=f"wikipedia:{page_sql}+{langlinks_sql}")
