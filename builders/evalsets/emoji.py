"""The emoji image-text retrieval set in MTEB's any-to-any layout, written by the project's single repo writer.

Subsets (split `test`, held-out emojis only, the same emojis in every language so languages are comparable):
- `<lang3>` (text -> image): `-corpus` (id, modality="image", image), `-queries` (id, modality="text", text: the
  emoji's label in that language), `-qrels` (query-id, corpus-id, score);
- `i2t-<lang3>` (image -> text): the same with the roles swapped (image queries, a corpus of labels).
Config `captions`, split `train`: the other emojis with English captions (label) and tags, for training; a model
trained on it never sees a held-out image.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from builders.evalsets.image_text import caption_configs, check_directions, retrieval_configs
from builders.repo_writer import describe_input, write_dataset_repo
from builders.sources.emoji import (
    DEFAULT_VERSIONS,
    IMAGES_PACKAGE,
    LABELS_PACKAGE,
    LICENSES,
    EmojiEntry,
    fetch_emoji,
    is_heldout_emoji,
    load_emoji,
)
from csir.errors import CsirError
from csir.langs import to_iso3

log = logging.getLogger(__name__)
DEFAULT_LANGS = ["en", "de", "fr", "it", "ja", "es", "ru", "zh"]


@dataclass
class EmojiSetConfig:
    langs: list[str] = field(default_factory=lambda: list(DEFAULT_LANGS))
    directions: list[str] = field(default_factory=lambda: ["t2i", "i2t"])
    max_heldout: int | None = None     # cap on held-out emojis (quick runs); first by hexcode
    caption_langs: list[str] = field(default_factory=lambda: ["en"])  # training captions (translate-train: more)


def _image(e: EmojiEntry) -> dict:
    return {"bytes": e.image_path.read_bytes(), "path": e.image_path.name}


def build_emoji_evalset(npm_dir: str | os.PathLike | None, output: str | os.PathLike,
                        cfg: EmojiSetConfig | None = None) -> Path:
    """Fetch (unless `npm_dir` is given), join, split and write the set; returns the output folder."""
    cfg = cfg or EmojiSetConfig()
    check_directions(cfg.directions)
    root = Path(npm_dir) if npm_dir else fetch_emoji()
    entries = load_emoji(root, list(dict.fromkeys([*cfg.langs, *cfg.caption_langs])))
    heldout = [e for e in entries if is_heldout_emoji(e.hexcode) and all(l in e.labels for l in cfg.langs)]
    train = [e for e in entries if not is_heldout_emoji(e.hexcode)]
    if cfg.max_heldout:
        heldout = heldout[: cfg.max_heldout]
    if not heldout:
        raise CsirError(f"{root}: no held-out emoji has a label in every language of {', '.join(cfg.langs)}")
    configs = retrieval_configs([e.hexcode for e in heldout], [_image(e) for e in heldout],
                                {lang: [e.labels[lang] for e in heldout] for lang in cfg.langs}, cfg.directions)
    train_images = [_image(e) for e in train]
    caption_langs = list(dict.fromkeys(["en", *cfg.caption_langs]))
    configs.update(caption_configs([e.hexcode for e in train], train_images,
                                   {lang: [e.labels.get(lang) for e in train] for lang in caption_langs},
                                   {lang: [e.tags.get(lang, []) for e in train] for lang in caption_langs}))
    versions = {}
    for name in (IMAGES_PACKAGE, LABELS_PACKAGE):
        pj = root / name / "package" / "package.json"
        versions[name] = __import__("json").loads(pj.read_text(encoding="utf-8")).get("version") if pj.exists() else None
    inputs = {name: describe_input(next(iter((root / name).glob("*.tgz")), root / name / "package" / "package.json"))
              for name in (IMAGES_PACKAGE, LABELS_PACKAGE)}
    langs3 = [to_iso3(l) for l in cfg.langs]
    card = {
        "pretty_name": "Emoji image-text retrieval (multilingual)",
        "language": sorted(set(cfg.langs)),
        "license": "other",
        "license_name": "apache-2.0-images-mit-labels",
        "tags": ["image-text-retrieval", "any-to-any", "mteb", "emoji", "multilingual", "cross-lingual"],
        "task_categories": ["text-to-image", "image-to-text"],
        "description": (
            f"Text->image (subsets {', '.join(langs3) if 't2i' in cfg.directions else 'none'}) and image->text "
            f"(subsets i2t-<lang>) retrieval over {len(heldout)} held-out emoji images (Noto Emoji, 64 px PNG, "
            f"from npm `{IMAGES_PACKAGE}`), queried by their CLDR labels from npm `{LABELS_PACKAGE}` "
            "(joined on the code-point sequence). The held-out split is a stable 20% hash of the hexcode "
            f"(`builders.sources.emoji.is_heldout_emoji`); config `captions` holds the other {len(train)} emojis "
            "with English labels and tags for training, and never a held-out image.\n\n"
            "Attribution and licences: " + "; ".join(f"`{k}`: {v}" for k, v in LICENSES.items()) +
            ". Built with `csir evalset emoji` (`npm pack " + " ".join(f"{k}@{v}" for k, v in DEFAULT_VERSIONS.items())
            + "`)."),
        "source_datasets": [f"npm:{k}@{v}" for k, v in versions.items()],
    }
    manifest = {"builder": "builders.evalsets.emoji.build_emoji_evalset",
                "parameters": {"langs": cfg.langs, "directions": cfg.directions, "max_heldout": cfg.max_heldout,
                               "heldout_percent": 20},
                "inputs": inputs, "package_versions": versions, "licenses": LICENSES,
                "counts": {"heldout": len(heldout), "train": len(train)}}
    return write_dataset_repo(output, configs, card=card, manifest=manifest)
