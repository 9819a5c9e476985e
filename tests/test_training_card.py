"""Model cards: Hub-parseable YAML, model-index round trip through huggingface_hub, provenance named."""

import pytest
from huggingface_hub import EvalResult, ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results

from csir.errors import CsirError
from model_cards.dataset_card import CITATION
from model_cards.model_card import render_model_card

EVALS = [
    {"task_type": "text-ranking", "task_name": "Cross-lingual re-ranking", "dataset_type": "my-org/mmarco-eval",
     "dataset_name": "mMARCO dev (EN-DE)", "dataset_config": "eng-deu", "dataset_split": "dev",
     "dataset_revision": "0123456789abcdef0123456789abcdef01234567", "metric_type": "mrr_at_10",
     "metric_name": "MRR@10", "metric_value": 0.2513},
    {"task_type": "text-ranking", "dataset_type": "my-org/mmarco-eval", "dataset_name": "mMARCO dev (EN-IT)",
     "dataset_config": "eng-ita", "dataset_split": "dev", "metric_type": "mrr_at_10", "metric_value": 0.2401},
]


def info(objective="cross-encoder", **extra):
    base = {
        "model_name": "ce-mminilm-bl-cs-en-de",
        "objective": objective,
        "base_model": "nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large",
        "base_model_revision": "v1.0",
        "datasets": [{"path": "my-org/cs-msmarco", "name": "bl-cs-p0.5-en-de", "split": "train",
                      "revision": "v1.0.0", "resolved_revision": "a" * 40, "num_rows": 2_000_000,
                      "is_hub_id": True}],
        "language": ["en"],
        "license": "apache-2.0",
        "codeswitch": {"variant": "bl-cs", "p": 0.5, "lexicons": {"de": "my-org/lexicons"}, "query_langs": [],
                       "passage_langs": ["de"], "seed": None},
        "hyperparameters": {"seed": 3, "num_processes": 8, "distributed_type": "MULTI_GPU", "max_steps": 200000,
                            "learning_rate": 2e-5},
        "non_default": {"seed": 3, "mixed_precision": "fp16"},
        "log_history": [{"step": 500, "epoch": 0.01, "loss": 0.61, "learning_rate": 2e-6},
                        {"step": 1000, "epoch": 0.02, "loss": 0.42, "learning_rate": 4e-6}],
        "versions": {"transformers": "5.0", "torch": "2.13"},
        "eval_results": EVALS,
        "repo_id": "my-org/ce-mminilm-bl-cs-en-de",
        "version": "v1.0.0",
    }
    base.update(extra)
    return base


def test_card_yaml_parses_and_names_provenance(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(render_model_card(info()), encoding="utf-8")
    card = ModelCard.load(path)
    d = card.data.to_dict()
    assert d["base_model"] == "nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large"
    assert d["base_model_revision"] == "v1.0"
    assert d["datasets"] == ["my-org/cs-msmarco"]
    assert d["training_datasets"] == [{"path": "my-org/cs-msmarco", "name": "bl-cs-p0.5-en-de", "split": "train",
                                       "revision": "v1.0.0", "resolved_revision": "a" * 40}]
    assert d["training_seed"] == 3 and d["training_processes"] == 8
    assert d["pipeline_tag"] == "text-ranking" and d["library_name"] == "sentence-transformers"
    assert "code-switching" in d["tags"] and d["license"] == "apache-2.0"
    assert d["language"] == ["de", "en"]  # code-switching languages are added
    assert d["code_switching"]["variant"] == "bl-cs" and d["code_switching"]["p"] == 0.5
    body = card.text
    for needle in ("| variant | bl-cs |", "| p (switch probability) | 0.5 |", "`my-org/lexicons`",
                   "| `seed` | `3` |", "| 1000 | 0.02 | 0.4200 |", "- transformers: 5.0", CITATION.splitlines()[0],
                   'CrossEncoder("my-org/ce-mminilm-bl-cs-en-de", revision="v1.0.0")', "a" * 40, "8 processes"):
        assert needle in body, needle


def test_model_index_round_trips_through_hub_parser(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(render_model_card(info()), encoding="utf-8")
    card = ModelCard.load(path)
    model_index = card.data.to_dict()["model-index"]
    name, results = model_index_to_eval_results(model_index)
    assert name == "ce-mminilm-bl-cs-en-de"
    expected = [EvalResult(**row) for row in EVALS]
    assert results == expected
    assert eval_results_to_model_index(name, results) == model_index
    assert card.data.eval_results == expected
    assert "| text-ranking | mMARCO dev (EN-DE) (`my-org/mmarco-eval`@0123456789abcdef0123456789abcdef01234567)" \
        in card.text


def test_bi_encoder_card_and_no_eval_results(tmp_path):
    text = render_model_card(info("bi-encoder", eval_results=[], codeswitch=None))
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    d = ModelCard.load(path).data.to_dict()
    assert d["pipeline_tag"] == "sentence-similarity"
    assert "model-index" not in d and "code_switching" not in d
    assert "SentenceTransformer(" in text and "No on-the-fly switching" in text


def test_built_in_code_base_model_is_not_claimed_as_hub_model():
    text = render_model_card(info(base_model="tiny-random-bert", base_model_built_in_code=True))
    assert "base_model: " not in text.split("---")[1].replace("base_model_name", "")
    assert "base_model_name: tiny-random-bert" in text


def test_bad_eval_result_field_is_clear():
    with pytest.raises(CsirError, match="unknown field 'score'"):
        render_model_card(info(eval_results=[{"task_type": "x", "score": 1}]))


def test_image_text_card_names_both_towers_datasets_and_model_index(tmp_path):
    """The image-text card comes from the same code: base_model lists both towers (Hub ids), library transformers."""
    extra = {"base_model": ["my-org/text-tower", "my-org/image-tower"], "base_model_revision": None,
             "towers": [{"role": "text", "model": "my-org/text-tower", "revision": "v1", "hub_id": True,
                         "training": "frozen (LiT)"},
                        {"role": "image", "model": "my-org/image-tower", "revision": None, "hub_id": True,
                         "training": "fine-tuned"}],
             "tags": ["mode-lit"]}
    path = tmp_path / "README.md"
    path.write_text(render_model_card(info("image-text", **extra)), encoding="utf-8")
    card = ModelCard.load(path)
    d = card.data.to_dict()
    assert d["base_model"] == ["my-org/text-tower", "my-org/image-tower"]
    assert d["datasets"] == ["my-org/cs-msmarco"] and d["library_name"] == "transformers"
    assert d["pipeline_tag"] == "zero-shot-image-classification" and "mode-lit" in d["tags"]
    assert card.data.eval_results == [EvalResult(**row) for row in EVALS]
    assert "| image | [`my-org/image-tower`](https://huggingface.co/my-org/image-tower) | - | fine-tuned |" in card.text
    assert 'AutoModel.from_pretrained("my-org/ce-mminilm-bl-cs-en-de", revision="v1.0.0")' in card.text
