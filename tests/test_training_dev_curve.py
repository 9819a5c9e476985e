"""`eval_steps`: training scores a dev set every N steps (rank 0) with the evaluator `csir evaluate` uses, and logs
the curve to TensorBoard, `<run_dir>/dev_curve.json` and a plot referenced from the model card."""

import json
from pathlib import Path

import pytest
from smoke import SMOKE_BE as BE
from smoke import SMOKE_CE as CE
from smoke import TRAIN_PAIRS as PAIRS

from csir.errors import CsirError
from training.config import load_config
from training.loop import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build_dev_set(out: Path) -> Path:
    """The fixture pairs as a retrieval set in MTEB's layout: subset `eng-eng`, each query's 5 pairs as top_ranked."""
    from datasets import Dataset

    from builders.repo_writer import write_dataset_repo

    rows = [json.loads(x) for x in PAIRS.read_text().splitlines()]
    docs, queries, qrels, top = {}, {}, [], {}
    for r in rows:
        did = docs.setdefault(r["passage"], f"d{len(docs)}")
        qid = queries.setdefault(r["query"], f"q{len(queries)}")
        top.setdefault(qid, []).append(did)
        if r["label"] > 0:
            qrels.append({"query-id": qid, "corpus-id": did, "score": 1})
    configs = {
        "eng-eng-corpus": {"test": Dataset.from_dict({"id": list(docs.values()), "text": list(docs)})},
        "eng-eng-queries": {"test": Dataset.from_dict({"id": list(queries.values()), "text": list(queries)})},
        "eng-eng-qrels": {"test": Dataset.from_list(qrels)},
        "eng-eng-top_ranked": {"test": Dataset.from_dict({"query-id": list(top), "corpus-ids": list(top.values())})},
    }
    return write_dataset_repo(out, configs, card={"pretty_name": "dev pairs", "license": "apache-2.0"},
                              manifest={"builder": "tests"})


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory):
    return build_dev_set(tmp_path_factory.mktemp("dev") / "dev-set")


def _cfg(path, out, dev, **over):
    over = {"output_dir": str(out), "data.path": str(PAIRS), "max_steps": 12, "save_steps": 100,
            "logging_steps": 4, "eval_dataset.path": str(dev), "eval_dataset.metrics": "RR@10,nDCG@10", **over}
    return load_config(path, list(over.items()))


def test_cross_encoder_curve_json_tensorboard_plot_and_card(dev_set, tmp_path):
    from huggingface_hub import ModelCard
    from sentence_transformers import CrossEncoder
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from evaluation.evaluator import RetrievalEvaluator

    out = tmp_path / "model"
    result = train(_cfg(CE, out, dev_set, eval_steps=5, tracker="tensorboard"))
    assert result.steps == 12
    doc = json.loads((tmp_path / "model.run" / "dev_curve.json").read_text())
    assert doc["primary_metric"] == "RR@10" and doc["subsets"] == ["eng-eng"] and doc["dataset"] == str(dev_set)
    assert [p["step"] for p in doc["curve"]] == [5, 10, 12]  # every 5 steps and after the last
    for point in doc["curve"]:
        assert set(point["metrics"]) == {"RR@10", "nDCG@10", "eng-eng/RR@10", "eng-eng/nDCG@10"}
        assert 0.2 <= point["metrics"]["RR@10"] <= 1.0  # 5 candidates per query: never below 1/5
    # the last point is the saved model's score, measured again from disk
    again = RetrievalEvaluator(dev_set, metrics=["RR@10", "nDCG@10"])(CrossEncoder(str(out), device="cpu"))
    assert again == pytest.approx(doc["curve"][-1]["metrics"], abs=1e-6)

    dev_events = []
    for f in (tmp_path / "model.run" / "logs").rglob("events.out.tfevents.*"):
        events = EventAccumulator(str(f))
        events.Reload()
        if "dev/RR@10" in events.Tags()["scalars"]:
            dev_events += events.Scalars("dev/RR@10")
    assert [e.step for e in dev_events] == [5, 10, 12]
    assert [e.value for e in dev_events] == pytest.approx([p["metrics"]["RR@10"] for p in doc["curve"]])

    png = (out / "dev_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    card = ModelCard.load(out / "README.md")
    assert "![dev-set learning curve](dev_curve.png)" in card.text
    assert f"| 10 | {doc['curve'][1]['metrics']['RR@10']:.4f} |" in card.text
    results = {(r.dataset_config, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert results[("eng-eng", "RR@10")] == pytest.approx(doc["curve"][-1]["metrics"]["RR@10"], abs=1e-6)
    state = json.loads((out / "trainer_state.json").read_text())
    assert [p["step"] for p in state["dev_curve"]] == [5, 10, 12]


def test_evaluating_does_not_change_what_is_trained(dev_set, tmp_path):
    """RNG streams are restored around each evaluation: the bi-encoder trains to the same bytes with or without."""
    from safetensors.torch import load_file

    with_eval = train(_cfg(BE, tmp_path / "a", dev_set, eval_steps=4, tracker=None))
    without = train(_cfg(BE, tmp_path / "b", dev_set, tracker=None))
    a, b = load_file(with_eval.output_dir / "model.safetensors"), load_file(without.output_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    curve = json.loads((tmp_path / "a.run" / "dev_curve.json").read_text())["curve"]
    assert [p["step"] for p in curve] == [4, 8, 12] and not (tmp_path / "b.run" / "dev_curve.json").exists()


def test_eval_at_start_scores_the_base_model_first_and_trains_the_same(dev_set, tmp_path):
    """`eval_at_start`: step 0 is the untrained model's score (the level a curve must leave), and scoring it does
    not change what is trained."""
    from safetensors.torch import load_file

    from evaluation.evaluator import RetrievalEvaluator
    from training.objectives import load_model

    cfg = _cfg(BE, tmp_path / "a", dev_set, eval_steps=6, eval_at_start=True, tracker=None)
    with_start = train(cfg)
    without = train(_cfg(BE, tmp_path / "b", dev_set, tracker=None))
    a, b = load_file(with_start.output_dir / "model.safetensors"), load_file(without.output_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    curve = json.loads((tmp_path / "a.run" / "dev_curve.json").read_text())["curve"]
    assert [p["step"] for p in curve] == [0, 6, 12]
    base_model = load_model(str(tmp_path / "a.run" / "base-model" / cfg.model), cfg, "cpu")  # as the run built it
    base = RetrievalEvaluator(dev_set, metrics=["RR@10", "nDCG@10"])(base_model.eval())
    assert base == pytest.approx(curve[0]["metrics"], abs=1e-6)
    assert curve[0]["metrics"] != curve[-1]["metrics"]


def test_eval_steps_needs_a_dev_set(tmp_path):
    with pytest.raises(CsirError, match=r"eval_dataset.path.* is required with eval_steps"):
        load_config(CE, [("eval_steps", 5), ("output_dir", str(tmp_path / "m"))])
    with pytest.raises(CsirError, match=r"eval_dataset.first_stage.* must be one of"):
        load_config(CE, [("eval_steps", 5), ("eval_dataset.path", "x"), ("eval_dataset.first_stage", "bm26")])
