"""Country flags (npm `svg-country-flags`, PNG renders, public domain) named by CLDR territory names (Babel).

A second real multilingual image-text set that builds offline: the flag of each ISO 3166 territory, its name in
any of the 700+ CLDR locales Babel ships (`babel.Locale(lang).territories`). Flags are letterboxed onto a white
square (the image processors crop the centre square; a 3:2 flag would lose its sides). `is_heldout_flag` is a
stable 20% split by territory code: held-out flags are evaluation only, never trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from builders.sources.npm import npm_fetch
from csir.errors import CsirError, where

FLAGS_PACKAGE = "svg-country-flags"
DEFAULT_VERSIONS = {FLAGS_PACKAGE: "1.2.10"}
IMAGE_SUBDIR = "png250px"
HELDOUT_PERCENT = 20
LICENSES = {FLAGS_PACKAGE: "flag renders: public domain (PD; from Wikimedia Commons, per the package README)",
            "babel": "territory names from Unicode CLDR via Babel (Unicode License v3; Babel BSD-3-Clause)"}


@dataclass
class FlagEntry:
    code: str                                  # ISO 3166-1 alpha-2, e.g. "DE"
    image_path: Path
    names: dict[str, str] = field(default_factory=dict)   # lang -> CLDR territory name


def is_heldout_flag(code: str) -> bool:
    h = int(hashlib.sha256(f"flag-heldout:{code.upper()}".encode()).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def fetch_flags(data_dir: Path | None = None, versions: dict[str, str] | None = None) -> Path:
    return npm_fetch({**DEFAULT_VERSIONS, **(versions or {})}, data_dir, "fetch flags")


def territory_names(lang: str) -> dict[str, str]:
    """{alpha-2 code: name} in CLDR locale `lang` (Babel); an unknown locale is a CsirError."""
    try:
        from babel import Locale, UnknownLocaleError
    except ImportError:
        raise CsirError("flags: the territory names come from Babel (pip install babel)") from None
    try:
        loc = Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise CsirError(f"--langs: CLDR (Babel) has no locale '{lang}' ({exc})") from None
    return {k: v for k, v in loc.territories.items() if len(k) == 2 and k.isalpha()}


def letterbox_png(path: Path) -> bytes:
    """The flag centred on a white square, as PNG bytes; a corrupt file is a CsirError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CsirError(f"{path}: image cannot be decoded ({exc.__class__.__name__}: {exc})") from None
    img = img.convert("RGBA")
    side = max(img.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    buf = io.BytesIO()
    canvas.convert("RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def load_flags(npm_dir: str | os.PathLike, langs: list[str]) -> list[FlagEntry]:
    """Flags whose code CLDR names in English, with names in each of `langs` where CLDR has them."""
    root = Path(npm_dir) / FLAGS_PACKAGE / "package"
    listing = root / "countries.json"
    if not listing.exists():
        raise CsirError(f"{listing}: missing (run `csir evalset flags` without --npm-dir to fetch, or check the folder)")
    try:
        codes = json.loads(listing.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CsirError(f"{where(listing, exc.lineno)}: invalid JSON ({exc.msg})") from None
    names = {lang: territory_names(lang) for lang in dict.fromkeys(["en", *langs])}
    out = []
    for code in sorted(codes):
        img = root / IMAGE_SUBDIR / f"{code.lower()}.png"
        if len(code) != 2 or code not in names["en"] or not img.exists():
            continue  # GB-ENG & co. have no CLDR territory; AN is no longer one
        out.append(FlagEntry(code, img, {lang: n[code] for lang, n in names.items() if code in n}))
    if not out:
        raise CsirError(f"{root}: no flag image matched a CLDR territory code")
    return out
