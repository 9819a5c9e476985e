"""The first-token last-layer shortcut: the same logits as the full forward pass, or not used at all."""

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

from evaluation.first_token import FirstTokenLayer, first_token_last_layer, last_layer_slot

SMALL = dict(vocab_size=300, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=128, num_labels=1)


def _batch(seed=0, batch=6, length=40):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 300, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    for row, keep in enumerate(torch.randint(3, length, (batch,), generator=g).tolist()):
        mask[row, keep:] = 0  # right padding of different lengths
    ids[mask == 0] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("make", [
    lambda a: BertForSequenceClassification(BertConfig(**SMALL, attn_implementation=a)),
    lambda a: XLMRobertaForSequenceClassification(XLMRobertaConfig(**SMALL, pad_token_id=1, attn_implementation=a)),
    lambda a: ElectraForSequenceClassification(ElectraConfig(**SMALL, embedding_size=32, attn_implementation=a)),
], ids=["bert", "xlm-roberta", "electra"])
def test_same_logits_as_the_full_forward(make, attn):
    torch.manual_seed(0)
    model = make(attn).eval()
    feats = _batch()
    with torch.inference_mode():
        full = model(**feats).logits
        with first_token_last_layer(model) as applied:
            assert applied and isinstance(model.base_model.encoder.layer[-1], FirstTokenLayer)
            fast = model(**feats).logits
    assert not isinstance(model.base_model.encoder.layer[-1], FirstTokenLayer)  # restored
    assert torch.allclose(full, fast, atol=1e-6), (full - fast).abs().max()
    assert full.abs().max() > 1e-3  # not a degenerate all-zero head


def test_other_architectures_keep_the_full_pass():
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=300, dim=32, n_layers=2, n_heads=4,
                                                                 hidden_dim=64, num_labels=1))
    assert last_layer_slot(model) is None
    with first_token_last_layer(model) as applied:
        assert not applied


class _OtherTokens(torch.nn.Module):
    """Heads reading tokens after the first (never padding): the shortcut changes their scores or fails."""

    def __init__(self, pooler, mode):
        super().__init__()
        self.pooler, self.mode = pooler, mode

    def forward(self, hidden_states):
        if self.mode == "sum01":
            return self.pooler(hidden_states[:, :2].sum(dim=1, keepdim=True))
        return self.pooler(hidden_states[:, 1:])  # token 1: an IndexError on a one-token output


def test_scorer_checks_scores_before_using_the_shortcut(tmp_path, caplog):
    from sentence_transformers import CrossEncoder
    from transformers import BertTokenizerFast

    from evaluation.search import CrossEncoderScorer

    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(200)]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "ce")
    BertForSequenceClassification(BertConfig(**SMALL)).save_pretrained(tmp_path / "ce")
    pairs = [(f"w{i} w{i + 1}", " ".join(f"w{(i * j) % 200}" for j in range(i % 30 + 2))) for i in range(60)]
    for head in (None, "sum01", "token1"):
        ce = CrossEncoder(str(tmp_path / "ce"), device="cpu")
        if head:
            ce.model.bert.pooler = _OtherTokens(ce.model.bert.pooler, head)
        scorer = CrossEncoderScorer(ce, max_tokens=256)
        got = scorer.score(pairs)
        ref = ce.predict(pairs, show_progress_bar=False)
        assert np.allclose(got, ref, atol=1e-6)
        assert scorer.first_token is (head is None)
    assert "changes the scores" in caplog.text
    off = CrossEncoderScorer(ce, first_token=False)
    assert np.allclose(off.score(pairs), ref, atol=1e-6) and off.first_token is False
