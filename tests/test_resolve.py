"""`csir.hub.resolve`: the one (spec, revision) -> (local folder, exact version) function of the project."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from csir.errors import CsirError
from csir.hub.resolve import folder_hash, is_hub_id, looks_like_path, resolve

sys.path.insert(0, str(Path(__file__).parent))
from hub_server import serving_as_hub  # noqa: E402


def _git(repo: Path, *args) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "plain"
    (d / "sub").mkdir(parents=True)
    (d / "config.json").write_text('{"a": 1}')
    (d / "sub" / "data.txt").write_text("rows\n")
    return d


def test_plain_folder_is_local_and_hashed(tmp_path):
    d = _folder(tmp_path)
    r = resolve(str(d), repo_type="dataset")
    h = hashlib.sha256()
    for rel in ("config.json", "sub/data.txt"):  # sorted relative paths, each followed by its bytes
        h.update(rel.encode() + b"\0" + (d / rel).read_bytes())
    assert (r.kind, r.path, r.commit, r.tmp) == ("folder", d, "sha256:" + h.hexdigest(), None)
    assert resolve(str(d), repo_type="model").commit == r.commit  # small files: both hash modes agree
    with pytest.raises(CsirError, match="plain folder .* no revision 'v1'"):
        resolve(str(d), "v1", "dataset", rev_flag="--dataset-revision")
    (d / "sub" / "data.txt").write_text("rows!\n")
    assert resolve(str(d), repo_type="dataset").commit != r.commit


def test_folder_hash_samples_large_weights_only_when_asked(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    blob = bytearray(3 << 20)
    (d / "model.safetensors").write_bytes(bytes(blob))
    full, sampled = folder_hash(d), folder_hash(d, sample_large=True)
    blob[len(blob) // 2] = 1  # a change in the middle: the sampled hash pins size and both ends only
    (d / "model.safetensors").write_bytes(bytes(blob))
    assert folder_hash(d) != full and folder_hash(d, sample_large=True) == sampled
    blob[0] = 1
    (d / "model.safetensors").write_bytes(bytes(blob))
    assert folder_hash(d, sample_large=True) != sampled


def test_local_git_repo_resolves_tags_and_exports_other_commits(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("v1")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    _git(repo, "tag", "v1.0.0")
    v1 = _git(repo, "rev-parse", "HEAD")
    (repo / "f.txt").write_text("v2")
    _git(repo, "commit", "-qam", "v2")
    head = _git(repo, "rev-parse", "HEAD")

    r = resolve(str(repo), repo_type="dataset")
    assert (r.kind, r.path, r.commit, r.tmp) == ("git", repo, head, None)
    old = resolve(str(repo), "v1.0.0", "dataset")
    assert old.commit == v1 and old.path != repo and (old.path / "f.txt").read_text() == "v1"
    assert (repo / "f.txt").read_text() == "v2"  # the user's checkout is untouched
    old.cleanup()
    assert not old.path.exists()
    with pytest.raises(CsirError, match="checked out at another commit"):
        resolve(str(repo), "v1.0.0", "model", other_commit="refuse")
    with pytest.raises(CsirError, match="--dataset-revision: revision 'v9' does not exist"):
        resolve(str(repo), "v9", "dataset", rev_flag="--dataset-revision")


@pytest.mark.parametrize("spec", ["./nope", "/no/such/folder", "~/no-such-csir-folder", "out/lexx/de", "../no-such-csir-folder-x"])
def test_path_like_missing_spec_is_an_error_at_once(spec):
    assert looks_like_path(spec) and not is_hub_id(spec)
    t0 = time.perf_counter()
    with pytest.raises(CsirError, match=r"^--lexicon: '.*' is not a local folder \(no such folder or file\)$"):
        resolve(spec, flag="--lexicon")
    assert time.perf_counter() - t0 < 0.5


def test_hub_id_predicate(tmp_path, monkeypatch):
    assert is_hub_id("org/name") and is_hub_id("Org-1/name_2.v3")
    for spec in ("name", "org/name/x", "./org/name", "/org/name", "~/x", "org/na me", "", None):
        assert not is_hub_id(spec), spec
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert not is_hub_id("org/name")  # exists locally: local wins
    assert resolve("org/name", repo_type="dataset").kind == "folder"
    with pytest.raises(CsirError, match="neither a local folder nor a Hub id"):
        resolve("not a repo", flag="--model")


def test_offline_hub_lookup_fails_in_one_line_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    t0 = time.perf_counter()
    with pytest.raises(CsirError) as err:
        resolve("csir-test/absent", repo_type="dataset", flag="--dataset")
    assert time.perf_counter() - t0 < 2
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("--dataset: 'csir-test/absent' is not a local folder, and the Hub is "
                                              "unreachable (") and "HF_HUB_OFFLINE" in msg


def test_unreachable_hub_fails_in_one_line_fast(monkeypatch):
    from huggingface_hub import constants

    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    for download in (True, False):
        t0 = time.perf_counter()
        with pytest.raises(CsirError, match=rf"^--model: cannot reach http://127.0.0.1:{port}: ConnectError.*"
                                            r"is not a local folder, and the Hub is unreachable"):
            resolve("csir-test/absent", "v1", "model", download=download)
        assert time.perf_counter() - t0 < 2


def test_hub_id_through_the_test_hub_server(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from csir.hub import publish_folder

    src = _folder(tmp_path)
    (src / "README.md").write_text("---\nlicense: apache-2.0\n---\n# x\n")
    store = tmp_path / "store"
    v1 = publish_folder(src, "csir-test/res", repo_type="model", version="v1.0.0", target="local", store=store)
    (src / "config.json").write_text('{"a": 2}')
    v2 = publish_folder(src, "csir-test/res", repo_type="model", version="v2.0.0", target="local", store=store)
    with serving_as_hub(store, tmp_path / "serve.log", monkeypatch, tmp_path / "hub-cache"):
        r = resolve("csir-test/res", "v1.0.0", "model")
        assert (r.kind, r.commit) == ("hub", v1.commit_sha)
        assert (r.path / "config.json").read_text() == '{"a": 1}' and r.path.name == v1.commit_sha
        assert resolve("csir-test/res", None, "model", download=False) .commit == v2.commit_sha
        assert resolve("csir-test/res", None, "model").path.joinpath("config.json").read_text() == '{"a": 2}'
        with pytest.raises(CsirError, match="--revision: revision 'v7' does not exist in model csir-test/res"):
            resolve("csir-test/res", "v7", "model")
        with pytest.raises(CsirError, match="model repository 'csir-test/absent' not found"):
            resolve("csir-test/absent", None, "model")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # server gone, offline: the cached snapshot still serves
    cached = resolve("csir-test/res", "v1.0.0", "model")
    assert cached.commit == v1.commit_sha and (cached.path / "config.json").read_text() == '{"a": 1}'
