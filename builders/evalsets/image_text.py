"""The configs every labelled-image set writes (emoji, flags), in MTEB's any-to-any retrieval layout.

- `<lang3>` (text -> image): `-corpus` (id, modality="image", image), `-queries` (id, modality="text", text),
  `-qrels` (query-id, corpus-id, score); `i2t-<lang3>` the same with the roles swapped;
- `captions` (split `train`): the training images with English captions; `captions-<lang3>`: the same images with
  their captions in another language (translate-train, the upper bound). Held-out images are in none of them.
"""

from __future__ import annotations

import datasets

from csir.errors import CsirError
from csir.langs import to_iso3

IMAGE_ROWS = datasets.Features({"id": datasets.Value("string"), "modality": datasets.Value("string"),
                                "image": datasets.Image()})
TEXT_ROWS = datasets.Features({"id": datasets.Value("string"), "modality": datasets.Value("string"),
                               "text": datasets.Value("string")})
QRELS = datasets.Features({"query-id": datasets.Value("string"), "corpus-id": datasets.Value("string"),
                           "score": datasets.Value("int32")})
CAPTIONS = datasets.Features({"id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string"),
                             "tags": datasets.Sequence(datasets.Value("string")), "language": datasets.Value("string")})
DIRECTIONS = ("t2i", "i2t")


def check_directions(directions: list[str]) -> None:
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise CsirError(f"--directions: unknown direction '{bad[0]}' (choose from t2i, i2t)")


def _images(ids, images) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": ids, "modality": ["image"] * len(ids), "image": images},
                                      features=IMAGE_ROWS)


def _texts(ids, texts) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": ids, "modality": ["text"] * len(ids), "text": texts}, features=TEXT_ROWS)


def _qrels(qids, dids) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"query-id": qids, "corpus-id": dids, "score": [1] * len(qids)}, features=QRELS)


def retrieval_configs(ids: list[str], images: list[dict], labels: dict[str, list[str]],
                      directions: list[str]) -> dict[str, dict[str, datasets.Dataset]]:
    """t2i / i2t subsets per language over held-out images; `labels[lang][k]` names image `ids[k]`."""
    configs: dict[str, dict[str, datasets.Dataset]] = {}
    for lang, texts in labels.items():
        l3 = to_iso3(lang)
        txt_ids = [f"{l3}-{i}" for i in ids]
        if "t2i" in directions:
            configs[f"{l3}-corpus"] = {"test": _images(ids, images)}
            configs[f"{l3}-queries"] = {"test": _texts(txt_ids, texts)}
            configs[f"{l3}-qrels"] = {"test": _qrels(txt_ids, ids)}
        if "i2t" in directions:
            configs[f"i2t-{l3}-corpus"] = {"test": _texts(txt_ids, texts)}
            configs[f"i2t-{l3}-queries"] = {"test": _images(ids, images)}
            configs[f"i2t-{l3}-qrels"] = {"test": _qrels(ids, txt_ids)}
    return configs


def caption_configs(ids: list[str], images: list[dict], captions: dict[str, list[str | None]],
                    tags: dict[str, list[list[str]]] | None = None) -> dict[str, dict[str, datasets.Dataset]]:
    """`captions` (English) and `captions-<lang3>` per other language; rows without a caption there are left out."""
    out = {}
    for lang, texts in captions.items():
        keep = [k for k, t in enumerate(texts) if t]
        name = "captions" if lang == "en" else f"captions-{to_iso3(lang)}"
        out[name] = {"train": datasets.Dataset.from_dict(
            {"id": [ids[k] for k in keep], "image": [images[k] for k in keep], "text": [texts[k] for k in keep],
             "tags": [((tags or {}).get(lang) or [[]] * len(ids))[k] for k in keep], "language": [lang] * len(keep)},
            features=CAPTIONS)}
    return out
