"""Cross-encoder scoring that computes the last encoder layer for the first token only.

A sequence-classification head of the BERT family (BERT's pooler, RoBERTa/XLM-R/ELECTRA's classification head)
reads only the first token's final hidden state. The last layer still needs keys and values of every token, but
its query projection, attention output and feed-forward (about 5/6 of the layer) are needed for that one token:
for a 6-layer MiniLM that is about an eighth of the model's work, with the same scores up to float rounding.
Models of other architectures, or whose scores differ on the first batch, keep the ordinary forward pass.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import torch

log = logging.getLogger(__name__)

# model types whose sequence-classification head reads only hidden_states[:, 0]
FIRST_TOKEN_HEADS = ("bert", "roberta", "xlm-roberta", "electra", "camembert")


class FirstTokenLayer(torch.nn.Module):
    """Wraps a BERT-style encoder layer: keys/values over all tokens, everything else for token 0 only."""

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        attention, sa = self.layer.attention, self.layer.attention.self
        batch, length, _ = hidden_states.shape
        head = sa.attention_head_size
        first = hidden_states[:, :1]
        query = sa.query(first).view(batch, 1, -1, head).transpose(1, 2)
        key = sa.key(hidden_states).view(batch, length, -1, head).transpose(1, 2)
        value = sa.value(hidden_states).view(batch, length, -1, head).transpose(1, 2)
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = attention_mask[:, :, :1, :]  # the first query row of a (B, 1, L, L) mask
        eager = sys.modules[type(sa).__module__].eager_attention_forward
        attend = ALL_ATTENTION_FUNCTIONS.get_interface(sa.config._attn_implementation, eager)
        out, _ = attend(sa, query, key, value, attention_mask, dropout=0.0, scaling=sa.scaling)
        out = attention.output(out.reshape(batch, 1, -1), first)
        return self.layer.output(self.layer.intermediate(out), out)


def last_layer_slot(model) -> tuple[torch.nn.ModuleList, int] | None:
    """(layer list, index) of the last encoder layer when the shortcut applies to `model`, else None."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in FIRST_TOKEN_HEADS:
        return None
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return None
    layers = getattr(getattr(getattr(model, "base_model", None), "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return None
    last = layers[-1]
    sa = getattr(getattr(last, "attention", None), "self", None)
    needed = [(sa, ("query", "key", "value", "attention_head_size", "scaling", "config")),
              (last, ("intermediate", "output")), (getattr(last, "attention", None), ("output",))]
    if sa is None or not all(hasattr(obj, name) for obj, names in needed for name in names):
        return None
    if type(sa).__module__ not in sys.modules or not hasattr(sys.modules[type(sa).__module__], "eager_attention_forward"):
        return None
    return layers, len(layers) - 1


@contextlib.contextmanager
def first_token_last_layer(model, enabled: bool = True):
    """Within the block, `model`'s last encoder layer computes token 0 only; yields whether it does."""
    slot = last_layer_slot(model) if enabled else None
    if slot is None:
        yield False
        return
    layers, i = slot
    original = layers[i]
    layers[i] = FirstTokenLayer(original)
    try:
        yield True
    finally:
        layers[i] = original
