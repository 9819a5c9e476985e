"""Hub target end to end: the real `huggingface_hub.HfApi` client against the request-recording server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
from hub_recorder import HubRecorder
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from publish_samples import CONFIG, write_cs_dataset

from csir.errors import CsirError
from csir.hub import RetryPolicy, publish_folder

REPO = "csir-test/cs-pairs"
FAST = RetryPolicy(attempts=3, base_s=0.01)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    with HubRecorder() as rec:
        monkeypatch.setenv("HF_TOKEN", rec.token)
        yield rec


def publish(hub, folder, version, **kw):
    return publish_folder(folder, REPO, version=version, target="hub", endpoint=hub.endpoint,
                          retry=kw.pop("retry", FAST), **kw)


def committed_paths(request) -> set[str]:
    lines = [json.loads(x) for x in request.body.decode().splitlines() if x.strip()]
    return {x["value"]["path"] for x in lines if x["key"] in ("file", "lfsFile")}


def test_publish_one_commit_one_tag_then_noop(hub, tmp_path):
    folder = write_cs_dataset(tmp_path / "v1", 0, 8)
    result = publish(hub, folder, "v1.0.0")
    repo = hub.repo("dataset", REPO)

    assert [r.status for r in hub.calls("create_repo")] == [200]
    commits = hub.calls("commit")
    assert len(commits) == 1 and commits[0].status == 200
    assert committed_paths(commits[0]) == {"README.md", "build_manifest.json",
                                           f"data/{CONFIG}/train-00000-of-00001.parquet",
                                           f"data/{CONFIG}/dev-00000-of-00001.parquet"}
    # parquet went through the LFS batch API (XET disabled) as two PUTs
    assert len(hub.calls("lfs_put")) == 2
    tags = hub.calls("tag")
    assert len(tags) == 1 and tags[0].path.endswith(f"/tag/{result.commit_sha}")
    assert repo.tags == {"v1.0.0": result.commit_sha} and repo.branches["main"] == result.commit_sha
    assert result.url == f"{hub.endpoint}/datasets/{REPO}/tree/v1.0.0"
    # what is stored under the tag is what the folder holds (README pinned to the version)
    stored = repo.commits[result.commit_sha].files
    assert 'revision="v1.0.0"' in stored["README.md"].data.decode()
    train = f"data/{CONFIG}/train-00000-of-00001.parquet"
    assert hub.lfs[stored[train].lfs_oid] == (folder / train).read_bytes()
    assert f"This version (v1.0.0) is commit `{result.commit_sha}`." in (folder / "README.md").read_text()
    # readable back by revision with the stock client
    path = hf_hub_download(REPO, "build_manifest.json", repo_type="dataset", revision="v1.0.0",
                           endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == (folder / "build_manifest.json").read_bytes()

    n_requests = len(hub.requests)
    again = publish(hub, folder, "v1.0.0")
    assert again.noop and again.commit_sha == result.commit_sha
    new = hub.requests[n_requests:]
    assert {r.endpoint for r in new} <= {"repo_info", "refs", "tree"}, [r.endpoint for r in new]
    assert len(repo.commits) == 2  # the Hub's initial .gitattributes commit + ours


def test_conflicting_tag_refused_then_forced_and_new_version(hub, tmp_path):
    v1 = write_cs_dataset(tmp_path / "v1", 0, 8)
    v2 = write_cs_dataset(tmp_path / "v2", 8, 20, extra_config=True)
    r1 = publish(hub, v1, "v1.0.0")
    with pytest.raises(CsirError, match="already exists.*--force"):
        publish(hub, v2, "v1.0.0")
    assert len(hub.calls("commit")) == 1 and hub.repo("dataset", REPO).tags == {"v1.0.0": r1.commit_sha}

    r2 = publish(hub, v2, "v2.0.0")
    repo = hub.repo("dataset", REPO)
    assert repo.tags == {"v1.0.0": r1.commit_sha, "v2.0.0": r2.commit_sha}
    assert len(hub.calls("create_repo")) == 1  # created once, never again
    assert repo.commits[r2.commit_sha].parent == r1.commit_sha
    assert "data/zero-shot/train-00000-of-00001.parquet" in repo.commits[r2.commit_sha].files

    # a later version without the zero-shot config: its files are deleted in that same single commit
    v3 = write_cs_dataset(tmp_path / "v3", 20, 30)
    r3 = publish(hub, v3, "v3.0.0")
    assert not any(p.startswith("data/zero-shot/") for p in repo.commits[r3.commit_sha].files)
    assert ".gitattributes" in repo.commits[r3.commit_sha].files  # the Hub's own file is kept
    assert repo.commits[r2.commit_sha].files.keys() > repo.commits[r3.commit_sha].files.keys()

    # --force moves an existing tag to the new content
    forced = publish(hub, v3, "v1.0.0", force=True)
    assert [r.status for r in hub.calls("delete_tag")] == [200]
    assert repo.tags["v1.0.0"] == forced.commit_sha != r1.commit_sha
    assert repo.tags["v3.0.0"] == r3.commit_sha


def test_failed_commit_creates_no_tag_and_retry_resumes(hub, tmp_path):
    v1 = write_cs_dataset(tmp_path / "v1", 0, 8)
    v2 = write_cs_dataset(tmp_path / "v2", 8, 20)
    r1 = publish(hub, v1, "v1.0.0")
    repo = hub.repo("dataset", REPO)
    puts_before = len(hub.calls("lfs_put"))

    hub.fail_next("commit", 500, 500, 500)  # the commit dies on every attempt
    with pytest.raises(HfHubHTTPError):
        publish(hub, v2, "v2.0.0")
    assert len(hub.calls("commit")) == 1 + FAST.attempts
    assert repo.tags == {"v1.0.0": r1.commit_sha} and repo.branches["main"] == r1.commit_sha
    assert not hub.calls("tag")[1:]
    assert "is commit" not in (v2 / "README.md").read_text()
    # the previous version still loads
    path = hf_hub_download(REPO, f"data/{CONFIG}/train-00000-of-00001.parquet", repo_type="dataset",
                           revision="v1.0.0", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == (v1 / f"data/{CONFIG}/train-00000-of-00001.parquet").read_bytes()

    uploaded = len(hub.calls("lfs_put")) - puts_before
    r2 = publish(hub, v2, "v2.0.0")
    assert repo.tags["v2.0.0"] == r2.commit_sha
    assert len(hub.calls("lfs_put")) - puts_before == uploaded  # resumed: LFS objects not sent twice


def test_rate_limit_is_retried_with_backoff(hub, tmp_path):
    folder = write_cs_dataset(tmp_path / "v1", 0, 8)
    hub.fail_next("commit", 429)
    hub.fail_next("tag", 503)
    result = publish(hub, folder, "v1.0.0")
    assert [r.status for r in hub.calls("commit")] == [429, 200]
    assert [r.status for r in hub.calls("tag")] == [503, 200]
    repo = hub.repo("dataset", REPO)
    assert repo.tags == {"v1.0.0": result.commit_sha} and len(repo.commits) == 2


def test_dry_run_makes_no_write_requests(hub, tmp_path):
    folder = write_cs_dataset(tmp_path / "v1", 0, 8)
    dry = publish(hub, folder, "v1.0.0", dry_run=True)
    assert dry.action == "create+commit" and dry.commit_sha is None
    assert {r.endpoint for r in hub.requests} == {"repo_info"} and not hub.repos


def test_cli_uses_env_token_and_never_prints_it(hub, tmp_path):
    folder = write_cs_dataset(tmp_path / "v1", 0, 8)
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token, "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_XET": "1", "HF_DEBUG": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "builders", "-v", "publish", str(folder), "--repo", REPO, "--version", "v1.0.0",
           "--private", "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert hub.repo("dataset", REPO).tags == {"v1.0.0": result["commit_sha"]} and hub.repo("dataset", REPO).private
    writes = [r for r in hub.requests if r.endpoint in ("create_repo", "commit", "tag")]
    assert writes and all(r.headers.get("authorization") == f"Bearer {hub.token}" for r in writes)
    assert hub.token not in proc.stdout + proc.stderr
    assert all(hub.token not in p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    # and a wrong token is reported, not echoed
    proc = subprocess.run(cmd[:-4] + ["--version", "v9.0.0"], env={**env, "HF_TOKEN": "hf_wrong_token_value"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "hf_wrong_token_value" not in proc.stdout + proc.stderr
