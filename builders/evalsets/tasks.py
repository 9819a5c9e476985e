"""Names of evaluation subsets: language pairs <-> MTEB subset names, and the CLIR/MLIR/MoIR setups.

A pair `de-en` means German queries, English passages; its MTEB subset is `deu-eng`. MLIR subsets are
`mlir-deu` (German queries against a collection whose passages are each in a uniformly sampled language).
"""

from __future__ import annotations

from dataclasses import dataclass

from csir.errors import CsirError
from csir.langs import ISO_639_3_TO_1, check_lang, to_iso3

SETUPS = ("clir", "mlir", "moir")


@dataclass(frozen=True)
class Pair:
    query_lang: str          # ISO 639-1, e.g. "de"
    passage_lang: str        # ISO 639-1, or "mlir" for the mixed-language collection

    @property
    def setup(self) -> str:
        if self.passage_lang == "mlir":
            return "mlir"
        return "moir" if self.query_lang == self.passage_lang else "clir"

    @property
    def subset(self) -> str:
        if self.passage_lang == "mlir":
            return f"mlir-{to_iso3(self.query_lang)}"
        return f"{to_iso3(self.query_lang)}-{to_iso3(self.passage_lang)}"

    @property
    def name(self) -> str:
        return f"{self.query_lang}-{self.passage_lang}"


def parse_pair(text: str, field: str = "--pairs") -> Pair:
    """`de-en` / `deu-eng` / `de-mlir` / `mlir-deu` -> Pair; anything else is a CsirError naming the field."""
    parts = text.strip().split("-")
    if len(parts) != 2 or not all(parts):
        raise CsirError(f"{field}: '{text}' is not a language pair like de-en (query-passage) or de-mlir")
    a, b = parts
    if a == "mlir":
        a, b = b, a
    try:
        q = check_lang(a, field)
        p = "mlir" if b == "mlir" else check_lang(b, field)
    except CsirError:
        raise CsirError(f"{field}: unknown language pair '{text}' (use ISO codes, e.g. de-en, en-de, de-de, de-mlir)") from None
    return Pair(q, p)


def pair_from_subset(subset: str) -> Pair | None:
    """`deu-eng` -> Pair('de', 'en'); None when the subset name is not a language pair."""
    a, _, b = subset.partition("-")
    if a == "mlir" and b in ISO_639_3_TO_1:
        return Pair(ISO_639_3_TO_1[b], "mlir")
    if a in ISO_639_3_TO_1 and b in ISO_639_3_TO_1:
        return Pair(ISO_639_3_TO_1[a], ISO_639_3_TO_1[b])
    return None


def resolve_subset(name: str, available: list[str]) -> str | None:
    """The dataset's own name for subset `name`: itself, or the same language in the other ISO 639 form
    (`deu` -> `de` in sets named like XM3600 or Multi30K, `de` -> `deu` in ours; `i2t-` prefixes kept)."""
    if name in available:
        return name
    prefix, lang = ("i2t-", name[4:]) if name.startswith("i2t-") else ("", name)
    if not lang.isalpha():  # a pair (deu-eng) or a region (pt_BR) is never renamed
        return None
    try:
        code = check_lang(lang)
    except CsirError:
        return None
    for cand in (code, to_iso3(code)):
        if prefix + cand in available:
            return prefix + cand
    return None


def default_pairs(langs: list[str], setups=SETUPS, pivot: str = "en") -> list[Pair]:
    """X-en, en-X (CLIR), X-X (MoIR) and X-mlir (MLIR) for every language X in `langs`."""
    out: list[Pair] = []
    for x in langs:
        if "clir" in setups and x != pivot:
            out += [Pair(x, pivot), Pair(pivot, x)]
        if "moir" in setups:
            out.append(Pair(x, x))
        if "mlir" in setups and len(langs) > 1:
            out.append(Pair(x, "mlir"))
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def filter_setups(pairs: list[Pair], setups) -> list[Pair]:
    bad = [s for s in setups if s not in SETUPS]
    if bad:
        raise CsirError(f"--setup: unknown setup '{bad[0]}' (choose from {', '.join(SETUPS)})")
    return [p for p in pairs if p.setup in setups]
