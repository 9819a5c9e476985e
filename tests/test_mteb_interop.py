"""MTEB both ways: our results load with mteb's own loader, our sets run as MTEB tasks with the same scores as
`csir evaluate`, and `csir evaluate --mteb-task` runs an MTEB task by name from a served local copy."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.cli import main

mteb = pytest.importorskip("mteb")
sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PAIRS = "de-en,en-en,de-mlir"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("mteb")
    assert main(["evalset", "ddtp", "--ddtp-dir", str(FIXTURES / "ddtp"), "--output", str(root / "evalset"),
                 "--langs", "en,de,fr", "--top-k", "20"]) == 0
    # a published copy: a git repo with a tag, as a clone of the Hub repo would be
    repo = root / "ddtp-retrieval"
    shutil.copytree(root / "evalset", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v1"], ["tag", "v1.0.0"]):
        subprocess.run([*git, *cmd], check=True)
    return {"root": root, "evalset": repo, "bi": build_bi_encoder(root / "bi")}


@pytest.fixture(scope="module")
def evaluated(work):
    out = work["root"] / "results"
    assert main(["evaluate", "--model", str(work["bi"]), "--model-name", "tiny-bi", "--tasks", "ddtp",
                 "--ddtp", str(work["evalset"]), "--dataset-revision", "v1.0.0", "--pairs", PAIRS,
                 "--output", str(out), "--no-plot"]) == 0
    return out


def test_results_load_with_mtebs_own_loader(work, evaluated):
    model_dir = next((evaluated / "tiny-bi").iterdir())
    task_file = model_dir / "CsirDDTPRetrieval.json"
    raw = json.loads(task_file.read_text())
    assert raw["mteb_version"] == mteb.__version__ and len(raw["dataset_revision"]) == 40
    res = mteb.TaskResult.from_disk(task_file)
    rows = {s["hf_subset"]: s for s in res.scores["test"]}
    assert sorted(rows) == ["deu-eng", "eng-eng", "mlir-deu"]  # every subset in one file
    assert rows["deu-eng"]["languages"] == ["deu-Latn", "eng-Latn"]
    assert rows["mlir-deu"]["languages"][0] == "deu-Latn" and "fra-Latn" in rows["mlir-deu"]["languages"]
    ours = json.loads((model_dir / "ddtp" / "deu-eng.json").read_text())
    assert rows["deu-eng"]["main_score"] == ours["scores"]["test"][0]["mrr_at_10"]
    assert res.evaluation_time > 0 and res.date is not None
    # the results folder is an MTEB results cache: ResultCache finds model, revision and task
    cache_root = work["root"] / "cache"
    (cache_root).mkdir(exist_ok=True)
    if not (cache_root / "results").exists():
        os.symlink(evaluated, cache_root / "results")
    bench = mteb.ResultCache(cache_path=cache_root).load_results(include_remote=False)
    tasks = [t for m in bench.model_results for t in m.task_results]
    assert [t.task_name for t in tasks] == ["CsirDDTPRetrieval"]
    assert bench.model_results[0].model_name == "tiny-bi"
    assert bench.model_results[0].model_revision == model_dir.name
    # no path of this machine in the published results
    for f in model_dir.rglob("*.json"):
        assert str(work["root"]) not in f.read_text(), f


def test_mteb_run_of_our_task_matches_csir_evaluate(work, evaluated):
    from sentence_transformers import SentenceTransformer

    from evaluation.mteb_tasks import csir_task

    task = csir_task("ddtp", str(work["evalset"]), revision="v1.0.0")
    head = subprocess.run(["git", "-C", str(work["evalset"]), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert task.metadata.dataset["revision"] == head  # the tag is pinned to its commit
    assert task.metadata.eval_langs["deu-eng"] == ["deu-Latn", "eng-Latn"]
    task = task.filter_languages(None, hf_subsets=["deu-eng", "eng-eng"])
    model = SentenceTransformer(str(work["bi"]), device="cpu")
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False)
    theirs = {s["hf_subset"]: s for s in result.task_results[0].scores["test"]}
    model_dir = next((evaluated / "tiny-bi").iterdir())
    for subset in ("deu-eng", "eng-eng"):
        ours = json.loads((model_dir / "ddtp" / f"{subset}.json").read_text())["scores"]["test"][0]
        for key in ("mrr_at_10", "ndcg_at_10", "recall_at_100"):
            assert abs(ours[key] - theirs[subset][key]) < 1e-4, (subset, key, ours[key], theirs[subset][key])


def test_unknown_mteb_task_exit_2(work, tmp_path, capsys):
    rc = main(["evaluate", "--model", str(work["bi"]), "--mteb-task", "NoSuchTaskXYZ", "--output", str(tmp_path)])
    assert rc == 2 and "NoSuchTaskXYZ" in capsys.readouterr().err


def test_mteb_task_by_name_from_a_served_local_copy(work, tmp_path):
    """`--mteb-task SciFact` reads path + revision from mteb's metadata and fetches through HF_ENDPOINT."""
    from csir.hub.publish import publish_folder

    meta = mteb.get_task("SciFact").metadata
    path = meta.dataset["path"]
    # a tiny copy in SciFact's layout (corpus / queries / default qrels) published under its Hub id
    src = tmp_path / "scifact"
    _write_monolingual_set(src, work["evalset"])
    store = tmp_path / "store"
    pub = publish_folder(src, path, repo_type="dataset", version="v1.0.0", target="local", store=str(store))
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    server = subprocess.Popen([sys.executable, "-m", "csir", "hub", "serve", "--store", str(store), "--port", "0"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        env["HF_ENDPOINT"] = _endpoint(server)
        run = [sys.executable, "-m", "csir", "evaluate", "--model", str(work["bi"]), "--model-name", "tiny-bi",
               "--mteb-task", "SciFact", "--output", str(tmp_path / "out"), "--no-plot"]
        pinned = subprocess.run(run, env=env, capture_output=True, text=True)
        # the metadata's pinned commit is not in our copy: refused, naming the revision
        assert pinned.returncode == 2 and meta.dataset["revision"] in pinned.stderr, pinned.stderr[-2000:]
        ok = subprocess.run([*run, "--dataset-revision", "v1.0.0"], env=env, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stderr[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
    model_dir = next((tmp_path / "out" / "tiny-bi").iterdir())
    ours = json.loads((model_dir / "SciFact" / "default.json").read_text())
    assert ours["dataset"]["source"] == path and ours["dataset_revision"] == pub.commit_sha
    assert ours["scores"]["test"][0]["num_queries"] > 10
    res = mteb.TaskResult.from_disk(model_dir / "SciFact.json")
    assert res.task_name == "SciFact" and res.scores["test"][0]["hf_subset"] == "default"
    assert res.scores["test"][0]["languages"] == ["eng-Latn"]  # from the task's metadata
    assert res.validate_and_filter_scores().scores["test"][0]["main_score"] == ours["scores"]["test"][0]["main_score"]


def _write_monolingual_set(dest: Path, evalset: Path) -> None:
    """English queries/passages of our fixture set as MTEB's monolingual layout: configs corpus, queries, default."""
    import datasets

    dest.mkdir(parents=True)
    readme = ["---", "configs:"]
    for config, role in (("corpus", "eng-eng-corpus"), ("queries", "eng-eng-queries"), ("default", "eng-eng-qrels")):
        ds = datasets.load_dataset(str(evalset), role, split="test")
        if "language" in ds.column_names:
            ds = ds.remove_columns("language")
        (dest / config).mkdir()
        ds.to_parquet(str(dest / config / "test.parquet"))
        readme += [f"- config_name: {config}", "  data_files:", "  - split: test", f"    path: {config}/test.parquet"]
    (dest / "README.md").write_text("\n".join(readme + ["---", "# tiny SciFact-layout copy", ""]))


def _endpoint(server) -> str:
    """The URL `csir hub serve` prints as `export HF_ENDPOINT=...`."""
    for line in server.stdout:
        if line.startswith("export HF_ENDPOINT="):
            return line.strip().split("=", 1)[1]
    raise AssertionError("csir hub serve did not start")
