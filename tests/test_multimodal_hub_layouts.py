"""The real Hub image-text layouts (XM3600, WIT, xFlickrCO, XTD-10, Multi30K T2I/I2T) read by `csir evaluate`: a tiny
random CLIPModel scored end to end through the CLI on fixtures laid out as on the Hub, each metric checked against
ranks computed here from the model's own embeddings; bad layouts and missing languages are one-line errors."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from csir.cli import main as csir
from csir.errors import CsirError

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.emoji.tiny_clip import build_tiny_clip  # noqa: E402
from fixtures.mm_hub import make_fixtures as fx  # noqa: E402

HUB = Path(__file__).parent / "fixtures" / "mm_hub"
METRICS = ["R@1", "R@5", "RR@10", "nDCG@10"]
ORDER = list(fx.COLORS)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    texts = [c for lang in fx.CAPTIONS.values() for caps in lang.values() for c in caps]
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", texts, seed=1)


@pytest.fixture(autouse=True)
def raw_cache(tmp_path, monkeypatch):  # XTD-10's archive is unpacked under $CSIR_DATA_DIR
    monkeypatch.setenv("CSIR_DATA_DIR", str(tmp_path / "raw"))


def _embed(model_dir, texts: list[str], images: list[bytes]):
    """L2-normalised text and image features from the model itself (no project code but image decoding)."""
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    from csir.images import to_rgb

    model = CLIPModel.from_pretrained(model_dir).eval()
    tok, proc = AutoTokenizer.from_pretrained(model_dir), AutoImageProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        t = model.get_text_features(**tok(texts, padding=True, return_tensors="pt")).pooler_output
        i = model.get_image_features(**proc(images=[to_rgb(b, "x") for b in images], return_tensors="pt")).pooler_output
    return torch.nn.functional.normalize(t, dim=-1), torch.nn.functional.normalize(i, dim=-1)


def _hand_scores(q_emb, d_emb, qids, dids, qrels) -> dict[str, dict[str, float]]:
    """Per-query R@1, R@5, RR@10, nDCG@10 by their definitions (ties: doc id descending, as trec_eval)."""
    sims = q_emb @ d_emb.T
    out = {m: {} for m in METRICS}
    for qi, q in enumerate(qids):
        ranking = sorted(sorted(dids, reverse=True), key=lambda d: -float(sims[qi, dids.index(d)]))
        rel = qrels[q]
        ranks = [ranking.index(d) + 1 for d in rel]
        out["R@1"][q] = sum(r <= 1 for r in ranks) / len(rel)
        out["R@5"][q] = sum(r <= 5 for r in ranks) / len(rel)
        out["RR@10"][q] = 1 / min(ranks) if min(ranks) <= 10 else 0.0
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rel), 10)))
        out["nDCG@10"][q] = sum(1 / math.log2(r + 1) for r in ranks if r <= 10) / ideal
    return out


def _evaluate(clip, dataset, subsets, out) -> None:
    assert csir(["evaluate", "--model", str(clip), "--dataset", str(dataset), "--subsets", subsets,
                 "--metrics", ",".join(METRICS), "--main-metric", "R@1", "--output", str(out), "--no-plot"]) == 0


def _check(result_path: Path, expected: dict[str, dict[str, float]]) -> dict:
    r = json.loads(result_path.read_text())
    assert r["model"]["kind"] == "clip" and r["first_stage"]["name"] == "dense"
    for m in METRICS:
        assert r["per_query"][m] == pytest.approx(expected[m]), m
        assert r["measures"][m] == pytest.approx(sum(expected[m].values()) / len(expected[m])), m
    assert sorted(expected["R@1"].values()) != [1.0] * len(expected["R@1"])  # a random model is not perfect
    return r


def _result(out: Path, task: str, subset: str) -> Path:
    return next(out.glob(f"*/*/{task}/{subset}.json"))


def test_xm3600_t2i_and_i2t_deu(clip, tmp_path):
    """`default` config, one split per language, rows = image + a list of captions (2 per image here)."""
    _evaluate(clip, HUB / "xm3600", "deu,i2t-deu", tmp_path)
    caps = [(f"{fx.XM3600_IDS[c]}", i, t) for c in ORDER for i, t in enumerate(fx.CAPTIONS["de"][c])]
    t_emb, i_emb = _embed(clip, [t for _, _, t in caps], [fx.png(c) for c in ORDER])
    docs = [f"corpus-{fx.XM3600_IDS[c]}" for c in ORDER]
    qids = [f"query-{k}-{i}" for k, i, _ in caps]
    exp = _hand_scores(t_emb, i_emb, qids, docs, {f"query-{k}-{i}": {f"corpus-{k}": 1} for k, i, _ in caps})
    r = _check(_result(tmp_path, "xm3600", "de"), exp)
    assert r["subset"] == "de" and r["scores"]["test"][0]["num_queries"] == 6
    # image -> text: each image query has both of its captions relevant (R@1 is 0 or 1/2)
    texts = [f"corpus-{k}-{i}" for k, i, _ in caps]
    img_q = [f"query-{fx.XM3600_IDS[c]}" for c in ORDER]
    qrels = {f"query-{fx.XM3600_IDS[c]}": {f"corpus-{fx.XM3600_IDS[c]}-{i}": 1 for i in range(2)} for c in ORDER}
    exp = _hand_scores(i_emb, t_emb, img_q, texts, qrels)
    _check(_result(tmp_path, "xm3600", "i2t-de"), exp)


def test_wit_mteb_t2i_deu(clip, tmp_path):
    """mteb/wit: XM3600's row layout (image_id, captions, image), one split per language; MTEB's ids."""
    _evaluate(clip, HUB / "wit", "deu", tmp_path)
    t_emb, i_emb = _embed(clip, [fx.CAPTIONS["de"][c][0] for c in ORDER], [fx.png(c) for c in ORDER])
    ids = [fx.WIT_IDS[c] for c in ORDER]
    exp = _hand_scores(t_emb, i_emb, [f"query-{k}-0" for k in ids], [f"corpus-{k}" for k in ids],
                       {f"query-{k}-0": {f"corpus-{k}": 1} for k in ids})
    r = _check(_result(tmp_path, "wit", "de"), exp)
    assert r["scores"]["test"][0]["num_queries"] == 3


def test_xflickrco_deu_and_eng(clip, tmp_path):
    """`default` config, one split per language, rows = `sentences` (one caption), `id`, `image` struct."""
    _evaluate(clip, HUB / "xflickrco", "de,eng", tmp_path)
    for lang, subset in (("de", "de"), ("en", "en")):
        t_emb, i_emb = _embed(clip, [fx.CAPTIONS[lang][c][0] for c in ORDER], [fx.png(c) for c in ORDER])
        ids = [fx.XFLICKR_IDS[c] for c in ORDER]
        exp = _hand_scores(t_emb, i_emb, [f"query-{k}" for k in ids], [f"corpus-{k}" for k in ids],
                           {f"query-{k}": {f"corpus-{k}": 1} for k in ids})
        _check(_result(tmp_path, "xflickrco", subset), exp)


def test_xtd10_ita_images_from_the_archive(clip, tmp_path):
    """One config per language, MMEB columns; images only in XTD10_dataset.tar.gz (unpacked once)."""
    _evaluate(clip, HUB / "xtd10", "ita", tmp_path)
    t_emb, i_emb = _embed(clip, [fx.CAPTIONS["it"][c][0] for c in ORDER], [fx.png(c) for c in ORDER])
    docs = [fx.XTD_PATHS[c] for c in ORDER]
    exp = _hand_scores(t_emb, i_emb, [f"query-{r}" for r in range(3)], docs,
                       {f"query-{r}": {fx.XTD_PATHS[c]: 1} for r, c in enumerate(ORDER)})
    _check(_result(tmp_path, "xtd10", "it"), exp)
    assert len(list((tmp_path / "raw" / "unpacked").iterdir())) == 1


@pytest.mark.parametrize("direction", ["t2i", "i2t"])
def test_multi30k_mteb_layout_with_two_letter_subsets(clip, tmp_path, direction):
    """vnahata/Multi30k-T2I / -I2T: MTEB's standard configs named `de-corpus`...; `--subsets deu` finds `de`."""
    _evaluate(clip, HUB / f"multi30k-{direction}", "deu", tmp_path)
    t_emb, i_emb = _embed(clip, [fx.CAPTIONS["de"][c][0] for c in ORDER], [fx.png(c) for c in ORDER])
    texts, images = [f"text-{i}-de" for i in range(3)], [f"image-{i}" for i in range(3)]
    if direction == "t2i":
        exp = _hand_scores(t_emb, i_emb, texts, images, {t: {d: 1} for t, d in zip(texts, images)})
    else:
        exp = _hand_scores(i_emb, t_emb, images, texts, {d: {t: 1} for t, d in zip(texts, images)})
    _check(_result(tmp_path, f"multi30k-{direction}", "de"), exp)


