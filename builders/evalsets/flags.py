"""The flags image-text retrieval set (`csir evalset flags`): held-out flags queried by CLDR territory names.

Same layout as the emoji set (`builders.evalsets.image_text`): `<lang3>` / `i2t-<lang3>` subsets over held-out
flags (the same flags in every language), `captions` / `captions-<lang3>` (train) over the others.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from builders.evalsets.image_text import caption_configs, check_directions, retrieval_configs
from builders.repo_writer import describe_input, write_dataset_repo
from builders.sources.flags import (
    DEFAULT_VERSIONS,
    FLAGS_PACKAGE,
    HELDOUT_PERCENT,
    LICENSES,
    fetch_flags,
    is_heldout_flag,
    letterbox_png,
    load_flags,
)
from csir.errors import CsirError
from csir.langs import to_iso3

DEFAULT_LANGS = ["en", "de", "fr", "it", "es", "ja", "ru", "zh"]


@dataclass
class FlagSetConfig:
    langs: list[str] = field(default_factory=lambda: list(DEFAULT_LANGS))
    directions: list[str] = field(default_factory=lambda: ["t2i", "i2t"])
    caption_langs: list[str] = field(default_factory=lambda: ["en"])


def build_flags_evalset(npm_dir: str | os.PathLike | None, output: str | os.PathLike,
                        cfg: FlagSetConfig | None = None) -> Path:
    cfg = cfg or FlagSetConfig()
    check_directions(cfg.directions)
    root = Path(npm_dir) if npm_dir else fetch_flags()
    caption_langs = list(dict.fromkeys(["en", *cfg.caption_langs]))
    entries = load_flags(root, list(dict.fromkeys([*cfg.langs, *caption_langs])))
    heldout = [e for e in entries if is_heldout_flag(e.code) and all(lang in e.names for lang in cfg.langs)]
    train = [e for e in entries if not is_heldout_flag(e.code)]
    if not heldout:
        raise CsirError(f"{root}: no held-out flag has a name in every language of {', '.join(cfg.langs)}")

    def image(e):
        return {"bytes": letterbox_png(e.image_path), "path": e.image_path.name}

    configs = retrieval_configs([e.code for e in heldout], [image(e) for e in heldout],
                                {lang: [e.names[lang] for e in heldout] for lang in cfg.langs}, cfg.directions)
    configs.update(caption_configs([e.code for e in train], [image(e) for e in train],
                                   {lang: [e.names.get(lang) for e in train] for lang in caption_langs}))
    import babel

    pj = root / FLAGS_PACKAGE / "package" / "package.json"
    versions = {FLAGS_PACKAGE: json.loads(pj.read_text(encoding="utf-8")).get("version") if pj.exists() else None,
                "babel": babel.__version__}
    tgz = next(iter((root / FLAGS_PACKAGE).glob("*.tgz")), pj)
    card = {
        "pretty_name": "Country flags image-text retrieval (multilingual)",
        "language": sorted(set(cfg.langs) | set(caption_langs)),
        "license": "other",
        "license_name": "public-domain-images-unicode-cldr-names",
        "tags": ["image-text-retrieval", "any-to-any", "mteb", "flags", "multilingual", "cross-lingual"],
        "task_categories": ["text-to-image", "image-to-text"],
        "description": (
            f"Text->image (subsets {', '.join(to_iso3(lang) for lang in cfg.langs)}) and image->text (i2t-<lang>) "
            f"retrieval over {len(heldout)} held-out country flags (npm `{FLAGS_PACKAGE}` PNG renders, letterboxed "
            "on white), queried by their CLDR territory names (Babel). The held-out split is a stable "
            f"{HELDOUT_PERCENT}% hash of the territory code (`builders.sources.flags.is_heldout_flag`); configs "
            f"`captions` / `captions-<lang3>` hold the other {len(train)} flags for training, never a held-out one."
            "\n\nAttribution and licences: " + "; ".join(f"`{k}`: {v}" for k, v in LICENSES.items()) +
            ". Built with `csir evalset flags` (`npm pack " + " ".join(f"{k}@{v}" for k, v in DEFAULT_VERSIONS.items())
            + "`)."),
        "source_datasets": [f"npm:{FLAGS_PACKAGE}@{versions[FLAGS_PACKAGE]}"],
    }
    manifest = {"builder": "builders.evalsets.flags.build_flags_evalset",
                "parameters": {"langs": cfg.langs, "directions": cfg.directions, "caption_langs": caption_langs,
                               "heldout_percent": HELDOUT_PERCENT},
                "inputs": {FLAGS_PACKAGE: describe_input(tgz)}, "package_versions": versions, "licenses": LICENSES,
                "counts": {"heldout": len(heldout), "train": len(train)}}
    return write_dataset_repo(output, configs, card=card, manifest=manifest)
