"""DDTP: Debian's human-translated package descriptions, a real parallel query/passage corpus.

`Translation-<lang>` files (deb822) hold `Package`, `Description-md5` and `Description-<lang>`; the first
line of a description is the short summary (our query), the rest the long description (our passage).
`Description-md5` joins the languages.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from csir.errors import CsirError, where
from csir.textio import text_lines

FILE_RE = re.compile(r"Translation-([A-Za-z_%0-9]+?)(?:\.(gz|xz|lz4|bz2))?$")


@dataclass(frozen=True)
class DdtpEntry:
    package: str
    md5: str
    lang: str
    short: str
    long: str


def normalize_lang(code: str) -> str:
    """`pt%5fBR` / `pt_BR` → `pt_BR`; bare codes lower-case."""
    return code.replace("%5f", "_").replace("%5F", "_")


def find_translation_files(directory: str | os.PathLike) -> dict[str, list[Path]]:
    """Map language → Translation files (main suite first, then updates/security) under `directory`."""
    d = Path(directory)
    if not d.is_dir():
        raise CsirError(f"{d}: DDTP directory not found")
    out: dict[str, list[Path]] = {}
    for p in sorted(d.iterdir()):
        m = FILE_RE.search(p.name)
        if m and p.is_file() and m.group(2) in (None, "gz", "xz"):
            out.setdefault(normalize_lang(m.group(1)), []).append(p)
    for files in out.values():  # the main suite (largest) first; later files fill gaps
        files.sort(key=lambda p: (-p.stat().st_size, p.name))
    if not out:
        raise CsirError(f"{d}: no Translation-<lang> files (fetch them with apt-get, see README)")
    return out


def _description_text(lines: list[str]) -> str:
    paras, cur = [], []
    for raw in lines:
        line = raw[1:] if raw.startswith(" ") else raw
        if line.strip() == ".":
            paras.append(" ".join(cur))
            cur = []
        else:
            cur.append(line.strip())
    if cur:
        paras.append(" ".join(cur))
    return "\n".join(p for p in paras if p)


def parse_translation_file(path: str | os.PathLike, lang: str | None = None) -> Iterator[DdtpEntry]:
    """Stream the entries of one `Translation-<lang>` file."""
    path = Path(path)
    if lang is None:
        m = FILE_RE.search(path.name)
        if not m:
            raise CsirError(f"{path}: cannot tell the language from the file name (expected Translation-<lang>)")
        lang = normalize_lang(m.group(1))
    fields: dict[str, str] = {}
    desc_key = None
    desc_lines: list[str] = []
    start = 1

    def flush(lineno):
        if not fields:
            return None
        key = next((k for k in fields if k.startswith("Description-") and k != "Description-md5"), None)
        if "Description-md5" not in fields or key is None:
            raise CsirError(f"{where(path, lineno, 'Description-md5' if 'Description-md5' not in fields else 'Description-<lang>')}"
                            " missing in this record")
        return DdtpEntry(fields.get("Package", ""), fields["Description-md5"], lang, fields[key].strip(),
                         _description_text(desc_lines))

    for lineno, line in text_lines(path, "DDTP translations"):  # each line decoded on its own: a bad byte names its line
        if not line.strip(" \t\r"):
            entry = flush(start)
            if entry:
                yield entry
            fields, desc_key, desc_lines, start = {}, None, [], lineno + 1
            continue
        if line.startswith((" ", "\t")):
            if desc_key is None:
                raise CsirError(f"{where(path, lineno)}: continuation line outside a description")
            desc_lines.append(line)
            continue
        if ":" not in line:
            raise CsirError(f"{where(path, lineno)}: expected 'Field: value'")
        key, value = line.split(":", 1)
        fields[key] = value.strip()
        desc_key = key if key.startswith("Description-") and key != "Description-md5" else None
    entry = flush(start)
    if entry:
        yield entry


def load_ddtp(directory: str | os.PathLike, langs: Iterable[str]) -> dict[str, dict[str, DdtpEntry]]:
    """{lang: {md5: entry}} for the requested languages; first file wins on duplicate md5s."""
    files = find_translation_files(directory)
    out = {}
    for lang in langs:
        if lang not in files:
            raise CsirError(f"{directory}: no Translation-{lang} file; have {', '.join(sorted(files))}")
        table: dict[str, DdtpEntry] = {}
        for f in files[lang]:
            for e in parse_translation_file(f, lang):
                if e.long and e.short:
                    table.setdefault(e.md5, e)
        out[lang] = table
    return out


def is_heldout(md5: str, heldout_percent: int = 10, salt: str = "csir-ddtp-split-v1") -> bool:
    """Stable package split: the same md5 is held out on every machine and in every run."""
    digest = hashlib.sha256(f"{salt}:{md5}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < heldout_percent


FAMILY_PREFIXES = ("python3-", "python-", "golang-github-", "golang-", "node-", "r-cran-", "r-bioc-", "ruby-",
                   "php-", "lib")
FAMILY_SUFFIXES = ("-dev", "-doc", "-docs", "-dbg", "-data", "-common", "-bin", "-utils", "-tools", "-examples",
                   "-perl", "-java", "-plugins", "-runtime", "-prof", "-tests", "-static")


def package_family(package: str) -> str:
    """The package's family: its name without language/library prefixes, split-package suffixes and soname
    version (`libfoo2`, `libfoo-dev`, `foo-doc`, `python3-foo` -> `foo`). DDTP lists binary packages only, so
    this stands in for the source package; siblings share (near-)identical long descriptions."""
    name = package.lower()
    for prefix in FAMILY_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
            break
    changed = True
    while changed:
        changed = False
        for suffix in FAMILY_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[:-len(suffix)], True
    return re.sub(r"[-.+~0-9]+$", "", name) or package.lower()


def ddtp_training_pairs(directory: str | os.PathLike, *, query_lang: str = "en", passage_lang: str = "en",
                        negatives: int = 4, seed: int = 0, limit: int | None = None, heldout_percent: int = 10,
                        negatives_from: str = "random", negative_pool: str = "queries",
                        near_duplicate_words: int | None = None, exclude_queries: frozenset[str] = frozenset()):
    """Training pairs from the non-held-out packages (query = short, passage = long description).

    query_lang/passage_lang other than `en` give translate-train data (human translations). Negatives are drawn
    (`negatives_from`: random or BM25-ranked, see `build_pairs`) from the selected packages' passages, or with
    `negative_pool="all"` from every usable non-held-out package (the full pool, however few queries `limit`
    keeps). `near_duplicate_words=N` drops negatives of the positive's package family or whose first N words are
    near-identical to it. `exclude_queries` (package md5s, e.g. a development set's) are never queries; their
    passages stay in the negative pool, as in the code-switched data. The defaults reproduce data built before
    these options byte for byte.
    """
    from builders.sources.pairs import build_pairs

    if negative_pool not in ("queries", "all"):
        raise ValueError(f"negative_pool: expected 'queries' or 'all', got '{negative_pool}'")
    tables = load_ddtp(directory, sorted({query_lang, passage_lang}))
    q_table, p_table = tables[query_lang], tables[passage_lang]
    usable = sorted(m for m in q_table if m in p_table and not is_heldout(m, heldout_percent))
    md5s = [m for m in usable if m not in exclude_queries]
    if limit is not None:
        md5s = sorted(md5s, key=lambda m: hashlib.sha256(f"{seed}:{m}".encode()).hexdigest())[:limit]
        md5s.sort()
    pool = usable if negative_pool == "all" else md5s
    index = {m: i for i, m in enumerate(pool)}
    groups = [package_family(p_table[m].package) for m in pool] if near_duplicate_words is not None else None
    return build_pairs(md5s, [q_table[m].short for m in md5s], [p_table[m].long for m in pool],
                       negatives=negatives, seed=seed, negatives_from=negatives_from, lang=passage_lang,
                       positives=[index[m] for m in md5s] if negative_pool == "all" else None,
                       passage_ids=pool if negative_pool == "all" else None, passage_groups=groups,
                       near_duplicate_words=near_duplicate_words)
