"""Emoji images (npm `emoji-datasource-google`, 64 px PNG) joined with localized labels (npm `emojibase-data`).

A real multilingual image-text set that builds offline: the npm registry is reachable where the Hub is not.
`fetch_emoji` runs `npm pack` once into `~/.cache/codeswitch-ir/raw/npm` (or `$CSIR_DATA_DIR/npm`) and unpacks
each tarball to `<name>/package/`; `load_emoji` joins the two packages on the code-point sequence (`unified` /
`hexcode`, compared without U+FE0F variation selectors, which the two packages write differently).
`is_heldout_emoji` is a stable 20% split by hexcode: held-out emojis are evaluation only, never trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from builders.sources.npm import npm_fetch
from csir.errors import CsirError, where

IMAGES_PACKAGE = "emoji-datasource-google"
LABELS_PACKAGE = "emojibase-data"
DEFAULT_VERSIONS = {IMAGES_PACKAGE: "16.0.0", LABELS_PACKAGE: "17.0.0"}
IMAGE_SUBDIR = "img/google/64"
HELDOUT_PERCENT = 20
# emojibase locale folder per ISO 639-1 code (the set's languages; others are skipped with a clear error)
EMOJIBASE_LOCALES = {"bn": "bn", "da": "da", "de": "de", "en": "en", "es": "es", "et": "et", "fi": "fi", "fr": "fr",
                     "hi": "hi", "hu": "hu", "it": "it", "ja": "ja", "ko": "ko", "lt": "lt", "ms": "ms", "nb": "nb",
                     "nl": "nl", "pl": "pl", "pt": "pt", "ru": "ru", "sv": "sv", "th": "th", "uk": "uk", "vi": "vi",
                     "zh": "zh"}
LICENSES = {
    IMAGES_PACKAGE: "images: Noto Emoji (Google), Apache License 2.0 (https://github.com/googlefonts/noto-emoji); "
                    "package data: MIT, Copyright (c) 2013 Cal Henderson",
    LABELS_PACKAGE: "MIT, Copyright (c) 2017-2019 Miles Johnson (labels from Unicode CLDR annotations, "
                    "Unicode License v3)",
}


@dataclass
class EmojiEntry:
    hexcode: str                              # emojibase hexcode, e.g. "1F913"
    image_path: Path
    labels: dict[str, str] = field(default_factory=dict)        # lang -> label
    tags: dict[str, list[str]] = field(default_factory=dict)    # lang -> tags


def _key(code: str) -> str:
    return "-".join(p for p in code.upper().split("-") if p != "FE0F")


def is_heldout_emoji(hexcode: str) -> bool:
    """Stable held-out split (20%), keyed on the normalised code-point sequence only."""
    h = int(hashlib.sha256(f"emoji-heldout:{_key(hexcode)}".encode()).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def fetch_emoji(data_dir: Path | None = None, versions: dict[str, str] | None = None) -> Path:
    """`npm pack` both packages (pinned versions) into `<data_dir>/npm/<name>/package/`; cached when present."""
    return npm_fetch({**DEFAULT_VERSIONS, **(versions or {})}, data_dir, "fetch emoji")


def _read_json(path: Path):
    if not path.exists():
        raise CsirError(f"{path}: missing (run `csir evalset emoji` without --npm-dir to fetch, or check the folder)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CsirError(f"{where(path, exc.lineno)}: invalid JSON ({exc.msg})") from None


def load_emoji(npm_dir: str | os.PathLike, langs: list[str]) -> list[EmojiEntry]:
    """Emojis with a Google 64 px image and an English label, labels/tags for each of `langs` where present."""
    root = Path(npm_dir)
    images_root = root / IMAGES_PACKAGE / "package"
    meta = _read_json(images_root / "emoji.json")
    by_key: dict[str, EmojiEntry] = {}
    for i, row in enumerate(meta):
        if not isinstance(row, dict) or "unified" not in row or "image" not in row:
            raise CsirError(f"{where(images_root / 'emoji.json', None, f'[{i}].unified')}: missing")
        if not row.get("has_img_google", True):
            continue
        img = images_root / IMAGE_SUBDIR / row["image"]
        if img.exists():
            by_key[_key(row["unified"])] = EmojiEntry(hexcode="", image_path=img)
    for lang in dict.fromkeys(["en", *langs]):
        loc = EMOJIBASE_LOCALES.get(lang)
        if loc is None:
            raise CsirError(f"--langs: emojibase-data has no locale for '{lang}' (have {', '.join(EMOJIBASE_LOCALES)})")
        path = root / LABELS_PACKAGE / "package" / loc / "data.json"
        for i, row in enumerate(_read_json(path)):
            if "hexcode" not in row:
                raise CsirError(f"{where(path, None, f'[{i}].hexcode')}: missing")
            entry = by_key.get(_key(row["hexcode"]))
            if entry is None or not row.get("label"):
                continue
            entry.hexcode = entry.hexcode or row["hexcode"]
            entry.labels[lang] = row["label"].strip()
            entry.tags[lang] = [t for t in row.get("tags") or [] if t]
    out = [e for e in by_key.values() if "en" in e.labels]
    if not out:
        raise CsirError(f"{root}: no emoji joined between {IMAGES_PACKAGE} and {LABELS_PACKAGE}")
    return sorted(out, key=lambda e: e.hexcode)
