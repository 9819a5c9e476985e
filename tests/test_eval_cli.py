"""End to end: `csir evalset ddtp` on the fixture, `csir evaluate` with tiny bi-/cross-encoders, bad inputs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from builders.sources.ddtp import is_heldout
from evaluation.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder, build_cross_encoder, build_decoder  # noqa: E402

PAIRS = "de-en,en-en,de-mlir"


@pytest.fixture(scope="module")
def work(tmp_path_factory, fixtures_dir=Path(__file__).parent / "fixtures"):
    root = tmp_path_factory.mktemp("evalcli")
    assert main(["evalset", "ddtp", "--ddtp-dir", str(fixtures_dir / "ddtp"), "--output", str(root / "evalset"),
                 "--langs", "en,de,fr", "--top-k", "20"]) == 0
    return {"root": root, "evalset": root / "evalset",
            "bi": build_bi_encoder(root / "bi", prompts={"query": "query: ", "passage": "passage: "}),
            "ce": build_cross_encoder(root / "ce"), "dec": build_decoder(root / "dec")}


def _evaluate(work, model, out, *extra):
    return main(["evaluate", "--model", str(model), "--tasks", "ddtp", "--ddtp", str(work["evalset"]),
                 "--pairs", PAIRS, "--output", str(out), "--max-queries", "30", *extra])


def test_evalset_layout_and_heldout_only(work):
    ev = work["evalset"]
    readme = (ev / "README.md").read_text(encoding="utf-8")
    for cfg in ["deu-eng-corpus", "deu-eng-queries", "deu-eng-qrels", "deu-eng-top_ranked", "mlir-fra-corpus"]:
        assert f"config_name: {cfg}" in readme
    queries = datasets.load_dataset(str(ev), "deu-eng-queries", split="test")
    corpus = datasets.load_dataset(str(ev), "deu-eng-corpus", split="test")
    qrels = datasets.load_dataset(str(ev), "deu-eng-qrels", split="test")
    top = datasets.load_dataset(str(ev), "deu-eng-top_ranked", split="test")
    assert len(queries) > 50 and all(is_heldout(i) for i in queries["id"]) and all(is_heldout(i) for i in corpus["id"])
    assert qrels["query-id"] == qrels["corpus-id"] and set(qrels["query-id"]) == set(queries["id"])
    assert all(len(c) == 20 and len(set(c)) == 20 for c in top["corpus-ids"])
    hit = sum(q in c for q, c in zip(top["query-id"], top["corpus-ids"])) / len(top)
    assert hit > 0.5  # English BM25 finds most relevant passages in its top 20
    mlir = datasets.load_dataset(str(ev), "mlir-deu-corpus", split="test")
    assert set(mlir["language"]) == {"en", "de", "fr"} and mlir["id"] == corpus["id"]


def test_evalset_is_deterministic(work, tmp_path):
    fixtures = Path(__file__).parent / "fixtures"
    assert main(["evalset", "ddtp", "--ddtp-dir", str(fixtures / "ddtp"), "--output", str(tmp_path / "again"),
                 "--langs", "en,de,fr", "--top-k", "20"]) == 0
    for f in sorted((work["evalset"] / "data").rglob("*.parquet")):
        assert f.read_bytes() == (tmp_path / "again" / f.relative_to(work["evalset"])).read_bytes(), f


def test_pair_first_stage_never_sees_the_english_query(work, tmp_path):
    """`--first-stage bm25-pair`: each pair's top_ranked is its own queries' BM25 over its own collection."""
    from builders.sources.pairs import bm25_search

    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path / "pair"
    assert main(["evalset", "ddtp", "--ddtp-dir", str(fixtures / "ddtp"), "--output", str(out),
                 "--langs", "en,de,fr", "--top-k", "20", "--first-stage", "bm25-pair", "--pairs", "de-en,en-en"]) == 0
    load = lambda ev, c: datasets.load_dataset(str(ev), c, split="test")  # noqa: E731
    en_top = load(work["evalset"], "deu-eng-top_ranked")
    de_top, ee_top = load(out, "deu-eng-top_ranked"), load(out, "eng-eng-top_ranked")
    assert ee_top["corpus-ids"] == en_top["corpus-ids"]  # EN->EN: the same English BM25 as the paper's
    assert de_top["corpus-ids"] != en_top["corpus-ids"]
    queries, corpus = load(out, "deu-eng-queries"), load(out, "deu-eng-corpus")
    docs, _ = bm25_search(queries["text"], corpus["text"], 20, "en")
    assert de_top["corpus-ids"] == [[corpus["id"][i] for i in row] for row in docs]
    recall = lambda top: sum(q in c for q, c in zip(top["query-id"], top["corpus-ids"])) / len(top)  # noqa: E731
    assert recall(de_top) < recall(en_top)  # the English candidates were an oracle for DE->EN
    manifest = json.loads((out / "build_manifest.json").read_text())
    assert manifest["parameters"]["first_stage"].startswith("bm25s per pair")


def test_bi_encoder_end_to_end_and_only_missing(work, monkeypatch):
    out = work["root"] / "res"
    assert _evaluate(work, work["bi"], out) == 0
    model_dir = next((out / "bi__model").iterdir())
    files = sorted(p.name for p in (model_dir / "ddtp").iterdir())
    assert files == ["deu-eng.json", "eng-eng.json", "mlir-deu.json"]
    r = json.loads((model_dir / "ddtp" / "deu-eng.json").read_text())
    s = r["scores"]["test"][0]
    assert r["model"]["kind"] == "bi-encoder" and r["model"]["prompts"] == {"query": "query: ", "document": "passage: "}
    assert r["first_stage"]["name"] == "dense" and r["dataset_revision"].startswith("sha256:")
    assert s["hf_subset"] == "deu-eng" and s["languages"] == ["deu-Latn", "eng-Latn"] and s["num_queries"] == 30
    assert 0 <= s["mrr_at_10"] <= 1 and s["main_score"] == s["mrr_at_10"]
    assert len(r["per_query"]["RR@10"]) == 30 and "torch" in r["library_versions"]
    assert {"encode_queries_s", "encode_corpus_s", "search_s", "total_s"} <= set(r["timings"])
    assert (model_dir / "table.md").read_text().count("| ddtp |") == 3
    assert (model_dir / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    import evaluation.runner as runner

    def boom(*a, **k):
        raise AssertionError("model work on a complete re-run")

    monkeypatch.setattr(runner, "load_model", boom)
    before = {p: p.stat().st_mtime_ns for p in (model_dir / "ddtp").iterdir()}
    assert _evaluate(work, work["bi"], out, "--overwrite-strategy", "only-missing") == 0
    assert _evaluate(work, work["bi"], out, "--overwrite-strategy", "never") == 0
    assert {p: p.stat().st_mtime_ns for p in (model_dir / "ddtp").iterdir()} == before
    # a setting that changes the numbers makes the result stale for only-missing, but never keeps it
    assert _evaluate(work, work["bi"], out, "--overwrite-strategy", "never", "--top-k", "10") == 0
    with pytest.raises(AssertionError, match="model work"):
        _evaluate(work, work["bi"], out, "--overwrite-strategy", "only-missing", "--top-k", "10")


def test_cross_encoder_reranks_top_ranked_with_baseline(work):
    out = work["root"] / "res"
    if not (out / "bi__model").exists():
        assert _evaluate(work, work["bi"], out) == 0
    base = next((out / "bi__model").iterdir())
    assert _evaluate(work, work["ce"], out, "--baseline", str(base)) == 0
    model_dir = next((out / "ce__model").iterdir())
    r = json.loads((model_dir / "ddtp" / "mlir-deu.json").read_text())
    assert r["model"]["kind"] == "cross-encoder" and r["first_stage"]["name"] == "top_ranked"
    assert r["timings"]["rerank_pairs"] == 30 * 20
    sig = json.loads((model_dir / "significance.json").read_text())
    assert len(sig["tests"]) == 3 and all(t["p_ttest_bonferroni"] >= t["p_ttest"] for t in sig["tests"])
    table = (model_dir / "table.md").read_text()
    assert "baseline RR@10" in table and "Δ RR@10" in table
    assert (model_dir / "plot.png").stat().st_size > 1000


def test_bf16_precision_is_applied_recorded_and_never_mixed_with_fp32(work, tmp_path):
    """--precision bf16 autocasts the forward passes: scores move by bf16 rounding only, the results say bf16,
    and an fp32 result of the same run is stale for it (and the other way round)."""
    from scipy.stats import spearmanr
    from sentence_transformers import CrossEncoder

    from evaluation.precision import precision_context
    from evaluation.search import CrossEncoderScorer

    ce = CrossEncoder(str(work["ce"]), device="cpu")
    with torch.no_grad():  # a random tiny head scores ~0.5 for everything: spread its logits like a trained one's
        ce.model.classifier.weight.mul_(3000.0)
    ce.activation_fn = torch.nn.Identity()
    pairs = [(f"query {i} über alles", f"passage number {i} with some words " * (1 + i % 4)) for i in range(60)]
    fp32 = CrossEncoderScorer(ce).score(pairs)
    with precision_context("bf16", "cpu"):
        bf16 = CrossEncoderScorer(ce).score(pairs)
    assert len(set(torch.tensor(fp32).bfloat16().tolist())) < len(set(fp32.tolist()))  # a bf16 head would tie
    assert bf16.dtype == np.float32 and not np.array_equal(fp32, bf16)  # autocast really ran in bfloat16
    assert len(set(bf16.tolist())) == len(set(fp32.tolist()))  # a float32 head: bf16 rounding adds no ties
    assert spearmanr(fp32, bf16).statistic > 0.99
    for model, sub in (("ce", "ce__model"), ("bi", "bi__model")):
        out = tmp_path / model
        assert _evaluate(work, work[model], out, "--precision", "bf16", "--no-plot") == 0
        r = json.loads((next((out / sub).iterdir()) / "ddtp" / "deu-eng.json").read_text())
        assert r["settings"]["precision"] == "bf16" and len(r["per_query"]["RR@10"]) == 30
        before = r["date"], r["settings"]
        assert _evaluate(work, work[model], out, "--no-plot") == 0  # fp32 asked: the bf16 result is recomputed
        r = json.loads((next((out / sub).iterdir()) / "ddtp" / "deu-eng.json").read_text())
        assert r["settings"]["precision"] == "fp32" and (r["date"], r["settings"]) != before


def test_bf16_on_a_cpu_without_native_kernels_is_said(work, tmp_path, monkeypatch, caplog):
    import logging

    import evaluation.runner

    why = "this CPU (AVX2) has no native bfloat16 kernels"
    monkeypatch.setattr(evaluation.runner, "slow_bf16_reason", lambda device: why if device == "cpu" else None)
    with caplog.at_level(logging.WARNING, logger="evaluation.runner"):
        assert _evaluate(work, work["bi"], tmp_path / "a", "--precision", "bf16", "--no-plot") == 0
        assert _evaluate(work, work["bi"], tmp_path / "b", "--no-plot") == 0
    warned = [r.getMessage() for r in caplog.records if why in r.getMessage()]
    assert warned == [f"--precision bf16: {why}; --precision fp32 evaluates faster here"]  # once, and not for fp32


def test_top_k_bounds_the_reranked_first_stage_candidates(work, tmp_path):
    """--top-k 5 re-ranks each query's first 5 recorded BM25 candidates, no more, in their recorded order."""
    assert _evaluate(work, work["ce"], tmp_path, "--pairs", "de-en", "--top-k", "5") == 0
    r = json.loads((next((tmp_path / "ce__model").iterdir()) / "ddtp" / "deu-eng.json").read_text())
    assert r["first_stage"] == {**r["first_stage"], "name": "top_ranked", "top_k": 5}
    assert r["timings"]["rerank_pairs"] == 30 * 5
    top = datasets.load_dataset(str(work["evalset"]), "deu-eng-top_ranked", split="test")
    first5 = {q: set(c[:5]) for q, c in zip(top["query-id"], top["corpus-ids"])}
    rr = r["per_query"]["RR@10"]
    assert len(rr) == 30
    for qid, value in rr.items():  # DDTP qrels: a query's relevant passage has the query's id
        assert (value >= 0.2) if qid in first5[qid] else (value == 0.0), qid
    assert 0 < sum(qid in first5[qid] for qid in rr) < 30  # both cases occur


