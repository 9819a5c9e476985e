"""Local git store target: commit per publish, tag per version, no-op / refusal / force, atomic refs."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from publish_samples import CONFIG, write_cs_dataset

from csir.cli import main
from csir.errors import CsirError
from csir.hub import publish_folder
from csir.hub.cli import add_publish_args, publish_from_args
from csir.hub.local_store import LocalStore, RefRace

REPO = "csir-test/cs-pairs"


def git(repo, *args) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def publish(folder, store, version, **kw):
    return publish_folder(folder, REPO, version=version, target="local", store=store, **kw)


@pytest.fixture
def v1(tmp_path):
    return write_cs_dataset(tmp_path / "v1", 0, 8)


@pytest.fixture
def v2(tmp_path):
    return write_cs_dataset(tmp_path / "v2", 8, 20, extra_config=True)


def test_publish_two_versions_then_noop(tmp_path, v1, v2):
    store = tmp_path / "store"
    r1 = publish(v1, store, "v1.0.0")
    repo = store / "datasets" / REPO
    assert not r1.noop and r1.action == "commit" and len(r1.commit_sha) == 40
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == r1.commit_sha == git(repo, "rev-parse", "main")
    files = set(git(repo, "ls-tree", "-r", "--name-only", "v1.0.0").split("\n"))
    assert files == {"README.md", "build_manifest.json", f"data/{CONFIG}/train-00000-of-00001.parquet",
                     f"data/{CONFIG}/dev-00000-of-00001.parquet"}
    # the stored parquet is byte-identical to the folder's (no LFS pointer, no filter)
    blob = subprocess.run(["git", "--git-dir", str(repo), "cat-file", "blob",
                           f"v1.0.0:data/{CONFIG}/train-00000-of-00001.parquet"], capture_output=True, check=True).stdout
    assert blob == (v1 / f"data/{CONFIG}/train-00000-of-00001.parquet").read_bytes()
    # the published card is pinned to the version; the folder's card records the commit
    stored_card = git(repo, "show", "v1.0.0:README.md")
    assert f'load_dataset("{REPO}", "{CONFIG}", revision="v1.0.0")' in stored_card
    assert f"This version (v1.0.0) is commit `{r1.commit_sha}`." in (v1 / "README.md").read_text()

    r2 = publish(v2, store, "v2.0.0")
    assert r2.commit_sha != r1.commit_sha
    assert git(repo, "rev-parse", "v2.0.0^{commit}") == r2.commit_sha
    assert git(repo, "rev-parse", f"{r2.commit_sha}^") == r1.commit_sha  # one commit per publish, linear history
    assert "zero-shot" in git(repo, "ls-tree", "-r", "--name-only", "v2.0.0")
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == r1.commit_sha  # old tag untouched

    again = publish(v1, store, "v1.0.0")  # the folder now carries the commit line: still identical content
    assert again.noop and again.commit_sha == r1.commit_sha
    assert git(repo, "rev-list", "--count", "main") == "2"
    assert sorted(git(repo, "tag").split()) == ["v1.0.0", "v2.0.0"]


def test_conflicting_tag_refused_unless_force(tmp_path, v1, v2):
    store = tmp_path / "store"
    r1 = publish(v1, store, "v1.0.0")
    with pytest.raises(CsirError, match="already exists.*--force"):
        publish(v2, store, "v1.0.0")
    repo = store / "datasets" / REPO
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == r1.commit_sha
    assert git(repo, "rev-list", "--count", "main") == "1"
    forced = publish(v2, store, "v1.0.0", force=True)
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == forced.commit_sha != r1.commit_sha


def test_same_content_new_version_tags_head_without_commit(tmp_path, v1):
    store = tmp_path / "store"
    r1 = publish(v1, store, "v1.0.0", update_card=False)
    # a new version pins a new revision in the card, so it is a new commit ...
    r2 = publish(v1, store, "v1.0.1", update_card=False)
    assert r2.action == "commit" and r2.commit_sha != r1.commit_sha
    # ... but the same folder under an existing-content version is not: tag the head, no empty commit
    repo = store / "datasets" / REPO
    git(repo, "tag", "-d", "v1.0.1")
    r3 = publish(v1, store, "v1.0.1", update_card=False)
    assert r3.action == "tag-existing" and r3.commit_sha == r2.commit_sha
    assert git(repo, "rev-list", "--count", "main") == "2"


def test_dry_run_writes_nothing(tmp_path, v1, v2):
    store = tmp_path / "store"
    dry = publish(v1, store, "v1.0.0", dry_run=True)
    assert dry.dry_run and dry.commit_sha is None and not store.exists()
    assert "is commit" not in (v1 / "README.md").read_text()
    publish(v1, store, "v1.0.0")
    repo = store / "datasets" / REPO
    before = git(repo, "count-objects", "-v")
    dry2 = publish(v2, store, "v2.0.0", dry_run=True)
    assert dry2.action == "commit" and git(repo, "count-objects", "-v") == before
    assert git(repo, "tag").split() == ["v1.0.0"]


def test_crash_before_refs_leaves_no_tag(tmp_path, v1, v2, monkeypatch):
    """Kill the publish after the commit object exists but before refs move: nothing visible changes."""
    store = tmp_path / "store"
    r1 = publish(v1, store, "v1.0.0")

    def crash(self, plan, commit, version):
        raise KeyboardInterrupt("killed midway")
    monkeypatch.setattr(LocalStore, "update_refs", crash)
    with pytest.raises(KeyboardInterrupt):
        publish(v2, store, "v2.0.0")
    monkeypatch.undo()
    repo = store / "datasets" / REPO
    assert git(repo, "tag").split() == ["v1.0.0"]
    assert git(repo, "rev-parse", "main") == r1.commit_sha
    assert "is commit" not in (v2 / "README.md").read_text()
    # the retry publishes normally on top of v1
    r2 = publish(v2, store, "v2.0.0")
    assert git(repo, "rev-parse", f"{r2.commit_sha}^") == r1.commit_sha


def test_concurrent_main_move_is_refused(tmp_path, v1, v2):
    """Refs move in one transaction that checks the old values: a publish racing another one fails cleanly."""
    store = tmp_path / "store"
    publish(v1, store, "v1.0.0")
    from csir.hub.files import stage_folder

    local = LocalStore(store, "dataset", REPO)
    plan = local.plan(stage_folder(v2), "v2.0.0", force=False, dry_run=False)
    commit = local.commit(plan, "racer")
    publish(v2, store, "v2.0.0-other")  # another publish moves main first
    with pytest.raises(RefRace, match="update-ref"):
        local.update_refs(plan, commit, "v2.0.0")
    assert "v2.0.0" not in git(store / "datasets" / REPO, "tag").split()


def test_publish_loser_replans_on_new_main(tmp_path, v1, v2, monkeypatch):
    """Another publish moves main between our plan and our ref update: we re-plan on it and land on top."""
    store = tmp_path / "store"
    r1 = publish(v1, store, "v1.0.0")
    other = tmp_path / "other"
    shutil.copytree(v1, other)
    (other / "extra.txt").write_text("from the other publish\n")
    real_commit, raced = LocalStore.commit, []

    def commit_after_a_rival(self, plan, message):
        if not raced:
            raced.append(None)
            raced[0] = publish(other, store, "v1.1.0")  # the rival wins the race
        return real_commit(self, plan, message)
    monkeypatch.setattr(LocalStore, "commit", commit_after_a_rival)
    r2 = publish(v2, store, "v2.0.0")
    monkeypatch.undo()
    repo = store / "datasets" / REPO
    assert sorted(git(repo, "tag").split()) == ["v1.0.0", "v1.1.0", "v2.0.0"]
    assert git(repo, "rev-parse", "main") == r2.commit_sha
    assert git(repo, "rev-parse", f"{r2.commit_sha}^") == raced[0].commit_sha
    assert git(repo, "rev-parse", f"{raced[0].commit_sha}^") == r1.commit_sha


def test_concurrent_publishes_both_land(tmp_path, v1, v2):
    """Two `csir publish` processes, different versions, one repo, started together: both tags land."""
    store = tmp_path / "store"
    publish(v1, store, "v1.0.0")
    folders = []
    for i in range(3):
        f = tmp_path / f"c{i}"
        shutil.copytree(v2, f)
        (f / f"extra-{i}.txt").write_text(f"{i}\n")
        folders.append(f)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-m", "csir", "publish", str(f), "--repo", REPO, "--version",
                               f"v2.{i}.0", "--target", "local", "--store", str(store)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i, f in enumerate(folders)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-500:] for o in outs]
    repo = store / "datasets" / REPO
    assert sorted(git(repo, "tag").split()) == ["v1.0.0", "v2.0.0", "v2.1.0", "v2.2.0"]
    history = git(repo, "rev-list", "main").split()
    assert len(history) == 4  # linear: each publish on top of the one before
    for i in range(3):
        assert git(repo, "rev-parse", f"v2.{i}.0^{{commit}}") in history
        assert f"extra-{i}.txt" in git(repo, "ls-tree", "--name-only", f"v2.{i}.0")


@pytest.mark.parametrize("kwargs, message", [
    ({"version": "1.0"}, "version tag like v1.0.0"),
    ({"repo_id": "noorg"}, "ORG/NAME"),
    ({"repo_type": "space"}, "repo_type"),
    ({"store": None}, "--store"),
])
def test_bad_arguments(tmp_path, v1, monkeypatch, kwargs, message):
    monkeypatch.delenv("CSIR_HUB_STORE", raising=False)
    args = {"repo_id": REPO, "version": "v1.0.0", "target": "local", "store": tmp_path / "s", **kwargs}
    with pytest.raises(CsirError, match=message):
        publish_folder(v1, args.pop("repo_id"), **args)


def test_card_problems_are_refused(tmp_path, v1):
    (v1 / f"data/{CONFIG}/dev-00000-of-00001.parquet").unlink()
    with pytest.raises(CsirError, match=r"configs\[bl-cs-p0.5-en-de\].data_files.*matches no file"):
        publish(v1, tmp_path / "store", "v1.0.0")
    (v1 / "README.md").write_text("# no front matter\n")
    with pytest.raises(CsirError, match="README.md:1: card has no YAML front matter"):
        publish(v1, tmp_path / "store", "v1.0.0")
    (v1 / "README.md").unlink()
    with pytest.raises(CsirError, match="README.md: missing"):
        publish(v1, tmp_path / "store", "v1.0.0")
    assert not (tmp_path / "store").exists()


def test_cli_publish_and_push_to_hub_flags(tmp_path, v1, v2, capsys):
    store = tmp_path / "store"
    rc = main(["publish", str(v1), "--repo", REPO, "--version", "v1.0.0", "--target", "local", "--store", str(store)])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith(f"published dataset {REPO}@v1.0.0 -> local: commit ")
    rc = main(["publish", str(v2), "--repo", REPO, "--version", "v1.0.0", "--target", "local", "--store", str(store)])
    assert rc == 2 and "already exists" in capsys.readouterr().err

    # the flags other commands (csir codeswitch, training) add with add_publish_args
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", help="a host command's own --target")  # must not clash
    add_publish_args(parser)
    args = parser.parse_args(["--push-to-hub", REPO, "--version", "v2.0.0", "--publish-target", "local",
                              "--store", str(store)])
    result = publish_from_args(v2, args)
    assert result.version == "v2.0.0" and result.target == "local" and not result.noop
    assert publish_from_args(v2, parser.parse_args([])) is None
    with pytest.raises(CsirError, match="--version"):
        publish_from_args(v2, parser.parse_args(["--push-to-hub", REPO]))


def test_trainer_aliases_target_store_and_store_dir(tmp_path, v1):
    """training/loop.py calls publish_folder(..., target="store", store_dir=...): same as local/store."""
    result = publish_folder(v1, REPO, version="v1.0.0", target="store", store_dir=tmp_path / "store")
    assert result.target == "local"
    assert git(tmp_path / "store" / "datasets" / REPO, "rev-parse", "v1.0.0^{commit}") == result.commit_sha


def test_publish_flags_do_not_clash_with_host_options(tmp_path, v1):
    parser = argparse.ArgumentParser()
    for opt in ("--version", "--store", "--private"):
        parser.add_argument(opt, action="store_true")
    add_publish_args(parser, repo_type="dataset")
    args = parser.parse_args(["--push-to-hub", REPO, "--publish-version", "v1.0.0", "--publish-target", "local",
                              "--publish-store", str(tmp_path / "store"), "--version"])
    assert args.version is True and args.publish_version == "v1.0.0"
    assert publish_from_args(v1, args).commit_sha
