"""Models and losses: sentence-transformers model classes, wrapped so DDP sees one forward per step.

- Cross-encoder (paper): one logit per (query, passage), binary cross-entropy on 0/1 labels.
- Bi-encoder: in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss: cross-entropy over scaled
  cosine similarities of each query to all passages of the batch), plus optional hard negatives.
"""

from __future__ import annotations

import torch
from torch import nn

from csir.errors import CsirError, where


def check_base_model(name: str, revision: str | None, objective: str, trust_remote_code: bool = False,
                     source: str = "config") -> dict:
    """Fail before training unless `name` is an encoder usable for the objective; returns facts for the card."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_MAPPING_NAMES,
    )

    try:
        config = AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise CsirError(f"{where(source, field='model')}: cannot load the configuration of base model "
                        f"{name!r}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    model_type = getattr(config, "model_type", None)
    archs = list(getattr(config, "architectures", None) or [])
    decoder = (getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False)
               or any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs))
    mapping = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES if objective == "cross-encoder" else MODEL_MAPPING_NAMES
    if decoder or model_type not in mapping:
        kind = "a sequence-classification encoder" if objective == "cross-encoder" else "an encoder"
        raise CsirError(f"{where(source, field='model')}: base model {name!r} (model_type={model_type!r}, "
                        f"architectures={archs}) is not {kind} model, as the {objective} objective needs")
    return {"model_type": model_type, "architectures": archs,
            "max_position_embeddings": getattr(config, "max_position_embeddings", None)}


def load_model(path: str, cfg, device) -> nn.Module:
    """CrossEncoder / SentenceTransformer over the base model (its own seeded head for a fresh CE)."""
    kwargs = dict(revision=cfg.model_revision, trust_remote_code=cfg.trust_remote_code, device=str(device))
    if cfg.objective == "cross-encoder":
        from sentence_transformers import CrossEncoder

        return CrossEncoder(path, num_labels=1, max_length=cfg.max_length, **kwargs)
    from sentence_transformers import SentenceTransformer, models

    model = SentenceTransformer(path, **kwargs)
    model.max_seq_length = cfg.max_length
    if cfg.pooling != "mean":  # replace the default pooling of a plain transformer
        pooling = [i for i, m in enumerate(model) if isinstance(m, models.Pooling)]
        if pooling:
            dim = model[pooling[0]].get_sentence_embedding_dimension()
            model._modules[str(pooling[0])] = models.Pooling(dim, pooling_mode=cfg.pooling)
    return model


class CrossEncoderBCE(nn.Module):
    """One logit per pair; BCE-with-logits against the 0/1 label."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.loss_fct = nn.BCEWithLogitsLoss()

    def forward(self, features: dict, labels: torch.Tensor) -> torch.Tensor:
        scores = self.model(features)["scores"].view(-1)
        return self.loss_fct(scores.float(), labels.float())


class BiEncoderMNRL(nn.Module):
    """sentence-transformers' MultipleNegativesRankingLoss over [queries, positives, negatives_0, ...] columns.

    Embeddings are computed here (inside the module DDP wraps) and handed to the loss's
    `compute_loss_from_embeddings`, so gradients of every forward are synchronised across processes.
    """

    def __init__(self, model: nn.Module, scale: float = 20.0, gather_across_devices: bool = True):
        super().__init__()
        from sentence_transformers.losses import MultipleNegativesRankingLoss

        self.model = model
        # gathered (with gradients) across processes: with N processes every query sees N x batch candidates,
        # as one process with the global batch would; a no-op without torch.distributed
        self.loss = MultipleNegativesRankingLoss(model, scale=scale, gather_across_devices=gather_across_devices)

    def forward(self, columns: list[dict]) -> torch.Tensor:
        embeddings = [self.model(features)["sentence_embedding"].float() for features in columns]
        return self.loss.compute_loss_from_embeddings(embeddings, None)


def objective_module(model: nn.Module, cfg) -> nn.Module:
    if cfg.objective == "cross-encoder":
        return CrossEncoderBCE(model)
    # one process has nothing to gather (sentence-transformers would warn "Trying to gather while
    # torch.distributed is not available" on every run); called after Accelerator() set up the process group
    multi = torch.distributed.is_available() and torch.distributed.is_initialized() and \
        torch.distributed.get_world_size() > 1
    return BiEncoderMNRL(model, cfg.mnrl_scale, cfg.mnrl_gather_across_devices and multi)