def test_card_update(work, tmp_path):
    import yaml
    from huggingface_hub import ModelCard

    out = work["root"] / "res"
    if not (out / "bi__model").exists():
        assert _evaluate(work, work["bi"], out) == 0
    model = tmp_path / "model"
    shutil.copytree(work["bi"], model)
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n\nKeep this text.\n")
    results = next((out / "bi__model").iterdir())
    assert main(["card", "update", "--model", str(model), "--results", str(results), "--model-name", "tiny"]) == 0
    assert main(["card", "update", "--model", str(model), "--results", str(results), "--model-name", "tiny"]) == 0
    card = ModelCard.load(model / "README.md")
    assert "Keep this text." in card.text and card.data.license == "apache-2.0"
    rows = card.data.eval_results
    assert len(rows) == 3 * 3  # 3 subsets x 3 metrics, not duplicated by the second update
    row = next(e for e in rows if e.dataset_config == "deu-eng" and e.metric_type == "mrr_at_10")
    r = json.loads((results / "ddtp" / "deu-eng.json").read_text())
    assert row.metric_value == pytest.approx(r["scores"]["test"][0]["mrr_at_10"], abs=1e-6)
    assert row.dataset_revision == r["dataset_revision"]
    entries = yaml.safe_load((model / ".eval_results" / "ddtp.yaml").read_text())
    assert sorted(e["dataset"]["task_id"] for e in entries) == ["deu-eng", "eng-eng", "mlir-deu"]


