"""The LiT dual encoder (locked image tower + trainable text tower + two projections) as a transformers model.

Saved with `save_pretrained` (config.json + model.safetensors, the locked tower's weights included, plus tokenizer
and image processor), so one folder or Hub repo holds everything `csir evaluate` needs: importing this module
registers `model_type: csir-lit` with AutoConfig/AutoModel, and the model offers CLIP's `get_text_features` /
`get_image_features`. Text embeddings are mean-pooled over the attention mask (e5's and MiniLM's pooling); the
prompts the text tower expects (e5: `query: ` / `passage: `) are kept in the config for the encoder to prepend.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

from csir.errors import CsirError

from .image_towers import EfficientNetLite, load_tower, tower_spec

MODEL_TYPE = "csir-lit"


class LitConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(self, vision_config: dict | None = None, text_config: dict | None = None, projection_dim: int = 256,
                 prompts: dict | None = None, logit_scale_init_value: float = math.log(1 / 0.07), **kwargs):
        super().__init__(**kwargs)
        self.vision_config = dict(vision_config or {"tower": "efficientnet-lite0"})
        self.text_config = dict(text_config or {})
        self.projection_dim = projection_dim
        self.prompts = dict(prompts or {})
        self.logit_scale_init_value = logit_scale_init_value


def _text_config(cfg: dict):
    cfg = dict(cfg)
    model_type = cfg.pop("model_type", None)
    if not model_type:
        raise CsirError("csir-lit config: field 'text_config.model_type' missing")
    return AutoConfig.for_model(model_type, **cfg)


class LitDualEncoder(PreTrainedModel):
    """CLIP-style interface over a locked `EfficientNetLite` and any transformers text encoder."""

    config_class = LitConfig
    base_model_prefix = "lit"
    main_input_name = "input_ids"

    def __init__(self, config: LitConfig):
        super().__init__(config)
        spec = tower_spec(config.vision_config.get("tower", ""), "config.json: field 'vision_config.tower'")
        self.vision_model = EfficientNetLite(num_classes=0)
        self.text_model = AutoModel.from_config(_text_config(config.text_config), add_pooling_layer=False) \
            if config.text_config.get("model_type") == "bert" else AutoModel.from_config(_text_config(config.text_config))
        self.visual_projection = nn.Linear(spec.feature_dim, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(self.text_model.config.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        for p in self.vision_model.parameters():
            p.requires_grad_(False)
        self.post_init()

    def _init_weights(self, module):
        if module in (getattr(self, "visual_projection", None), getattr(self, "text_projection", None)):
            nn.init.normal_(module.weight, std=module.in_features ** -0.5)

    def train(self, mode: bool = True):
        """The image tower is locked: its batch norms always use their ImageNet statistics."""
        super().train(mode)
        self.vision_model.eval()
        return self

    @classmethod
    def from_towers(cls, text_model: str, image_tower: str = "efficientnet-lite0", projection_dim: int = 256,
                    prompts: dict | None = None, seed: int | None = None) -> "LitDualEncoder":
        """A fresh LiT model: pretrained text encoder (folder or Hub id) + the package's pretrained tower."""
        try:
            text = AutoModel.from_pretrained(text_model)
        except (OSError, ValueError) as exc:
            raise CsirError(f"text_model: cannot load '{text_model}' ({exc.__class__.__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        spec = tower_spec(image_tower)
        tcfg = text.config.to_dict()
        config = LitConfig(vision_config={"tower": spec.name, "resolution": spec.resolution,
                                          "feature_dim": spec.feature_dim},
                           text_config=tcfg, projection_dim=projection_dim,
                           prompts=prompts if prompts is not None else read_prompts(text_model))
        if seed is not None:
            torch.manual_seed(seed)
        model = cls(config)
        model.text_model.load_state_dict(text.state_dict(), strict=False)
        tower = load_tower(spec.name)
        model.vision_model.load_state_dict({k: v for k, v in tower.state_dict().items() if not k.startswith("_fc.")},
                                           strict=True)
        return model

    def mean_pool(self, input_ids, attention_mask, **kw) -> torch.Tensor:
        out = self.text_model(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None, **kw) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.text_projection(self.mean_pool(input_ids, attention_mask, **extra))

    def get_image_features(self, pixel_values=None, image_features=None, **kw) -> torch.Tensor:
        """Projected image embedding from pixels, or from the tower's cached pooled features."""
        if image_features is None:
            with torch.no_grad():
                image_features = self.vision_model.features(pixel_values)
        return self.visual_projection(image_features.to(self.visual_projection.weight.dtype))

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, image_features=None, **kw):
        """Symmetric InfoNCE loss over the batch (text i belongs with image i); returns {'loss', 'logits'}."""
        t = F.normalize(self.get_text_features(input_ids, attention_mask, **kw), dim=-1)
        i = F.normalize(self.get_image_features(pixel_values, image_features), dim=-1)
        logits = t @ i.T * self.logit_scale.exp().clamp(max=100)
        target = torch.arange(len(t), device=t.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        return {"loss": loss, "logits": logits}


def read_prompts(text_model: str) -> dict:
    """{'query': ..., 'document': ...} from a sentence-transformers folder's saved prompts ({} when none)."""
    path = Path(text_model) / "config_sentence_transformers.json"
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
    except json.JSONDecodeError:
        return {}
    doc = next((saved[k] for k in ("document", "passage", "corpus") if saved.get(k)), None)
    return {k: v for k, v in (("query", saved.get("query")), ("document", doc)) if v}


def register() -> None:
    """Make AutoConfig / AutoModel know `csir-lit` (idempotent)."""
    try:
        AutoConfig.register(MODEL_TYPE, LitConfig)
        AutoModel.register(LitConfig, LitDualEncoder)
    except ValueError:
        pass


register()