def test_resolve_subset_language_forms():
    from builders.evalsets.tasks import resolve_subset

    assert resolve_subset("deu", ["de", "en", "i2t-de"]) == "de"
    assert resolve_subset("i2t-deu", ["de", "i2t-de"]) == "i2t-de"
    assert resolve_subset("de", ["deu", "i2t-deu"]) == "deu"
    assert resolve_subset("fra", ["de", "en"]) is None
    assert resolve_subset("deu-eng", ["de", "deu"]) is None and resolve_subset("xx", ["de"]) is None


def _one_line_error(clip, tmp_path, dataset, subsets, match):
    from evaluation.runner import EvalConfig, run_evaluation

    with pytest.raises(CsirError, match=match) as err:
        run_evaluation(EvalConfig(model=str(clip), dataset=str(dataset), subsets=subsets, output=str(tmp_path / "r")))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_bad_layouts_and_missing_language(clip, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from evaluation.runner import EvalConfig, run_evaluation

    # an image table with no caption field it knows: names the dataset, the config/split and the missing field
    bad = tmp_path / "bad-layout"
    shutil.copytree(HUB / "xflickrco", bad)
    for f in (bad / "data").glob("*.parquet"):
        pq.write_table(pq.read_table(f).drop(["sentences"]), f)
    msg = _one_line_error(clip, tmp_path, bad, ["de"],
                          r"bad-layout: config default, split de: .*field 'image_id' missing")
    assert "xflickrco: id, sentences, image" in msg
    # no image table and no MTEB configs at all
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), plain / "data" / "train-00000-of-00001.parquet")
    (plain / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n")
    _one_line_error(clip, tmp_path, plain, ["de"], r"plain: no retrieval subsets found .*qry_text\+tgt_img_path")
    # a language the set does not have, in either ISO form
    _one_line_error(clip, tmp_path, HUB / "xm3600", ["fra"], r"--subsets: 'fra' is not a subset of .*xm3600 "
                                                       r"\(have: de, en, i2t-de, i2t-en\)")
    # an XTD-10 row whose image is in no archive: names the row and the field
    xtd = tmp_path / "xtd-missing"
    shutil.copytree(HUB / "xtd10", xtd)
    t = pq.read_table(xtd / "it" / "it.parquet").to_pylist()
    t[1]["tgt_img_path"][0] = "XTD10/images/absent.png"
    pq.write_table(pa.Table.from_pylist(t), xtd / "it" / "it.parquet")
    with pytest.raises(CsirError, match=r"config it, split test: row 1: field 'tgt_img_path': image "
                                        r"'XTD10/images/absent.png' not found .*XTD10_dataset.tar.gz"):
        run_evaluation(EvalConfig(model=str(clip), dataset=str(xtd), subsets=["it"], output=str(tmp_path / "r2")))


def test_hub_id_through_local_store(clip, tmp_path):
    """A Hub id + tag served by `csir hub serve` (snapshot download, archive unpacked from the snapshot): the same
    per-query scores as the folder, and the resolved commit recorded."""
    import os
    import shutil
    import subprocess

    from hub_server import start_server

    from csir.hub import publish_folder

    folder = tmp_path / "xtd10"
    shutil.copytree(HUB / "xtd10", folder)  # publishing pins the copy's README to the tag
    pub = publish_folder(folder, "csir-test/xtd10", version="v1.0.0", target="local", store=tmp_path / "store")
    proc, endpoint = start_server(tmp_path / "store", tmp_path / "serve.log")
    try:
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "client-home"),
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
               "CSIR_DATA_DIR": str(tmp_path / "raw-hub"), "OMP_NUM_THREADS": "1"}
        run = subprocess.run([sys.executable, "-m", "builders", "evaluate", "--model", str(clip), "--dataset",
                              "csir-test/xtd10", "--dataset-revision", "v1.0.0", "--subsets", "ita", "--metrics",
                              ",".join(METRICS), "--output", str(tmp_path / "hub-res"), "--no-plot"],
                             capture_output=True, text=True, env=env, timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert run.returncode == 0, run.stderr[-3000:]
    hub = json.loads(_result(tmp_path / "hub-res", "xtd10", "it").read_text())
    assert hub["dataset_revision"] == pub.commit_sha
    _evaluate(clip, HUB / "xtd10", "it", tmp_path / "local-res")
    local = json.loads(_result(tmp_path / "local-res", "xtd10", "it").read_text())
    assert hub["per_query"] == local["per_query"]