@pytest.mark.parametrize("args, message", [
    (["--tasks", "nope"], "unknown task 'nope'"),
    (["--tasks", "ddtp", "--pairs", "de-xx"], "unknown language pair 'de-xx'"),
    (["--tasks", "ddtp", "--pairs", "it-en"], "pair 'it-en' (subset ita-eng) is not in"),
    (["--tasks", "ddtp", "--metrics", "Bogus@1"], "unknown measure"),
    (["--tasks", "ddtp", "--precision", "fp8"], "--precision: 'fp8' (choose from fp32, bf16)"),
])
def test_bad_inputs_exit_2(work, capsys, args, message):
    rc = main(["evaluate", "--model", str(work["bi"]), "--ddtp", str(work["evalset"]),
               "--output", str(work["root"] / "bad"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err


def test_neither_encoder_nor_cross_encoder_exit_2(work, capsys):
    rc = main(["evaluate", "--model", str(work["dec"]), "--tasks", "ddtp", "--ddtp", str(work["evalset"]),
               "--pairs", "de-en", "--output", str(work["root"] / "bad")])
    err = capsys.readouterr().err
    assert rc == 2 and "neither a bi-encoder nor a cross-encoder" in err


def test_missing_dataset_revision_exit_2(work, tmp_path, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(work["evalset"], repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    rc = main(["evaluate", "--model", str(work["bi"]), "--dataset", str(repo), "--dataset-revision", "v9.9.9",
               "--subsets", "deu-eng", "--output", str(tmp_path / "o")])
    assert rc == 2 and "revision 'v9.9.9' does not exist" in capsys.readouterr().err
    rc = main(["evaluate", "--model", str(work["bi"]), "--dataset", str(repo), "--dataset-revision", "v1.0.0",
               "--subsets", "deu-eng", "--output", str(tmp_path / "o"), "--max-queries", "5", "--no-plot"])
    assert rc == 0
    r = json.loads(next((tmp_path / "o").rglob("deu-eng.json")).read_text())
    assert r["dataset_revision"] == head and r["dataset"]["revision"] == "v1.0.0" and r["task_name"] == "repo"


def test_mmarco_evalset_from_fixtures(tmp_path, work):
    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path / "mm"
    assert main(["evalset", "mmarco", "--msmarco-dir", str(fixtures / "msmarco"), "--mmarco-dir",
                 str(fixtures / "mmarco"), "--output", str(out), "--langs", "en,de,it",
                 "--pairs", "en-de,de-it,de-mlir,it-it"]) == 0
    from builders.sources.msmarco import load_msmarco_dev
    from evaluation.datasets_io import open_dataset

    dev = load_msmarco_dev(fixtures / "msmarco", progress=False)
    ds = open_dataset(str(out))
    assert sorted(ds.subsets) == ["deu-ita", "eng-deu", "ita-ita", "mlir-deu"]
    sub = ds.load("deu-ita")
    assert sub.qrels == dev.qrels and set(sub.queries) == set(dev.queries)
    assert sub.top_ranked == {q: c[:1000] for q, c in dev.candidates.items()}  # English BM25, fixed for all pairs
    assert all(d in sub.corpus for rel in dev.qrels.values() for d in rel)
    assert sub.corpus == ds.load("ita-ita").corpus and sub.corpus != ds.load("eng-deu").corpus
    assert sub.queries == ds.load("mlir-deu").queries and sub.queries != ds.load("ita-ita").queries
    assert set(ds.load("mlir-deu").doc_lang.values()) <= {"en", "de", "it"}
    rc = main(["evaluate", "--model", str(work["ce"]), "--tasks", "mmarco", "--mmarco", str(out),
               "--output", str(tmp_path / "res"), "--no-plot"])
    assert rc == 0 and len(list((tmp_path / "res").rglob("mmarco/*.json"))) == 4  # one per subset
    assert len(list((tmp_path / "res").rglob("CsirMMarcoRetrieval.json"))) == 1  # + the MTEB task file


@pytest.mark.parametrize("model_key", ["bi", "ce"])
def test_accelerate_two_processes_match_one(work, tmp_path, model_key):
    """`accelerate launch --multi_gpu --num_processes 2` (two gloo CPU ranks) shards and gathers exactly."""
    accelerate = Path(sys.executable).parent / "accelerate"
    args = ["-m", "evaluation", "evaluate", "--model", str(work[model_key]), "--tasks", "ddtp", "--ddtp",
            str(work["evalset"]), "--pairs", "de-en,de-mlir", "--max-queries", "20", "--no-plot"]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", *args, "--output", str(tmp_path / "mp")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(args[2:] + ["--output", str(tmp_path / "sp")]) == 0
    for subset in ["deu-eng", "mlir-deu"]:
        mp = json.loads(next((tmp_path / "mp").rglob(f"{subset}.json")).read_text())
        sp = json.loads(next((tmp_path / "sp").rglob(f"{subset}.json")).read_text())
        assert mp["num_processes"] == 2 and sp["num_processes"] == 1
        for m in ["RR@10", "nDCG@10", "R@100"]:
            assert mp["per_query"][m] == pytest.approx(sp["per_query"][m], abs=1e-6)


def test_rebuilt_evalset_is_not_read_from_a_stale_cache(tmp_path):
    from evaluation.datasets_io import open_dataset

    fixtures = Path(__file__).parent / "fixtures"
    sizes = []
    for n in (5, 9):
        assert main(["evalset", "ddtp", "--ddtp-dir", str(fixtures / "ddtp"), "--output", str(tmp_path / "ev"),
                     "--langs", "en,de", "--pairs", "de-en", "--max-queries", str(n)]) == 0
        sizes.append(len(open_dataset(str(tmp_path / "ev")).load("deu-eng").queries))
    assert sizes == [5, 9]


def _mteb_style_folder(root: Path) -> Path:
    """An XPQARetrieval-style repo written by hand: `_id`/`title` columns, jsonl files, no top_ranked."""
    import yaml

    docs = [("d1", "Cats", "cats purr and sleep"), ("d2", "Dogs", "dogs bark at night"), ("d3", "", "debian packages")]
    queries = [("q1", "chats qui ronronnent"), ("q2", "chiens aboient"), ("q3", "paquets")]
    files = {
        "fra-eng/corpus.jsonl": [{"_id": i, "title": t, "text": x} for i, t, x in docs],
        "fra-eng/queries.jsonl": [{"_id": i, "text": x} for i, x in queries],
        "fra-eng/qrels.jsonl": [{"query-id": f"q{i}", "corpus-id": f"d{i}", "score": 1} for i in (1, 2, 3)],
    }
    for rel, rows in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("".join(json.dumps(r) + "\n" for r in rows))
    configs = [{"config_name": f"fra-eng-{n}", "data_files": [{"split": "test", "path": f"fra-eng/{n}.jsonl"}]}
               for n in ("corpus", "queries", "qrels")]
    (root / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}) + "---\n# mteb-style\n")
    return root


def test_any_mteb_layout_dataset(work, tmp_path, capsys):
    from evaluation.datasets_io import open_dataset

    ds_dir = _mteb_style_folder(tmp_path / "xpqa")
    sub = open_dataset(str(ds_dir)).load("fra-eng")
    assert sub.corpus == {"d1": "Cats cats purr and sleep", "d2": "Dogs dogs bark at night", "d3": "debian packages"}
    assert sub.top_ranked is None and sub.qrels["q2"] == {"d2": 1}
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(work["bi"]), "--dataset", str(ds_dir), "--subsets", "fra-eng",
                 "--output", str(out), "--no-plot"]) == 0
    r = json.loads(next(out.rglob("fra-eng.json")).read_text())
    assert r["task_name"] == "xpqa" and r["first_stage"]["name"] == "dense" and r["pair"] == "fr-en"
    assert r["scores"]["test"][0]["recall_at_100"] == 1.0  # 3 passages, all retrieved
    rc = main(["evaluate", "--model", str(work["ce"]), "--dataset", str(ds_dir), "--subsets", "fra-eng",
               "--output", str(out), "--no-plot"])
    assert rc == 2 and "no top_ranked candidates" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(work["ce"]), "--dataset", str(ds_dir), "--subsets", "fra-eng",
                 "--first-stage", "none", "--output", str(out), "--no-plot"]) == 0
    r = json.loads(next((out / "ce__model").rglob("fra-eng.json")).read_text())
    assert r["first_stage"]["name"] == "exhaustive" and r["timings"]["rerank_pairs"] == 9
    rc = main(["evaluate", "--model", str(work["bi"]), "--dataset", str(ds_dir), "--subsets", "deu-eng",
               "--output", str(out)])
    assert rc == 2 and "'deu-eng' is not a subset" in capsys.readouterr().err


