"""What a killed run leaves behind is removed by the next run; pool workers die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from publish_samples import write_cs_dataset

from builders.inputs import load_rows
from csir.atomic import atomic_dir, atomic_file
from csir.cleanup import pid_alive, remove_unused
from csir.hub import publish_folder

ROOT = Path(__file__).resolve().parents[1]
REPO = "csir-test/leftovers"
LONG_AGO = time.time() - 3600


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def test_atomic_outputs_sweep_dead_runs_temp_siblings(tmp_path):
    dead, me = dead_pid(), os.getpid()
    stale_dir = tmp_path / f".out.tmp-{dead}-abc"
    stale_dir.mkdir()
    (stale_dir / "half.parquet").write_bytes(b"half")
    stale_old = tmp_path / f".out.old-{dead}-0"
    stale_old.mkdir()
    legacy = tmp_path / ".out.tmp-k3j4h5"  # named by an older version, without a pid, an hour old
    legacy.mkdir()
    os.utime(legacy, (LONG_AGO, LONG_AGO))
    live = tmp_path / f".out.tmp-{me}-xyz"  # a run in progress (this process): kept
    live.mkdir()
    other = tmp_path / f".other.tmp-{dead}-abc"  # another output's temp: not ours to judge here
    other.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "x").write_text("x")
    assert (tmp_path / "out" / "x").read_text() == "x"
    assert not stale_dir.exists() and not stale_old.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    stale_file = tmp_path / f".card.md.tmp-{dead}-q"
    stale_file.write_text("half")
    with atomic_file(tmp_path / "card.md") as fh:
        fh.write("done")
    assert not stale_file.exists() and (tmp_path / "card.md").read_text() == "done"


def test_publish_removes_git_leftovers_of_a_killed_publish(tmp_path):
    store = tmp_path / "store"
    publish_folder(write_cs_dataset(tmp_path / "v1", 0, 8), REPO, version="v1.0.0", target="local", store=store)
    repo = store / "datasets" / REPO
    leftovers = [repo / "objects" / "ab" / "tmp_obj_Xy12Zq", repo / "objects" / "tmp_obj_K2j3h4",
                 repo / "objects" / "pack" / "tmp_pack_Q1w2e3", repo / "refs" / "heads" / "main.lock",
                 repo / "packed-refs.lock"]
    for p in leftovers:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"left by kill -9")
        os.utime(p, (LONG_AGO, LONG_AGO))
    fresh = repo / "objects" / "cd" / "tmp_obj_fresh1"  # could be a concurrent publish writing right now
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"in progress")
    # a stale main.lock alone would make this publish fail with "cannot lock ref"
    r2 = publish_folder(write_cs_dataset(tmp_path / "v2", 8, 20), REPO, version="v2.0.0", target="local",
                        store=store)
    assert r2.commit_sha and not any(p.exists() for p in leftovers) and fresh.exists()
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--no-dangling"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_open_files_are_never_removed(tmp_path):
    p = tmp_path / "tmp_busy"
    p.write_bytes(b"x")
    os.utime(p, (LONG_AGO, LONG_AGO))
    with open(p, "rb"):
        assert remove_unused([p]) == [] and p.exists()
    assert remove_unused([p]) == [p] and not p.exists()


def test_load_rows_removes_stale_datasets_cache_temps(tmp_path, fixtures):
    dd = load_rows(str(fixtures / "pairs.jsonl"))
    cache_dir = Path(dd["train"].cache_files[0]["filename"]).parent
    stale, fresh = cache_dir / "tmpab12cd34", cache_dir / "tmpfresh999"
    stale.write_bytes(b"half an arrow file")
    os.utime(stale, (LONG_AGO, LONG_AGO))
    fresh.write_bytes(b"a map in progress")
    load_rows(str(fixtures / "pairs.jsonl"))
    assert not stale.exists() and fresh.exists()


POOL_SCRIPT = r'''
import os, sys, time
import multiprocess
from csir.procs import die_with_parent
die_with_parent()
pool = multiprocess.get_context("fork").Pool(2)  # what datasets.map(num_proc=2) uses
# busy workers, as in a long map shard: idle ones would notice the closed pipe and leave by themselves
pool.map_async(lambda _: (os.write(1, f"{os.getpid()}\n".encode()), time.sleep(90)), range(2))
time.sleep(120)
'''


def test_pool_workers_die_with_their_parent():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], stdout=subprocess.PIPE, text=True, env=env)
    workers = [int(parent.stdout.readline()), int(parent.stdout.readline())]
    assert all(pid_alive(p) for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    assert not any(_running(p) for p in workers), workers


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_atomic_outputs_get_the_permissions_a_plain_write_would(tmp_path):
    """mkstemp/mkdtemp make 0600/0700 temps; the finished file and folder follow the umask, like open()/mkdir()."""
    import os
    import stat

    from csir.atomic import atomic_dir, atomic_file

    old = os.umask(0o027)
    try:
        with atomic_file(tmp_path / "out.json") as fh:
            fh.write("{}")
        with atomic_dir(tmp_path / "repo") as d:
            (d / "x.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "repo").stat().st_mode) == 0o750
