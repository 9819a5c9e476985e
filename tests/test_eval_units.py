"""Model detection and prompts, cross-encoder batching, the encode cache, significance, the `evaluate` module."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from builders.evalsets.tasks import Pair, default_pairs, pair_from_subset, parse_pair
from csir.errors import CsirError
from csir.models import ModelSpec, detect_kind, load_model
from evaluation.encode_cache import EncodeCache
from evaluation.significance import bonferroni, compare, paired_test

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder, build_cross_encoder, build_decoder, build_plain_encoder  # noqa: E402

METRIC = Path(__file__).parents[1] / "evaluation" / "metric" / "csir_retrieval.py"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalmodels")
    return {"st": build_bi_encoder(root / "st"), "st_prompts": build_bi_encoder(root / "stp", prompts={"query": "query: ", "passage": "passage: "}),
            "plain": build_plain_encoder(root / "plain"), "ce": build_cross_encoder(root / "ce"),
            "ce_hf": build_cross_encoder(root / "cehf", sentence_transformers_format=False),
            "dec": build_decoder(root / "dec"), "root": root}


def test_detect_kinds(models):
    assert detect_kind(models["st"]) == "bi-encoder"
    assert detect_kind(models["plain"]) == "bi-encoder"
    assert detect_kind(models["ce"]) == "cross-encoder"
    assert detect_kind(models["ce_hf"]) == "cross-encoder"
    with pytest.raises(CsirError, match="GPT2LMHeadModel is neither"):
        detect_kind(models["dec"])


def test_remote_code_needs_the_flag(models, tmp_path):
    import shutil

    folder = tmp_path / "remote"
    shutil.copytree(models["plain"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_x.XModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CsirError, match="--trust-remote-code"):
        detect_kind(folder)
    assert detect_kind(folder, trust_remote_code=True) == "bi-encoder"


def test_two_label_classifier_is_refused(models, tmp_path):
    import shutil

    folder = tmp_path / "cls2"
    shutil.copytree(models["ce_hf"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["id2label"] = {"0": "a", "1": "b"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CsirError, match="2 labels"):
        detect_kind(folder)


def test_prompts_are_honoured(models):
    m = load_model(ModelSpec(str(models["st_prompts"])))
    assert m.prompts == {"query": "query: ", "document": "passage: "}
    text = ["debian package manager tools"]
    q = m.encode(text, "query")
    d = m.encode(text, "document")
    raw = m.model.encode(["query: " + text[0]], normalize_embeddings=True)
    assert np.allclose(q, raw, atol=1e-6) and not np.allclose(q, d)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    m2 = load_model(ModelSpec(str(models["st_prompts"]), query_prompt="", passage_prompt=""))
    assert m2.prompts == {} and np.allclose(m2.encode(text, "query"), m2.encode(text, "document"))
    assert ModelSpec.parse("org/name@v1").revision == "v1" and ModelSpec.parse("org/name@v1", "main").revision == "main"


def test_plain_folder_revision_is_refused(models):
    with pytest.raises(CsirError, match="plain folder"):
        load_model(ModelSpec(str(models["st"]), revision="v1"))


def test_cross_encoder_scores_equal_predict(models):
    from evaluation.search import CrossEncoderScorer

    m = load_model(ModelSpec(str(models["ce"])))
    pairs = [(f"query {i} debian", "passage words " * (i % 37 + 1) + "end") for i in range(150)]
    scorer = CrossEncoderScorer(m.model, max_tokens=2048)
    ours = scorer.score(pairs)
    ref = m.model.predict(pairs, show_progress_bar=False)
    assert np.allclose(ours, ref, atol=1e-6)
    assert np.allclose(scorer.score(pairs, chunk=40), ref, atol=1e-6)  # chunked tokenization, same order
    lengths = np.array([5, 50, 7, 120, 120, 3])
    batches = scorer.batches(lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))
    assert all(len(b) * lengths[b].max() <= 2048 for b in batches)


def test_encode_cache_encodes_each_text_once(tmp_path):
    calls = []

    def enc(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EncodeCache(tmp_path)
    ns = EncodeCache.namespace(model="m", revision="r", side="query")
    a = cache.get(ns, ["aa", "b", "aa"], enc)
    b = cache.get(ns, ["b", "ccc"], enc)
    assert calls == [["aa", "b"], ["ccc"]] and a[:, 0].tolist() == [2, 1, 2] and b[:, 0].tolist() == [1, 3]
    fresh = EncodeCache(tmp_path)  # from disk: no model work
    c = fresh.get(ns, ["ccc", "aa"], lambda t: pytest.fail("re-encoded"))
    assert c[:, 0].tolist() == [3, 2] and fresh.encoded == 0
    other = EncodeCache.namespace(model="m", revision="r2", side="query")
    assert other != ns and fresh.get(other, ["aa"], enc)[0, 0] == 2 and calls[-1] == ["aa"]


def test_paired_tests_and_bonferroni():
    rng = np.random.default_rng(0)
    base = {f"q{i}": float(v) for i, v in enumerate(rng.random(200))}
    better = {q: min(1.0, v + 0.2) for q, v in base.items()}
    same = paired_test("s", "RR@10", base, base)
    assert same.p_ttest == 1.0 and same.p_randomization == 1.0
    t = paired_test("s", "RR@10", better, base)
    from scipy import stats

    assert t.p_ttest == pytest.approx(stats.ttest_rel(list(better.values()), list(base.values())).pvalue)
    assert t.p_ttest < 1e-6 and t.p_randomization < 0.01 and t.delta > 0.1
    noisy = {q: v + rng.normal(0, 0.3) for q, v in base.items()}
    tests = bonferroni([paired_test("a", "RR@10", better, base), paired_test("b", "RR@10", noisy, base)])
    assert tests[0].p_ttest_bonferroni == pytest.approx(min(1, 2 * tests[0].p_ttest)) and tests[0].significant
    missing = paired_test("s", "RR@10", {"q1": 1.0}, {"q1": 1.0, "q2": 1.0})  # q2 missing in the model: 0
    assert missing.mean_model == 0.5 and missing.n == 2
    res = [{"task_name": "t", "subset": "deu-eng", "per_query": {"RR@10": better}}]
    assert compare(res, [{"task_name": "t", "subset": "deu-eng", "per_query": {"RR@10": base}}], ["RR@10"])[0].significant


def test_evaluate_metric_module_loads_by_path():
    import evaluate

    metric = evaluate.load(str(METRIC))
    preds = [{"query_id": "q1", "doc_ids": ["a", "b", "c"], "scores": [1.0, 1.0, 0.5]},
             {"query_id": "q2", "doc_ids": [], "scores": []},
             {"query_id": "q3", "doc_ids": ["x"], "scores": [3.0]}]
    refs = [{"query_id": "q1", "doc_ids": ["a"], "relevance": [2]},
            {"query_id": "q2", "doc_ids": ["z"], "relevance": [1]},
            {"query_id": "q3", "doc_ids": ["y"], "relevance": [0]}]
    out = metric.compute(predictions=preds, references=refs, measures=["RR@10", "R@100"], per_query=True)
    assert out["num_queries"] == 2  # q3 has no relevant document
    assert out["RR@10"] == pytest.approx((0.5 + 0.0) / 2)  # tie a/b -> b first (doc id descending)
    assert out["per_query"]["R@100"] == {"q1": 1.0, "q2": 0.0}
    with pytest.raises(CsirError, match="duplicate"):
        metric.compute(predictions=[{"query_id": "q1", "doc_ids": ["a", "a"], "scores": [1.0, 2.0]}],
                       references=[{"query_id": "q1", "doc_ids": ["a"], "relevance": [1]}])


def test_pairs_and_subsets():
    assert parse_pair("de-en") == Pair("de", "en") and parse_pair("deu-eng").subset == "deu-eng"
    assert parse_pair("mlir-deu") == Pair("de", "mlir") and parse_pair("de-mlir").subset == "mlir-deu"
    assert pair_from_subset("fra-eng") == Pair("fr", "en") and pair_from_subset("default") is None
    assert [p.setup for p in map(parse_pair, ["de-en", "de-de", "de-mlir"])] == ["clir", "moir", "mlir"]
    assert [p.name for p in default_pairs(["en", "de"])] == ["en-en", "en-mlir", "de-en", "en-de", "de-de", "de-mlir"]
    for bad in ["de", "de-en-fr", "xx-en", "de-"]:
        with pytest.raises(CsirError):
            parse_pair(bad)
