"""Acceptance: two published versions in a local store, served by `csir hub serve`, read by stock HF clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from publish_samples import CONFIG, pair_rows, write_cs_dataset, write_tiny_model

from csir.hub import publish_folder
from csir.hub.local_store import LocalStore
from csir.hub.serve import parse_request

ROOT = Path(__file__).resolve().parents[1]
DATASET = "csir-test/cs-pairs"
MODEL = "csir-test/tiny-encoder"

CLIENT = r'''
import json, sys
import datasets, torch
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import RevisionNotFoundError
from transformers import AutoModel, AutoTokenizer
from sentence_transformers import SentenceTransformer

repo, model_repo, config = sys.argv[1:4]
out = {"rows": {}, "sha": {}, "cache_dirs": {}, "model": {}}
for rev in ("v1.0.0", "v2.0.0"):
    dd = datasets.load_dataset(repo, config, revision=rev)
    out["rows"][rev] = {split: list(dd[split]["query"]) for split in dd}
    out["cache_dirs"][rev] = dd["train"].cache_files[0]["filename"]
    out["sha"][rev] = HfApi().dataset_info(repo, revision=rev).sha
out["configs_v2"] = sorted(datasets.get_dataset_config_names(repo, revision="v2.0.0"))
out["manifest_v1"] = json.load(open(hf_hub_download(repo, "build_manifest.json", repo_type="dataset",
                                                    revision="v1.0.0")))["rows"]
try:
    datasets.load_dataset(repo, config, revision="v3.0.0")
    out["v3"] = "loaded"
except Exception as exc:  # the failed publish must not be visible
    out["v3"] = type(exc).__name__ + ": " + str(exc)[:200]
for rev in ("v1.0.0", "v2.0.0"):
    model = AutoModel.from_pretrained(model_repo, revision=rev)
    out["model"][rev] = float(model.embeddings.word_embeddings.weight.detach().sum())
tok = AutoTokenizer.from_pretrained(model_repo, revision="v1.0.0")
st = SentenceTransformer(model_repo, revision="v2.0.0", device="cpu")
out["st_dim"] = int(st.encode(["abc def"]).shape[1])
out["tokens"] = list(tok("abc")["input_ids"])
print("RESULT " + json.dumps(out))
'''


def test_parse_request_routes():
    assert parse_request("/api/datasets/o/n/revision/v1.0.0") == ("revision", "datasets", "o", "n", "v1.0.0", "")
    assert parse_request("/api/models/o/n/tree/refs%2Fpr%2F1/a/b?recursive=true") == (
        "tree", "models", "o", "n", "refs/pr/1", "a/b")
    assert parse_request("/datasets/o/n/resolve/v2.0.0/data/x.parquet") == (
        "resolve", "datasets", "o", "n", "v2.0.0", "data/x.parquet")
    assert parse_request("/o/n/resolve/abc/config.json") == ("resolve", "models", "o", "n", "abc", "config.json")
    assert parse_request("/api/datasets/o/n") is None


def _http(url: str, method: str = "GET") -> tuple[int, str | None, dict]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
            return resp.status, resp.headers.get("x-error-code"), json.loads(body) if body else {}
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("x-error-code"), {}


def _start_server(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "builders", "hub", "serve", "--store", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("export HF_ENDPOINT="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError(f"server did not start: {lines} {log.read_text()[-2000:]}")


def test_hub_serve_versions_to_stock_clients(tmp_path, monkeypatch):
    store = tmp_path / "store"
    v1 = write_cs_dataset(tmp_path / "ds-v1", 0, 8)
    v2 = write_cs_dataset(tmp_path / "ds-v2", 8, 20, extra_config=True)
    r1 = publish_folder(v1, DATASET, version="v1.0.0", target="local", store=store)
    r2 = publish_folder(v2, DATASET, version="v2.0.0", target="local", store=store)
    m1 = publish_folder(write_tiny_model(tmp_path / "m-v1", seed=1), MODEL, repo_type="model", version="v1.0.0",
                        target="local", store=store)
    m2 = publish_folder(write_tiny_model(tmp_path / "m-v2", seed=2), MODEL, repo_type="model", version="v2.0.0",
                        target="local", store=store)
    assert m1.commit_sha != m2.commit_sha

    # a publish of v3.0.0 killed before its refs move: the server must not show it
    v3 = write_cs_dataset(tmp_path / "ds-v3", 20, 30)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed midway")
    monkeypatch.setattr(LocalStore, "update_refs", crash)
    with pytest.raises(KeyboardInterrupt):
        publish_folder(v3, DATASET, version="v3.0.0", target="local", store=store)
    monkeypatch.undo()

    proc, endpoint = _start_server(store, tmp_path / "serve.log")
    try:
        assert endpoint.startswith("http://127.0.0.1:")
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "client-home"),
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
               "HF_HUB_DISABLE_XET": "1", "HF_DATASETS_CACHE": str(tmp_path / "client-home" / "datasets")}
        client = subprocess.run([sys.executable, "-c", CLIENT, DATASET, MODEL, CONFIG], env=env,
                                capture_output=True, text=True, timeout=240)
        # Hub-style answers where olah alone says 401 RepoNotFound; writes refused
        assert _http(f"{endpoint}/datasets/{DATASET}/resolve/v1.0.0/nope.txt", "HEAD")[:2] == (404, "EntryNotFound")
        assert _http(f"{endpoint}/api/datasets/{DATASET}/revision/v3.0.0")[:2] == (404, "RevisionNotFound")
        assert _http(f"{endpoint}/api/models/{MODEL}/tree/v1.0.0/additional_chat_templates")[:2] == (
            404, "EntryNotFound")
        assert _http(f"{endpoint}/api/datasets/{DATASET}/commit/main", "POST")[0] == 405
        assert _http(f"{endpoint}/api/datasets/{DATASET}/revision/v2.0.0")[2]["sha"] == r2.commit_sha
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert client.returncode == 0, client.stderr[-3000:]
    out = json.loads(next(l for l in client.stdout.splitlines() if l.startswith("RESULT "))[7:])

    # version 1's rows for v1.0.0, version 2's rows for v2.0.0
    q1, q2 = pair_rows(0, 8)["query"], pair_rows(8, 20)["query"]
    assert out["rows"]["v1.0.0"] == {"train": q1[:6], "dev": q1[6:]}
    assert out["rows"]["v2.0.0"] == {"train": q2[:9], "dev": q2[9:]}
    assert out["configs_v2"] == sorted([CONFIG, "zero-shot"])
    assert out["manifest_v1"] == [0, 8]
    # the resolved commit is the tagged one, recorded in the folder's card and in the datasets cache path
    assert out["sha"] == {"v1.0.0": r1.commit_sha, "v2.0.0": r2.commit_sha}
    for rev, res, folder in (("v1.0.0", r1, v1), ("v2.0.0", r2, v2)):
        assert res.commit_sha in out["cache_dirs"][rev]
        assert f"This version ({rev}) is commit `{res.commit_sha}`." in (folder / "README.md").read_text()
    assert "Revision" in out["v3"] or "v3.0.0" in out["v3"], out["v3"]
    # models by revision: different random weights per version, loadable by AutoModel and SentenceTransformer
    assert out["model"]["v1.0.0"] != out["model"]["v2.0.0"]
    assert out["st_dim"] == 16 and out["tokens"][0] == 2  # [CLS]
