"""Cross-encoder from a mean-pooling encoder: a head that starts sensibly, its own learning rate, frozen word
embeddings, warmup as a fraction, and the listwise loss; a tiny model leaves the label prior in a few dozen steps."""

import math

import pytest
import torch
from smoke import ROOT
from smoke import SMOKE_CE as CE
from smoke import TRAIN_PAIRS as PAIRS

from training.config import load_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def poolerless(tmp_path_factory):
    """Tiny BERTs over the fixture's vocabulary, saved with and without a pooler (mean-pooling sentence encoders
    such as e5 and MiniLM ship none). Initialised wide (std 0.5, no dropout) so that, like a pretrained encoder and
    unlike a default random one, their first-token vector depends on the input: a head has something to learn."""
    import json

    from transformers import BertConfig, BertModel, BertTokenizer

    from csir.models.tiny import build_vocab

    root = tmp_path_factory.mktemp("bases")
    texts = [t for line in PAIRS.read_text().splitlines() for t in (json.loads(line)["query"], json.loads(line)["passage"])]
    vocab = build_vocab(texts)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, initializer_range=0.5,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    out = []
    for name, pooler in (("with", True), ("without", False)):
        torch.manual_seed(0)
        BertModel(config, add_pooling_layer=pooler).save_pretrained(root / name)
        BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=128).save_pretrained(root / name)
        out.append(root / name)
    return tuple(out)


def _cfg(tmp_path, model, **over):
    over = {"output_dir": str(tmp_path / "m"), "data.path": str(PAIRS), "model": str(model), "tracker": None,
            "save_steps": 1000, **over}
    return load_config(CE, list(over.items()))


def test_pooler_and_bias_start_sensibly(tmp_path, poolerless):
    from training.objectives import checkpoint_has_pooler, load_model, objective_module, parameter_groups

    with_pooler, without = poolerless
    assert checkpoint_has_pooler(str(with_pooler)) is True and checkpoint_has_pooler(str(without)) is False
    cfg = _cfg(tmp_path, without, ce_pooler_init="auto", head_learning_rate=1e-2, freeze_word_embeddings=True)
    model = load_model(str(without), cfg, torch.device("cpu"))
    hf = model.model
    dense = hf.bert.pooler.dense
    assert torch.equal(dense.weight, torch.eye(dense.weight.shape[0])) and not dense.bias.any()
    assert hf.classifier.bias.item() == pytest.approx(-math.log(4)) and not hf.classifier.weight.any()  # the prior
    assert not hf.get_input_embeddings().weight.requires_grad
    groups = parameter_groups(objective_module(model, cfg), cfg)
    ids = {id(p) for g in groups for p in g["params"]}
    assert id(hf.get_input_embeddings().weight) not in ids  # frozen: no optimizer state at all
    head = [g for g in groups if g["lr"] == 1e-2]
    assert {id(p) for g in head for p in g["params"]} == {id(p) for n, p in hf.named_parameters()
                                                          if "pooler" in n or "classifier" in n}
    # a checkpoint that has its pooler keeps it under `auto`
    kept = load_model(str(with_pooler), _cfg(tmp_path, with_pooler, ce_pooler_init="auto"), torch.device("cpu"))
    assert not torch.equal(kept.model.bert.pooler.dense.weight, torch.eye(dense.weight.shape[0]))


def test_warmup_ratio_and_bad_values(tmp_path):
    from csir.errors import CsirError

    assert _cfg(tmp_path, "tiny-random-bert", warmup_ratio=0.1, max_steps=400).effective_warmup_steps == 40
    assert _cfg(tmp_path, "tiny-random-bert", warmup_steps=7).effective_warmup_steps == 7
    for field, value in (("ce_loss", "pairwise"), ("ce_pooler_init", "mean"), ("warmup_ratio", 1.5),
                         ("head_learning_rate", 0)):
        with pytest.raises(CsirError, match=field):
            _cfg(tmp_path, "tiny-random-bert", **{field: value})
    with pytest.raises(CsirError, match="batch_size"):
        _cfg(tmp_path, "tiny-random-bert", ce_loss="listwise", batch_size=4)


@pytest.mark.parametrize("loss", ["bce", "listwise"])
def test_a_tiny_model_leaves_the_label_prior_within_a_few_dozen_steps(tmp_path, poolerless, loss):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from reproduce_report import prior_loss

    from training.loop import train

    _, without = poolerless
    cfg = _cfg(tmp_path, without, ce_loss=loss, ce_pooler_init="auto", max_steps=60, batch_size=20,
               learning_rate=3e-3, head_learning_rate=3e-2, warmup_ratio=0.1, logging_steps=5, max_length=64)
    result = train(cfg)
    losses = [e["loss"] for e in result.log_history]
    prior = prior_loss({"ce_loss": loss}, 4)
    assert abs(losses[0] - prior) < 0.1 * prior  # starts at the prior (zero weights, bias = its logit)
    assert sum(losses[-3:]) / 3 < 0.9 * prior, losses


@pytest.mark.parametrize("loss", ["bce", "listwise"])
def test_code_switched_queries_keep_their_negatives(loss, caplog):
    """#14: with queries switched per row, grouping rows by query text kept 2,421 of 32,000 negatives of a BL-CS
    set (77% positives) and 34 of 8,000 listwise groups. Switched once per query, every negative stays; data
    switched per row is warned about."""
    import datasets

    from builders.codeswitch import CodeSwitchConfig, CodeSwitcher, codeswitch_dataset
    from builders.lexicons.base import Lexicon
    from training.config import TrainConfig
    from training.data import shape_examples

    lex = Lexicon.from_pairs([("search", "suche", 1.0), ("engine", "maschine", 1.0), ("fast", "schnell", 1.0),
                              ("house", "haus", 1.0), ("new", "neu", 1.0)], "en", "de")
    sw = CodeSwitcher(CodeSwitchConfig(variant="bl-cs", query_langs=["de"], passage_langs=[], p=0.5, seed=1),
                      {"de": lex})
    rows = {"id": [], "query": [], "passage": [], "label": []}
    for q in range(40):
        for k in range(5):
            rows["id"].append(f"q{q}" if k == 0 else f"q{q}#neg{k - 1}")
            rows["query"].append(f"fast search engine for the new house number {q}")
            rows["passage"].append(f"passage {q}-{k}")
            rows["label"].append(1.0 if k == 0 else 0.0)
    data, _, _ = codeswitch_dataset(datasets.Dataset.from_dict(rows), sw)
    cfg = TrainConfig(objective="cross-encoder", ce_loss=loss, batch_size=20)
    out = shape_examples(data, cfg)
    assert sorted(out["label"]).count(0.0) == 160 and len(out) == 200
    assert "negatives share a query text" not in caplog.text
    per_row = codeswitch_dataset(datasets.Dataset.from_dict({**rows, "id": [str(i) for i in range(200)]}), sw)[0]
    if loss == "bce":  # the same data switched per row: most negatives lost, and a warning says why
        kept = shape_examples(per_row, cfg)
        assert sorted(kept["label"]).count(0.0) < 80 and "negatives share a query text" in caplog.text