def test_bi_encoder_reranks_bm25_candidates(work, tmp_path):
    out = tmp_path / "res"
    assert _evaluate(work, work["bi"], out, "--first-stage", "bm25", "--no-plot") == 0
    r = json.loads(next(out.rglob("deu-eng.json")).read_text())
    assert r["first_stage"]["name"] == "top_ranked" and r["settings"]["first_stage"] == "top_ranked"
    ranked = sum(1 for _ in r["per_query"]["RR@10"])
    assert ranked == 30
    top = datasets.load_dataset(str(work["evalset"]), "deu-eng-top_ranked", split="test")
    cands = dict(zip(top["query-id"], top["corpus-ids"]))
    # a query whose relevant passage is not among its BM25 candidates can only score 0 when re-ranking
    for q, v in r["per_query"]["R@100"].items():
        assert v == (1.0 if q in cands[q] else 0.0)


def test_yaml_config_with_cli_override(work, tmp_path, capsys):
    import yaml

    cfg = tmp_path / "eval.yaml"
    cfg.write_text(yaml.safe_dump({"tasks": ["ddtp"], "task_sources": {"ddtp": str(work["evalset"])},
                                   "pairs": ["de-en"], "max_queries": 7, "metrics": ["RR@10", "P@1"],
                                   "output": str(tmp_path / "res"), "plot": False}))
    assert main(["evaluate", "--config", str(cfg), "--model", str(work["bi"]), "--max-queries", "5"]) == 0
    r = json.loads(next((tmp_path / "res").rglob("deu-eng.json")).read_text())
    assert r["scores"]["test"][0]["num_queries"] == 5 and "precision_at_1" in r["scores"]["test"][0]
    cfg.write_text(yaml.safe_dump({"tasks": ["ddtp"], "max_querys": 3}))
    assert main(["evaluate", "--config", str(cfg), "--model", str(work["bi"])]) == 2
    assert "field 'max_querys' is not an evaluation setting" in capsys.readouterr().err
