"""Objective `image-text`: a contrastive image-text dual encoder trained by the one loop (`training.loop.train`).

    accelerate launch [--multi_gpu --num_processes N] -m training --config configs/multimodal/mm-emoji-lit-en.yaml

Model: a transformers `VisionTextDualEncoderModel` (text encoder's pooler output + projection; image tower +
projection; learned temperature), trained with CLIP's symmetric InfoNCE over in-batch negatives, gathered across
processes (`image_text.gather_across_devices`). Text tower: `text_model` (default `model`; `tiny-random-bert` builds
a test model). Image tower: `image_text.image_model` (a transformers vision model) or, when null, a ConvNeXt built
from scratch (`image_text.cnn_widths`, `image_size`). `image_text.mode: lit` freezes the text encoder (its pooler
and both projections train); `full` trains everything (the text encoder at `image_text.text_learning_rate`).
Captions come from `data.text_column`, images from `data.image_column`; `codeswitch:` switches captions on the fly
(query side, a fresh draw per epoch and caption id). Everything else (multi-process, checkpoints and resume,
dev-set curves, card, publishing) is the loop's. The saved folder (model, tokenizer, image processor, card) is what
`csir evaluate` loads through `get_text_features` / `get_image_features`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from csir.atomic import atomic_dir
from csir.errors import CsirError, where
from csir.hub.resolve import is_hub_id

from .objective import Objective, TrainData

log = logging.getLogger(__name__)


def text_model_name(cfg) -> str:
    return cfg.text_model or cfg.model


class ImageTextCollator:
    """Captions tokenized per batch (they may be code-switched per epoch); pixels looked up by row."""

    def __init__(self, tokenizer, pixels: torch.Tensor, max_length: int, pad_to_multiple_of: int | None = None):
        self.tokenizer, self.pixels = tokenizer, pixels
        self.max_length, self.pad_to_multiple_of = max_length, pad_to_multiple_of

    def __call__(self, rows: list[dict]) -> dict:
        text = self.tokenizer([r["query"] for r in rows], padding=True, truncation=True, max_length=self.max_length,
                              pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        return {"text": dict(text), "pixel_values": self.pixels[[int(r["row"]) for r in rows]]}


class SymmetricInfoNCE(nn.Module):
    """CLIP's loss: cross-entropy over text->image and image->text similarities with a learned temperature.

    With `frozen_text`, the text encoder runs without gradients (its pooler still trains); with `gather`, every
    process scores its rows against the embeddings of all processes' batches (gradients flow back through
    `torch.distributed.nn.all_gather`), as one process with the global batch would.
    """

    def __init__(self, model, frozen_text: bool, gather: bool):
        super().__init__()
        self.model, self.frozen_text, self.gather = model, frozen_text, gather

    def forward(self, text: dict, pixel_values: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F
        from sentence_transformers.util import all_gather_with_grad, get_rank, get_world_size

        m = self.model
        if self.frozen_text:
            with torch.no_grad():
                hidden = m.text_model(**text).last_hidden_state
            pooled = m.text_model.pooler(hidden)
        else:
            pooled = m.text_model(**text).pooler_output
        t = F.normalize(m.text_projection(pooled), dim=-1)
        i = F.normalize(m.visual_projection(m.vision_model(pixel_values=pixel_values).pooler_output), dim=-1)
        scale = m.logit_scale.exp().clamp(max=100)
        offset = 0
        t_all, i_all = t, i
        if self.gather and get_world_size() > 1:
            t_all, i_all = all_gather_with_grad(t), all_gather_with_grad(i)
            offset = get_rank() * len(t)
        target = torch.arange(len(t), device=t.device) + offset
        return (F.cross_entropy(scale * t @ i_all.T, target) + F.cross_entropy(scale * i @ t_all.T, target)) / 2


class ImageTextObjective(Objective):
    """Data, towers, loss and saving of the image-text dual encoder; see the module docstring."""

    name = "image-text"

    def __init__(self):
        self.images: list[bytes] = []
        self.tokenizer = None
        self.processor = None

    # --- data ---
    def load_data(self, cfg):
        from datasets import Dataset

        from csir.hub.load import load_repo_dataset
        from csir.hub.resolve import resolve
        from csir.images import image_column

        from .data import DataSource

        d = cfg.data
        try:
            ds = load_repo_dataset(d.path, d.name, split=d.split, revision=d.revision)
        except Exception as exc:  # datasets raises many types: not found, bad config, offline...
            raise CsirError(f"{where('config', field='data.path')}: cannot load {d.path!r}"
                            f"{f' config {d.name!r}' if d.name else ''} split {d.split!r}: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        id_col = d.id_column or "id"
        for fieldname, col in (("data.image_column", d.image_column), ("data.text_column", d.text_column),
                               ("data.id_column", id_col)):
            if col not in ds.column_names:
                raise CsirError(f"{where(d.path, field=col)}: column missing for the image-text objective (set "
                                f"{fieldname}); the dataset has columns {ds.column_names}")
        if d.max_rows is not None:
            ds = ds.select(range(min(d.max_rows, len(ds))))
        if len(ds) == 0:
            raise CsirError(f"{where(d.path)}: the {d.split!r} split is empty")
        ids = [str(x) for x in ds[id_col]]
        if len(set(ids)) != len(ids):
            raise CsirError(f"{where(d.path, field=id_col)}: ids are not unique (they key images and code-switching)")
        pics = ds.select_columns([id_col, d.image_column]).rename_columns(
            {k: v for k, v in ((id_col, "id"), (d.image_column, "image")) if k != v})
        by_id = image_column(pics, d.path, d.name or "default")
        self.images = [by_id[i] for i in ids]
        examples = Dataset.from_dict({"query": [str(t) for t in ds[d.text_column]], "example_id": ids,
                                      "row": list(range(len(ids)))})
        r = resolve(d.path, d.revision, "dataset", download=False, hash_folder=False,
                    flag=where("config", field="data.path"), rev_flag=where("config", field="data.revision"))
        r.cleanup()
        info = DataSource(path=d.path, name=d.name, split=d.split, revision=d.revision,
                          resolved_revision=r.commit if r.kind != "folder" else None, num_rows=len(ids),
                          is_hub_id=is_hub_id(d.path))
        return examples, [info]

    # --- towers ---
    def prepare_base(self, cfg, examples, accelerator) -> dict:
        from transformers import AutoConfig

        from csir.models.tiny import build_tiny_bert, is_tiny

        text = text_model_name(cfg)
        facts: dict = {"text_path": text}
        if is_tiny(text):
            path = cfg.effective_run_dir / "base-model" / text
            with accelerator.main_process_first():
                if accelerator.is_main_process:
                    with atomic_dir(path) as tmp:
                        build_tiny_bert(tmp, examples["query"], seed=cfg.seed, max_position=max(cfg.max_length, 64))
            facts.update(text_path=str(path), text_built_in_code=True)
        spec = cfg.image_text
        for role, name, revision in (("text", facts["text_path"], None if is_tiny(text) else cfg.model_revision),
                                     ("image", spec.image_model, spec.image_model_revision)):
            if name is None:
                continue
            field = "text_model" if role == "text" else "image_text.image_model"
            try:
                conf = AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=cfg.trust_remote_code)
            except Exception as exc:
                raise CsirError(f"{where('config', field=field)}: cannot load the configuration of {name!r}: "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
            facts[f"{role}_model_type"] = getattr(conf, "model_type", None)
        return facts

    def build_model(self, cfg, facts: dict, device):
        from transformers import CLIPImageProcessor, ConvNextConfig, ConvNextModel, VisionTextDualEncoderModel

        from csir.models.dual import load_image_tower, load_text_tower

        spec = cfg.image_text
        text_path = facts["text_path"]
        revision = None if facts.get("text_built_in_code") else cfg.model_revision  # tiny: written by prepare_base
        text, self.tokenizer = load_text_tower(text_path, revision, cfg.allow_pickle, cfg.trust_remote_code,
                                               flag=where("config", field="text_model"))
        if spec.image_model is None:
            vc = ConvNextConfig(num_channels=3, patch_size=4, num_stages=len(spec.cnn_widths),
                                hidden_sizes=list(spec.cnn_widths), depths=[1] * len(spec.cnn_widths),
                                image_size=spec.image_size)
            vision = ConvNextModel(vc)
            self.processor = CLIPImageProcessor(size={"shortest_edge": spec.image_size},
                                                crop_size={"height": spec.image_size, "width": spec.image_size},
                                                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
        else:
            vision, self.processor = load_image_tower(spec.image_model, spec.image_model_revision, cfg.allow_pickle,
                                                      cfg.trust_remote_code,
                                                      flag=where("config", field="image_text.image_model"))
        vision_dim = getattr(vision.config, "hidden_size", None) or vision.config.hidden_sizes[-1]
        vision.config.hidden_size = vision_dim  # VisionTextDualEncoder sizes the projection from hidden_size
        model = VisionTextDualEncoderModel(vision_model=vision, text_model=text)
        model.config.projection_dim = spec.projection_dim
        model.visual_projection = nn.Linear(vision_dim, spec.projection_dim, bias=False)
        model.text_projection = nn.Linear(text.config.hidden_size, spec.projection_dim, bias=False)
        model.projection_dim = spec.projection_dim
        if spec.mode == "lit":
            for name, p in model.text_model.named_parameters():
                p.requires_grad = name.startswith("pooler.")
        return model.to(device)

    # --- training ---
    def train_data(self, cfg, examples, model, pad_multiple, switcher) -> TrainData:
        from csir.images import to_rgb

        src = cfg.data.path
        pixels = [self.processor(images=[to_rgb(b, f"{src}: row {s + i}") for i, b in enumerate(self.images[s:s + 256])],
                                 return_tensors="pt")["pixel_values"] for s in range(0, len(self.images), 256)]
        collate = ImageTextCollator(self.tokenizer, torch.cat(pixels), cfg.max_length, pad_multiple)
        return TrainData(examples, [len(t) for t in examples["query"]], collate, group_by_length=False)

    def loss_module(self, model, cfg):
        return SymmetricInfoNCE(model, cfg.image_text.mode == "lit", cfg.image_text.gather_across_devices)

    def param_groups(self, module, cfg) -> list[dict]:
        """The text encoder body at `image_text.text_learning_rate`; towers' heads, image tower at learning_rate."""
        groups = super().param_groups(module, cfg)
        body = {id(p) for n, p in module.model.text_model.named_parameters()
                if p.requires_grad and not n.startswith("pooler.")}
        out = []
        for g in groups:
            rest = [p for p in g["params"] if id(p) not in body]
            text = [p for p in g["params"] if id(p) in body]
            out.append({**g, "params": rest})
            if text:
                out.append({**g, "params": text, "lr": cfg.image_text.text_learning_rate})
        return [g for g in out if g["params"]]

    def eval_model(self, model, cfg):
        from csir.models import ModelSpec
        from csir.models.dual import DualEncoderModel

        batch = cfg.eval_dataset.batch_size if cfg.eval_dataset else 32
        spec = ModelSpec(name=text_model_name(cfg), batch_size=batch, max_length=cfg.max_length)
        return DualEncoderModel(spec, "clip", Path("."), "live", model, {}, tokenizer=self.tokenizer,
                                image_processor=self.processor)

    # --- output ---
    def save(self, model, cfg, folder: Path) -> None:
        model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        self.processor.save_pretrained(folder)

    def card_info(self, cfg, facts: dict) -> dict:
        spec = cfg.image_text
        text = text_model_name(cfg)
        built = bool(facts.get("text_built_in_code"))
        from model_cards.provenance import model_reference  # a Hub id (or folder name), never a machine path

        text_ref = model_reference(text, cfg.model_revision)
        text_training = ("frozen (LiT): its pooler and the projection train" if spec.mode == "lit"
                         else f"fine-tuned (learning rate {spec.text_learning_rate})")
        towers = [{"role": "text", "model": f"`{text}` (tiny random BERT built in code)" if built else text_ref.id,
                   "revision": None if built else cfg.model_revision, "hub_id": text_ref.is_hub and not built,
                   "training": text_training}]
        if spec.image_model:
            towers.append({"role": "image", "model": spec.image_model, "revision": spec.image_model_revision,
                           "hub_id": is_hub_id(spec.image_model), "training": "fine-tuned"})
        else:
            towers.append({"role": "image", "model": f"ConvNeXt built from scratch (widths {list(spec.cnn_widths)}, "
                           f"one block per stage, {spec.image_size} px)", "revision": None, "hub_id": False,
                           "training": "trained from scratch"})
        bases = [text] if not built else []
        if spec.image_model:
            bases.append(spec.image_model)
        return {"base_model": bases, "towers": towers, "tags": [f"mode-{spec.mode}"]}
