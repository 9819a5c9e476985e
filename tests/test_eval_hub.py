"""Hub path: a model and an evaluation set published to the local store, served by `csir hub serve`, evaluated
by Hub id + revision (the resolved commits are recorded; a revision that does not exist is exit code 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from csir.hub import publish_folder
from evaluation.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder  # noqa: E402
from hub_server import start_server

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]




def test_evaluate_hub_ids_served_from_local_store(tmp_path):
    store = tmp_path / "store"
    ev = tmp_path / "evalset"
    assert main(["evalset", "ddtp", "--ddtp-dir", str(FIXTURES / "ddtp"), "--output", str(ev), "--langs", "en,de",
                 "--pairs", "de-en,en-en", "--max-queries", "20", "--top-k", "10"]) == 0
    ds_pub = publish_folder(ev, "csir-test/ddtp-eval", version="v1.0.0", target="local", store=store)
    model = build_bi_encoder(tmp_path / "bi")
    (model / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: sentence-transformers\n---\n# tiny\n")
    m_pub = publish_folder(model, "csir-test/tiny-bi", repo_type="model", version="v1.0.0", target="local",
                           store=store)
    proc, endpoint = start_server(store, tmp_path / "serve.log")
    try:
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "client-home"),
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
               "HF_DATASETS_CACHE": str(tmp_path / "client-home" / "datasets")}
        base = [sys.executable, "-m", "evaluation", "evaluate", "--model", "csir-test/tiny-bi@v1.0.0",
                "--tasks", "ddtp", "--ddtp", "csir-test/ddtp-eval", "--output", str(tmp_path / "res"), "--no-plot"]
        ok = subprocess.run([*base, "--dataset-revision", "v1.0.0"], capture_output=True, text=True, env=env,
                            timeout=300)
        assert ok.returncode == 0, ok.stderr[-3000:]
        bad = subprocess.run([*base, "--dataset-revision", "v9.9.9"], capture_output=True, text=True, env=env,
                             timeout=300)
        bad_model = subprocess.run([*base[:5], "csir-test/tiny-bi@v7", *base[6:], "--dataset-revision", "v1.0.0"],
                                   capture_output=True, text=True, env=env, timeout=300)
    finally:
        proc.kill()
        proc.wait()
    r = json.loads(next((tmp_path / "res").rglob("deu-eng.json")).read_text())
    assert r["dataset_revision"] == ds_pub.commit_sha and r["dataset"]["revision"] == "v1.0.0"
    assert r["model"]["resolved_revision"] == m_pub.commit_sha and r["model"]["revision"] == "v1.0.0"
    assert (tmp_path / "res" / "csir-test__tiny-bi" / m_pub.commit_sha / "ddtp" / "eng-eng.json").exists()
    assert bad.returncode == 2 and "revision 'v9.9.9' does not exist" in bad.stderr.strip().splitlines()[-1]
    assert bad_model.returncode == 2 and "revision 'v7' does not exist in model" in bad_model.stderr
