"""Models and losses: sentence-transformers model classes, wrapped so DDP sees one forward per step.

- Cross-encoder (paper): one logit per (query, passage), binary cross-entropy on 0/1 labels.
- Bi-encoder: in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss: cross-entropy over scaled
  cosine similarities of each query to all passages of the batch), plus optional hard negatives.
"""

from __future__ import annotations

import torch
from torch import nn

from csir.models.text import check_base_model, load_trainable

__all__ = ["BiEncoderMNRL", "CrossEncoderBCE", "check_base_model", "load_model", "objective_module"]


def load_model(path: str, cfg, device) -> nn.Module:
    """The run's starting model from `csir.models` (the one loader): CrossEncoder / SentenceTransformer."""
    return load_trainable(path, cfg.objective, revision=cfg.model_revision, trust_remote_code=cfg.trust_remote_code,
                          device=str(device), max_length=cfg.max_length, pooling=cfg.pooling,
                          allow_pickle=cfg.allow_pickle)


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
