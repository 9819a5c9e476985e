"""Models and losses: sentence-transformers model classes, wrapped so DDP sees one forward per step.

- Cross-encoder (paper): one logit per (query, passage), binary cross-entropy on 0/1 labels; or listwise: a
  softmax over one positive and its negatives (cross-entropy, the positive as target). A base model saved without
  a pooler (mean-pooling encoders such as e5) gets an identity-initialised pooler, so its head starts from the
  encoder's own first-token vector instead of a random projection.
- Bi-encoder: in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss: cross-entropy over scaled
  cosine similarities of each query to all passages of the batch), plus optional hard negatives.
"""

from __future__ import annotations

import torch
from torch import nn

from csir.models.text import check_base_model, load_trainable

__all__ = ["BiEncoderMNRL", "CrossEncoderBCE", "check_base_model", "load_model", "objective_module"]


def load_model(path: str, cfg, device) -> nn.Module:
    """The run's starting model from `csir.models` (the one loader): CrossEncoder / SentenceTransformer; a fresh
    cross-encoder head starts sensibly (`init_cross_encoder_head`), word embeddings optionally frozen."""
    model = load_trainable(path, cfg.objective, revision=cfg.model_revision, trust_remote_code=cfg.trust_remote_code,
                           device=str(device), max_length=cfg.max_length, pooling=cfg.pooling,
                           allow_pickle=cfg.allow_pickle)
    if cfg.objective == "cross-encoder":
        init_cross_encoder_head(model.model, path, cfg)
        if getattr(cfg, "freeze_word_embeddings", False):
            model.model.get_input_embeddings().weight.requires_grad_(False)
    elif getattr(cfg, "freeze_word_embeddings", False):
        model[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    return model


def checkpoint_has_pooler(path: str) -> bool | None:
    """Whether a local checkpoint stores pooler weights (None when it cannot be told: a Hub id, no safetensors)."""
    from pathlib import Path

    files = sorted(Path(path).glob("*.safetensors")) if Path(path).is_dir() else []
    if not files:
        return None
    from safetensors import safe_open

    for f in files:
        with safe_open(str(f), "pt") as fh:
            if any(".pooler." in k or k.startswith("pooler.") for k in fh.keys()):
                return True
    return False


def init_cross_encoder_head(hf_model: nn.Module, path: str, cfg) -> str:
    """Start the head sensibly; returns what was done (recorded nowhere else, so tests can check it).

    `ce_pooler_init: auto` (default): a pooler missing from the checkpoint (mean-pooling encoders: e5, MiniLM
    sentence models) is set to the identity (dense = I, bias 0; BERT's pooler is tanh(W h + b)), so the one-logit
    classifier reads the encoder's own first-token vector rather than a random rotation of it; `identity` forces
    it, `keep` leaves transformers' random init. Unless `keep`, the classifier starts at zero weights and the label
    prior's logit (1 : N) as bias, so the first loss is exactly the prior's and every step away from it is learning.
    """
    import math

    import torch

    mode = getattr(cfg, "ce_pooler_init", "keep")
    pooler = getattr(getattr(hf_model, "base_model", hf_model), "pooler", None)
    dense = getattr(pooler, "dense", None)
    done = "kept"
    if dense is not None and (mode == "identity" or (mode == "auto" and checkpoint_has_pooler(path) is False)):
        with torch.no_grad():
            dense.weight.copy_(torch.eye(dense.weight.shape[0], dense.weight.shape[1]))
            dense.bias.zero_()
        done = "identity"
    classifier = getattr(hf_model, "classifier", None)
    out = classifier if isinstance(classifier, nn.Linear) else getattr(classifier, "out_proj", None)
    if mode != "keep" and isinstance(out, nn.Linear) and out.out_features == 1:
        negatives = max(1, int(getattr(cfg, "negatives_per_positive", 4)))
        with torch.no_grad():
            out.weight.zero_()  # the first scores are the prior whatever the input; the head learns from there
            out.bias.fill_(-math.log(negatives))  # logit of 1 / (1 + N)
    return done


def is_head_parameter(name: str) -> bool:
    """The cross-encoder's head: pooler and classifier (trained at `head_learning_rate`)."""
    return ".pooler." in name or ".classifier." in name or name.startswith(("pooler.", "classifier."))


def parameter_groups(module: nn.Module, cfg) -> list[dict]:
    """AdamW groups: no weight decay on biases and norms; the head at its own learning rate; frozen weights left
    out entirely (no optimizer state: a frozen 96M-parameter word-embedding matrix costs no Adam work)."""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    head_lr = getattr(cfg, "head_learning_rate", None)
    groups: dict[tuple, list] = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        head = head_lr is not None and cfg.objective == "cross-encoder" and is_head_parameter(name)
        groups.setdefault((head, name.endswith(no_decay)), []).append(param)
    return [{"params": params, "weight_decay": 0.0 if nd else cfg.weight_decay,
             "lr": head_lr if head else cfg.learning_rate}
            for (head, nd), params in sorted(groups.items())]


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


class CrossEncoderListwise(nn.Module):
    """Listwise cross-entropy: batches hold whole groups of 1 positive + N negatives (rows in that order), the
    group's logits go through a softmax and the positive is the target (as ranking losses of re-rankers do)."""

    def __init__(self, model: nn.Module, group_size: int):
        super().__init__()
        self.model = model
        self.group_size = group_size

    def forward(self, features: dict, labels: torch.Tensor) -> torch.Tensor:
        scores = self.model(features)["scores"].view(-1, self.group_size).float()
        target = labels.view(-1, self.group_size).argmax(dim=1)
        return nn.functional.cross_entropy(scores, target)


def objective_module(model: nn.Module, cfg) -> nn.Module:
    if cfg.objective == "cross-encoder":
        if getattr(cfg, "ce_loss", "bce") == "listwise":
            return CrossEncoderListwise(model, 1 + cfg.negatives_per_positive)
        return CrossEncoderBCE(model)
    # one process has nothing to gather (sentence-transformers would warn "Trying to gather while
    # torch.distributed is not available" on every run); called after Accelerator() set up the process group
    multi = torch.distributed.is_available() and torch.distributed.is_initialized() and \
        torch.distributed.get_world_size() > 1
    return BiEncoderMNRL(model, cfg.mnrl_scale, cfg.mnrl_gather_across_devices and multi)
