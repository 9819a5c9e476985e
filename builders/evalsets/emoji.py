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

import datasets

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
IMAGE_ROWS = datasets.Features({"id": datasets.Value("string"), "modality": datasets.Value("string"),
                                "image": datasets.Image()})
TEXT_ROWS = datasets.Features({"id": datasets.Value("string"), "modality": datasets.Value("string"),
                               "text": datasets.Value("string")})
QRELS = datasets.Features({"query-id": datasets.Value("string"), "corpus-id": datasets.Value("string"),
                           "score": datasets.Value("int32")})
CAPTIONS = datasets.Features({"id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string"),
                             "tags": datasets.Sequence(datasets.Value("string")), "language": datasets.Value("string")})
DEFAULT_LANGS = ["en", "de", "fr", "it", "ja", "es", "ru", "zh"]


@dataclass
class EmojiSetConfig:
    langs: list[str] = field(default_factory=lambda: list(DEFAULT_LANGS))
    directions: list[str] = field(default_factory=lambda: ["t2i", "i2t"])
    max_heldout: int | None = None     # cap on held-out emojis (quick runs); first by hexcode


def _image(e: EmojiEntry) -> dict:
    return {"bytes": e.image_path.read_bytes(), "path": e.image_path.name}


def _images(entries, ids) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": ids, "modality": ["image"] * len(ids),
                                       "image": [_image(e) for e in entries]}, features=IMAGE_ROWS)


def _texts(ids, texts) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": ids, "modality": ["text"] * len(ids), "text": texts}, features=TEXT_ROWS)


def _qrels(qids, dids) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"query-id": qids, "corpus-id": dids, "score": [1] * len(qids)}, features=QRELS)


def build_emoji_evalset(npm_dir: str | os.PathLike | None, output: str | os.PathLike,
                        cfg: EmojiSetConfig | None = None) -> Path:
    """Fetch (unless `npm_dir` is given), join, split and write the set; returns the output folder."""
    cfg = cfg or EmojiSetConfig()
    bad = [d for d in cfg.directions if d not in ("t2i", "i2t")]
    if bad:
        raise CsirError(f"--directions: unknown direction '{bad[0]}' (choose from t2i, i2t)")
    root = Path(npm_dir) if npm_dir else fetch_emoji()
    entries = load_emoji(root, cfg.langs)
    heldout = [e for e in entries if is_heldout_emoji(e.hexcode) and all(l in e.labels for l in cfg.langs)]
    train = [e for e in entries if not is_heldout_emoji(e.hexcode)]
    if cfg.max_heldout:
        heldout = heldout[: cfg.max_heldout]
    if not heldout:
        raise CsirError(f"{root}: no held-out emoji has a label in every language of {', '.join(cfg.langs)}")
    configs: dict[str, dict[str, datasets.Dataset]] = {}
    img_ids = [e.hexcode for e in heldout]
    for lang in cfg.langs:
        l3 = to_iso3(lang)
        txt_ids = [f"{l3}-{e.hexcode}" for e in heldout]
        labels = [e.labels[lang] for e in heldout]
        if "t2i" in cfg.directions:
            configs[f"{l3}-corpus"] = {"test": _images(heldout, img_ids)}
            configs[f"{l3}-queries"] = {"test": _texts(txt_ids, labels)}
            configs[f"{l3}-qrels"] = {"test": _qrels(txt_ids, img_ids)}
        if "i2t" in cfg.directions:
            configs[f"i2t-{l3}-corpus"] = {"test": _texts(txt_ids, labels)}
            configs[f"i2t-{l3}-queries"] = {"test": _images(heldout, img_ids)}
            configs[f"i2t-{l3}-qrels"] = {"test": _qrels(img_ids, txt_ids)}
    configs["captions"] = {"train": datasets.Dataset.from_dict(
        {"id": [e.hexcode for e in train], "image": [_image(e) for e in train],
         "text": [e.labels["en"] for e in train], "tags": [e.tags.get("en", []) for e in train],
         "language": ["en"] * len(train)}, features=CAPTIONS)}
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
