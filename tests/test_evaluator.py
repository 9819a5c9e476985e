"""RetrievalEvaluator: `evaluator(model) -> dict` with a primary metric, the same numbers as `csir evaluate`, for a
loaded model and for a live sentence-transformers model; image-text subsets too; bad subsets are one clear error."""

import json
import sys
from pathlib import Path

import pytest

from csir.errors import CsirError
from csir.models import ModelSpec, load_model
from evaluation.cli import main
from evaluation.evaluator import RetrievalEvaluator

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder, build_cross_encoder  # noqa: E402

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluator")
    assert main(["evalset", "ddtp", "--ddtp-dir", str(FIX / "ddtp"), "--output", str(root / "evalset"),
                 "--langs", "en,de", "--pairs", "de-en,en-en", "--max-queries", "25", "--top-k", "10"]) == 0
    return {"root": root, "evalset": root / "evalset", "bi": build_bi_encoder(root / "bi"),
            "ce": build_cross_encoder(root / "ce")}


def test_same_numbers_as_csir_evaluate_for_both_model_kinds(work, tmp_path):
    for kind in ("bi", "ce"):
        out = tmp_path / kind
        assert main(["evaluate", "--model", str(work[kind]), "--dataset", str(work["evalset"]),
                     "--subsets", "deu-eng,eng-eng", "--output", str(out), "--no-plot"]) == 0
        ev = RetrievalEvaluator(work["evalset"], ["deu-eng", "eng-eng"])
        scores = ev(load_model(ModelSpec(str(work[kind]))))
        assert ev.primary_metric == "RR@10"
        for subset in ("deu-eng", "eng-eng"):
            written = json.loads(next(out.rglob(f"{subset}.json")).read_text())["measures"]
            assert {m: scores[f"{subset}/{m}"] for m in written} == pytest.approx(written, abs=1e-9)
        mean = (scores["deu-eng/RR@10"] + scores["eng-eng/RR@10"]) / 2
        assert scores["RR@10"] == pytest.approx(mean) and set(ev.metrics) == {"RR@10", "nDCG@10", "R@100"}
        ev.close()


def test_live_sentence_transformer_scores_like_the_saved_one(work):
    from sentence_transformers import CrossEncoder, SentenceTransformer

    ev = RetrievalEvaluator(work["evalset"], ["deu-eng"], metrics=["nDCG@10"], primary_metric="R@10")
    saved = ev(load_model(ModelSpec(str(work["bi"]))))
    live = ev(SentenceTransformer(str(work["bi"]), device="cpu"))
    assert live == pytest.approx(saved, abs=1e-6) and ev.metrics == ["R@10", "nDCG@10"]
    assert 0.0 < live["R@10"] <= 1.0 and ev.last_results["deu-eng"].stage == "dense"
    ce = ev(CrossEncoder(str(work["ce"]), device="cpu"))  # cross-encoders re-rank the recorded first stage
    assert ev.last_results["deu-eng"].stage == "top_ranked" and set(ce) == set(live)


def test_bad_subset_and_metric_are_one_clear_error(work):
    with pytest.raises(CsirError, match="'fra-eng' is not a subset of"):
        RetrievalEvaluator(work["evalset"], ["fra-eng"])
    with pytest.raises(CsirError, match="unknown measure 'MRR10'"):
        RetrievalEvaluator(work["evalset"], ["deu-eng"], primary_metric="MRR10")
    with pytest.raises(CsirError, match="cannot score a str"):
        RetrievalEvaluator(work["evalset"], ["deu-eng"])("not a model")


def test_image_text_subsets(tmp_path):
    import datasets
    from fixtures.emoji.tiny_clip import build_tiny_clip

    from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset

    ds = build_emoji_evalset(FIX / "emoji" / "npm", tmp_path / "set", EmojiSetConfig(langs=["en", "de"]))
    texts = datasets.load_dataset(str(ds), "eng-queries", split="test")["text"]
    clip = build_tiny_clip(tmp_path / "clip", texts)
    assert main(["evaluate", "--model", str(clip), "--dataset", str(ds), "--subsets", "deu,i2t-deu",
                 "--metrics", "R@1,RR@10", "--main-metric", "R@1", "--output", str(tmp_path / "r"), "--no-plot"]) == 0
    ev = RetrievalEvaluator(ds, ["deu", "i2t-deu"], metrics=["R@1", "RR@10"], primary_metric="R@1")
    scores = ev(load_model(ModelSpec(str(clip))))
    for subset in ("deu", "i2t-deu"):
        written = json.loads(next((tmp_path / "r").rglob(f"{subset}.json")).read_text())["measures"]
        assert {m: scores[f"{subset}/{m}"] for m in written} == pytest.approx(written)
    assert ev.primary_metric == "R@1" and "R@1" in scores
