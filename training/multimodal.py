"""Contrastive image-text dual encoder (symmetric InfoNCE): `accelerate launch -m training --config configs/mm-*.yaml`.

Text tower: any HF/local text encoder (its pooler output). Image tower: a small ConvNeXt CNN trained from scratch.
Mode `lit`: the text encoder is frozen (its pooler and both projections train); `full`: everything trains.
Captions may be code-switched on the fly by `builders.codeswitch` (a fresh draw per epoch and caption id).
Saved as a transformers `VisionTextDualEncoderModel` + tokenizer + image processor, which `csir evaluate` loads
through `get_text_features` / `get_image_features`, with a generated model card; `push_to_hub` + `version` publish
that folder to the Hub or the local store exactly as text models are (`training.publishing`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from csir.config_io import load_yaml
from csir.errors import CsirError

from .publishing import check_publish, publish_field_problem, publish_model

log = logging.getLogger(__name__)
MODES = ("lit", "full")


@dataclass
class ImageTextConfig:
    objective: str = "image-text"
    text_model: str = ""                     # HF id or local folder of a text encoder
    data: str = ""                           # dataset folder / Hub id with image + caption columns
    data_config: str | None = "captions"
    split: str = "train"
    image_column: str = "image"
    text_column: str = "text"
    id_column: str = "id"
    max_rows: int | None = None
    mode: str = "lit"
    image_size: int = 64
    cnn_widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    projection_dim: int = 128
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3                         # image tower, projections, pooler
    text_lr: float = 2e-5                    # text encoder in `full` mode
    max_length: int = 32
    seed: int = 1
    codeswitch: dict | None = None           # {variant, p, lexicons: {lang: spec}, query_langs: [...]}
    output_dir: str = "outputs/mm-model"
    model_name: str | None = None
    # publishing: the text configs' fields (training.config.TrainConfig), same meaning
    push_to_hub: str | None = None           # repo id (ORG/NAME) to publish the final model to
    version: str | None = None               # tag for the published revision, e.g. v1.0.0
    publish_target: str = "hub"              # hub | store (local git store; store_dir or $CSIR_HUB_STORE)
    store_dir: str | None = None
    private: bool = False


def load_mm_config(path: str | None, overrides: list[tuple[str, object]]) -> ImageTextConfig:
    raw = {}
    if path:
        p = Path(path)
        if not p.exists():
            raise CsirError(f"--config: {p} does not exist")
        raw = load_yaml(p)
    names = {f.name for f in dataclasses.fields(ImageTextConfig)}
    for k, v in overrides:
        raw[k.lstrip("-").replace("-", "_")] = v
    for k in raw:
        if k not in names:
            raise CsirError(f"{path or '<overrides>'}: field '{k}' is not an image-text training setting")
    cfg = ImageTextConfig(**raw)
    if cfg.mode not in MODES:
        raise CsirError(f"{path}: field 'mode': '{cfg.mode}' (choose from {', '.join(MODES)})")
    if not cfg.text_model or not cfg.data:
        raise CsirError(f"{path}: fields 'text_model' and 'data' are required")
    problem = publish_field_problem(cfg)
    if problem:
        raise CsirError(f"{path or '<overrides>'}: field '{problem[0]}' {problem[1]}")
    return cfg


def is_image_text_config(path: str | None) -> bool:
    if not path or not Path(path).exists():
        return False
    raw = load_yaml(path)
    return isinstance(raw, dict) and raw.get("objective") == "image-text"


def _switcher(cfg: ImageTextConfig):
    if not cfg.codeswitch:
        return None
    from builders.codeswitch import CodeSwitchConfig, CodeSwitcher
    from builders.lexicons.store import load_lexicons

    cs = dict(cfg.codeswitch)
    lexicons = load_lexicons(cs.pop("lexicons", {}))
    cs.setdefault("seed", cfg.seed)
    return CodeSwitcher(CodeSwitchConfig(**cs), lexicons)


def build_model(cfg: ImageTextConfig):
    from transformers import AutoModel, ConvNextConfig, ConvNextModel, VisionTextDualEncoderModel

    vc = ConvNextConfig(num_channels=3, patch_size=4, num_stages=len(cfg.cnn_widths), hidden_sizes=cfg.cnn_widths,
                        depths=[1] * len(cfg.cnn_widths), image_size=cfg.image_size)
    vc.hidden_size = cfg.cnn_widths[-1]   # VisionTextDualEncoder sizes the projection from hidden_size
    try:
        text = AutoModel.from_pretrained(cfg.text_model, add_pooling_layer=True)
    except (OSError, ValueError) as exc:
        raise CsirError(f"text_model: cannot load '{cfg.text_model}' ({exc.__class__.__name__}: {exc})") from None
    if getattr(text, "pooler", None) is None:
        raise CsirError(f"text_model: '{cfg.text_model}' ({text.__class__.__name__}) has no pooler layer; "
                        "VisionTextDualEncoderModel embeds texts with the encoder's pooler output")
    model = VisionTextDualEncoderModel(vision_model=ConvNextModel(vc), text_model=text)
    model.config.projection_dim = cfg.projection_dim
    import torch

    model.visual_projection = torch.nn.Linear(vc.hidden_size, cfg.projection_dim, bias=False)
    model.text_projection = torch.nn.Linear(text.config.hidden_size, cfg.projection_dim, bias=False)
    model.projection_dim = cfg.projection_dim
    return model


def symmetric_infonce(model, text_hidden, pixel_values):
    """CLIP's loss: cross-entropy over text->image and image->text similarities (learned temperature)."""
    import torch
    import torch.nn.functional as F

    pooled = model.text_model.pooler(text_hidden) if text_hidden.dim() == 3 else model.text_model.pooler(text_hidden[:, None])
    t = F.normalize(model.text_projection(pooled), dim=-1)
    i = F.normalize(model.get_image_features(pixel_values=pixel_values).pooler_output, dim=-1)
    logits = t @ i.T * model.logit_scale.exp().clamp(max=100)
    target = torch.arange(len(t), device=t.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _frozen_cls(model, tokenizer, texts, cfg, device):
    """LiT: the frozen encoder's [CLS] hidden states for this epoch's captions, in large no-grad batches."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(texts), 256):
            enc = tokenizer(texts[s:s + 256], padding=True, truncation=True, max_length=cfg.max_length,
                            return_tensors="pt").to(device)
            out.append(model.text_model(**enc).last_hidden_state[:, 0])
    return torch.cat(out)


def train_image_text(cfg: ImageTextConfig) -> Path:
    import numpy as np
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer, CLIPImageProcessor

    from csir.hub.load import load_repo_dataset
    from evaluation.multimodal import image_column, to_rgb

    set_seed(cfg.seed)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if accelerator.num_processes > 1:  # the loop calls the towers directly, outside DDP's gradient sync
        raise CsirError("image-text training runs in one process; launch it without --num_processes > 1")
    check_publish(cfg)  # a bad repo id / version / store fails now, not after training
    try:
        ds = load_repo_dataset(cfg.data, cfg.data_config, split=cfg.split)
    except Exception as exc:  # datasets raises many types
        raise CsirError(f"data: cannot read {cfg.data} ({exc.__class__.__name__}: {exc})") from None
    for col in (cfg.image_column, cfg.text_column, cfg.id_column):
        if col not in ds.column_names:
            raise CsirError(f"{cfg.data}: config {cfg.data_config}: field '{col}' missing")
    if cfg.max_rows:
        ds = ds.select(range(min(cfg.max_rows, len(ds))))
    ds = ds.rename_column(cfg.image_column, "image") if cfg.image_column != "image" else ds
    images = image_column(ds.select_columns([cfg.id_column, "image"]).rename_column(cfg.id_column, "id")
                          if cfg.id_column != "id" else ds.select_columns(["id", "image"]), cfg.data, cfg.data_config)
    ids = [str(x) for x in ds[cfg.id_column]]
    captions = list(ds[cfg.text_column])
    processor = CLIPImageProcessor(size={"shortest_edge": cfg.image_size},
                                   crop_size={"height": cfg.image_size, "width": cfg.image_size},
                                   image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    pixels = torch.cat([processor(images=[to_rgb(images[i], f"{cfg.data}: id {i}") for i in ids[s:s + 256]],
                                  return_tensors="pt")["pixel_values"] for s in range(0, len(ids), 256)])
    tokenizer = AutoTokenizer.from_pretrained(cfg.text_model)
    model = build_model(cfg)
    if cfg.mode == "lit":
        for name, p in model.text_model.named_parameters():
            p.requires_grad = name.startswith("pooler.")
    text_params = [p for n, p in model.text_model.named_parameters() if p.requires_grad and not n.startswith("pooler.")]
    other = [p for n, p in model.named_parameters() if p.requires_grad and not (n.startswith("text_model.")
             and not n.startswith("text_model.pooler."))]
    groups = [{"params": other, "lr": cfg.lr}] + ([{"params": text_params, "lr": cfg.text_lr}] if text_params else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    switcher = _switcher(cfg)
    rng = np.random.default_rng(cfg.seed)
    model, optimizer = accelerator.prepare(model, optimizer)
    steps_per_epoch = len(ids) // cfg.batch_size
    history, t0 = [], time.perf_counter()
    model.train()
    core = accelerator.unwrap_model(model)
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(ids))
        texts_epoch = captions
        if switcher is not None:  # a fresh draw per (epoch, caption id): dynamic code-switching
            texts_epoch = [switcher.switch(t, i, "query", epoch=epoch)[0] for t, i in zip(captions, ids)]
        if cfg.mode == "lit" and (switcher is not None or epoch == 0):  # English captions: encoded once
            cls = _frozen_cls(core, tokenizer, texts_epoch, cfg, accelerator.device)
        elif cfg.mode != "lit":
            cls = None
        total = 0.0
        for s in tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}", disable=not accelerator.is_main_process):
            idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            if cls is not None:
                hidden = cls[idx]
            else:
                enc = tokenizer([texts_epoch[i] for i in idx], padding=True, truncation=True,
                                max_length=cfg.max_length, return_tensors="pt").to(accelerator.device)
                hidden = core.text_model(**enc).last_hidden_state
            loss = symmetric_infonce(core, hidden, pixels[idx].to(accelerator.device))
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            total += float(loss.detach())
        history.append({"epoch": epoch + 1, "loss": round(total / max(steps_per_epoch, 1), 4)})
        log.info("epoch %d: loss %.4f", epoch + 1, history[-1]["loss"])
    out_dir = Path(cfg.output_dir)
    if accelerator.is_main_process:
        from csir.atomic import atomic_dir
        from model_cards.multimodal_card import render_image_text_card

        with atomic_dir(out_dir) as tmp:
            accelerator.unwrap_model(model).save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            processor.save_pretrained(tmp)
            info = {"config": dataclasses.asdict(cfg), "log_history": history, "train_rows": len(ids),
                    "train_seconds": round(time.perf_counter() - t0, 1)}
            (tmp / "training_info.json").write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
            (tmp / "README.md").write_text(render_image_text_card(info), encoding="utf-8")
        if cfg.push_to_hub:
            publish_model(cfg, out_dir)
    accelerator.wait_for_everyone()
    return out_dir
