"""Image-text retrieval: the emoji set built from the npm fixture, a tiny random CLIPModel evaluated end to end
(metrics checked against ranks computed here from the model's own embeddings), and bad input."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import datasets
import pytest

from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
from csir.cli import main as csir
from csir.errors import CsirError

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.emoji.tiny_clip import build_tiny_clip  # noqa: E402
from hub_server import start_server

NPM = Path(__file__).parent / "fixtures" / "emoji" / "npm"
METRICS = "R@1,R@5,R@10,RR@10,nDCG@10"


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("emoji") / "set"
    build_emoji_evalset(NPM, out, EmojiSetConfig(langs=["en", "de", "fr", "ja"]))
    return out


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory, emoji_set):
    texts = []
    for lang in ("eng", "deu"):
        texts += datasets.load_dataset(str(emoji_set), f"{lang}-queries", split="test")["text"]
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", texts)


def test_emoji_set_layout(emoji_set):
    corpus = datasets.load_dataset(str(emoji_set), "deu-corpus", split="test")
    queries = datasets.load_dataset(str(emoji_set), "deu-queries", split="test")
    qrels = datasets.load_dataset(str(emoji_set), "deu-qrels", split="test")
    assert isinstance(corpus.features["image"], datasets.Image) and set(corpus["modality"]) == {"image"}
    assert corpus[0]["image"].size == (64, 64)
    assert sorted(corpus["id"]) == ["1F40B", "1F436", "1F451"]  # the held-out emojis only
    assert dict(zip(queries["id"], queries["text"]))["deu-1F436"] == "Hundegesicht"
    assert sorted(zip(qrels["query-id"], qrels["corpus-id"])) == [(f"deu-{h}", h) for h in ["1F40B", "1F436", "1F451"]]
    i2t = datasets.load_dataset(str(emoji_set), "i2t-jpn-queries", split="test")
    assert set(i2t["modality"]) == {"image"}
    train = datasets.load_dataset(str(emoji_set), "captions", split="train")
    assert not set(train["id"]) & set(corpus["id"]) and "grinning face" in train["text"]
    card = (emoji_set / "README.md").read_text()
    assert "Apache License 2.0" in card and "MIT" in card and "npm:emojibase-data@17.0.0" in card


def _expected(model_dir, emoji_set, lang):
    """Rank of each query's relevant image, from the model's own features (no project code but decoding)."""
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    from csir.images import to_rgb

    corpus = datasets.load_dataset(str(emoji_set), f"{lang}-corpus", split="test")
    queries = datasets.load_dataset(str(emoji_set), f"{lang}-queries", split="test")
    model = CLIPModel.from_pretrained(model_dir).eval()
    tok, proc = AutoTokenizer.from_pretrained(model_dir), AutoImageProcessor.from_pretrained(model_dir)
    raw = corpus.cast_column("image", datasets.Image(decode=False))
    with torch.no_grad():
        img = model.get_image_features(**proc(images=[to_rgb(r["bytes"], "x") for r in raw["image"]],
                                              return_tensors="pt")).pooler_output
        txt = model.get_text_features(**tok(list(queries["text"]), padding=True, return_tensors="pt")).pooler_output
    sims = torch.nn.functional.normalize(txt, dim=-1) @ torch.nn.functional.normalize(img, dim=-1).T
    ranks = {}
    for qi, qid in enumerate(queries["id"]):
        order = sorted(range(len(corpus)), key=lambda d: -float(sims[qi, d]))
        ranks[qid] = [list(corpus["id"])[d] for d in order].index(qid.split("-", 1)[1]) + 1
    return ranks


def test_tiny_clip_end_to_end(tmp_path, emoji_set, tiny_clip):
    out = tmp_path / "res"
    rc = csir(["evaluate", "--model", str(tiny_clip), "--dataset", str(emoji_set), "--subsets", "eng,deu,i2t-deu",
               "--metrics", METRICS, "--main-metric", "R@1", "--output", str(out), "--no-plot"])
    assert rc == 0
    for lang in ("eng", "deu"):
        r = json.loads(next(out.rglob(f"set/{lang}.json")).read_text())
        assert r["model"]["kind"] == "clip" and r["per_query"]["R@1"]
        ranks = _expected(tiny_clip, emoji_set, lang)
        assert sorted(ranks.values()) != [1, 1, 1] or lang == "eng"  # a random model must not be perfect
        for q, rank in ranks.items():
            assert r["per_query"]["R@1"][q] == float(rank == 1)
            assert r["per_query"]["RR@10"][q] == pytest.approx(1 / rank)
            assert r["per_query"]["nDCG@10"][q] == pytest.approx(1 / math.log2(rank + 1))
            assert r["per_query"]["R@5"][q] == 1.0
        assert r["measures"]["RR@10"] == pytest.approx(sum(1 / k for k in ranks.values()) / 3)
    i2t = json.loads(next(out.rglob("set/i2t-deu.json")).read_text())
    assert i2t["scores"]["test"][0]["num_queries"] == 3 and i2t["measures"]["R@5"] == 1.0
    assert (out.glob("*/*/table.md")) and "deu" in next(out.glob("*/*/table.md")).read_text()


def test_bad_image_and_text_only_model(tmp_path, tiny_clip):
    import shutil

    npm = tmp_path / "npm"
    shutil.copytree(NPM, npm)
    (npm / "emoji-datasource-google/package/img/google/64/1f436.png").write_bytes(b"not a png")
    bad = tmp_path / "bad-set"
    build_emoji_evalset(npm, bad, EmojiSetConfig(langs=["en"], directions=["t2i"]))
    from evaluation.runner import EvalConfig, run_evaluation

    with pytest.raises(CsirError, match=r"id 1F436: image cannot be decoded"):
        run_evaluation(EvalConfig(model=str(tiny_clip), dataset=str(bad), subsets=["eng"], output=str(tmp_path / "r")))
    from fixtures.evaluation.tiny_models import build_bi_encoder

    text_only = build_bi_encoder(tmp_path / "bi")
    with pytest.raises(CsirError, match="no image tower"):
        run_evaluation(EvalConfig(model=str(text_only), dataset=str(bad), subsets=["eng"],
                                  output=str(tmp_path / "r2")))




def test_tiny_clip_and_emoji_set_served_from_local_store(tmp_path, emoji_set, tiny_clip):
    """Hub ids + revisions through `csir hub serve`: same metrics as the local folders, resolved commits recorded."""
    import os
    import shutil
    import subprocess

    from csir.hub import publish_folder

    store = tmp_path / "store"
    model = tmp_path / "tiny-clip"
    shutil.copytree(tiny_clip, model)
    (model / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# tiny clip\n")
    m_pub = publish_folder(model, "csir-test/tiny-clip", repo_type="model", version="v1.0.0", target="local",
                           store=store)
    d_pub = publish_folder(emoji_set, "csir-test/emoji-retrieval", version="v1.0.0", target="local", store=store)
    proc, endpoint = start_server(store, tmp_path / "serve.log")
    try:
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "client-home"),
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
               "HF_DATASETS_CACHE": str(tmp_path / "client-home" / "datasets")}
        run = subprocess.run([sys.executable, "-m", "builders", "evaluate", "--model", "csir-test/tiny-clip@v1.0.0",
                              "--dataset", "csir-test/emoji-retrieval", "--dataset-revision", "v1.0.0",
                              "--subsets", "deu", "--metrics", METRICS, "--output", str(tmp_path / "hub-res"),
                              "--no-plot"], capture_output=True, text=True, env=env, timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(next((tmp_path / "hub-res").rglob("deu.json")).read_text())
    assert r["model"]["resolved_revision"] == m_pub.commit_sha and r["dataset_revision"] == d_pub.commit_sha
    assert csir(["evaluate", "--model", str(tiny_clip), "--dataset", str(emoji_set), "--subsets", "deu",
                 "--metrics", METRICS, "--output", str(tmp_path / "local-res"), "--no-plot"]) == 0
    local = json.loads(next((tmp_path / "local-res").rglob("deu.json")).read_text())
    assert r["per_query"] == local["per_query"]


def test_sentence_transformers_clip_matches_transformers(tmp_path, emoji_set, tiny_clip):
    """The same CLIP saved by sentence-transformers (generic Transformer module) scores query for query alike."""
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(str(tiny_clip)).save(str(tmp_path / "st"))
    args = ["--dataset", str(emoji_set), "--subsets", "deu", "--metrics", METRICS, "--no-plot"]
    assert csir(["evaluate", "--model", str(tmp_path / "st"), "--output", str(tmp_path / "a"), *args]) == 0
    assert csir(["evaluate", "--model", str(tiny_clip), "--output", str(tmp_path / "b"), *args]) == 0
    a = json.loads(next((tmp_path / "a").rglob("deu.json")).read_text())
    b = json.loads(next((tmp_path / "b").rglob("deu.json")).read_text())
    assert a["model"]["kind"] == "clip" and a["per_query"] == b["per_query"]
