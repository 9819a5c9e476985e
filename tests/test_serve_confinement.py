"""`csir hub serve` stays inside its store: every traversal form is a 404, downloads stream with ranges.

The store lives inside a folder that is itself a git repository with a committed secret, the setup in which
olah alone served `GET /datasets/%2e%2e/%2e%2e/resolve/main/<file>` from the outer repository.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import pytest
from hub_server import start_server
from publish_samples import write_cs_dataset

from csir.hub import publish_folder
from csir.hub.serve import parse_range, parse_route, valid_repo_id

REPO = "csir-test/conf"
SECRET = "TOP-SECRET-OUTER-REPO-CONTENT"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(host, port, store, published commit) for a store whose parent is a git repo holding `secret.txt`."""
    outer = tmp_path_factory.mktemp("outer")
    git = lambda *a: subprocess.run(["git", "-C", str(outer), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    (outer / "secret.txt").write_text(SECRET)
    (outer / "README.md").write_text(SECRET)
    git("add", "secret.txt", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "outer")
    store = outer / "store"
    res = publish_folder(write_cs_dataset(outer / "ds", 0, 8), REPO, version="v1.0.0", target="local", store=store)
    # a symlink from inside the store to a git directory outside it
    (store / "datasets" / "evil").mkdir(parents=True)
    os.symlink(outer / ".git", store / "datasets" / "evil" / "outer")
    (store / "models" / "evil").mkdir(parents=True)
    os.symlink(outer / ".git", store / "models" / "evil" / "outer")
    proc, endpoint = start_server(store, outer.parent / "serve.log")
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    try:
        yield host, int(port), store, res.commit_sha
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _get(served, raw_path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    """Send `raw_path` byte for byte (http.client does not normalise `..` or percent-escapes)."""
    conn = http.client.HTTPConnection(served[0], served[1], timeout=30)
    try:
        conn.request(method, raw_path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


TRAVERSALS = [
    # encoded dots, with and without datasets/, and the API routes
    "/datasets/%2e%2e/%2e%2e/resolve/main/secret.txt",
    "/datasets/%2E%2E/%2E%2E/resolve/main/secret.txt",
    "/%2e%2e/%2e%2e/resolve/main/secret.txt",
    "/api/datasets/%2e%2e/%2e%2e/revision/main",
    "/api/datasets/%2e%2e/%2e%2e",
    "/api/datasets/%2e%2e/%2e%2e/tree/main",
    "/api/datasets/%2e%2e/%2e%2e/refs",
    "/api/models/%2e%2e/%2e%2e/revision/main",
    "/api/models/%2e%2e/%2e%2e/commits/main",
    "/datasets/.%2e/%2e./resolve/main/secret.txt",
    # plain dots
    "/datasets/../../resolve/main/secret.txt",
    "/../../resolve/main/secret.txt",
    "/api/datasets/../../revision/main",
    "/api/datasets/csir-test/../../../revision/main",
    # an encoded slash inside a segment
    "/datasets/%2e%2e%2f%2e%2e/x/resolve/main/secret.txt",
    "/api/datasets/..%2F..%2F../x/revision/main",
    # absolute paths and empty segments
    "/datasets/%2Ftmp/x/resolve/main/secret.txt",
    "//etc/passwd",
    "/api/datasets//etc/revision/main",
    "/datasets/csir-test/%2F/resolve/main/secret.txt",
    # traversal inside the repo path and the revision
    f"/datasets/{REPO}/resolve/main/..%2F..%2F..%2Fsecret.txt",
    f"/datasets/{REPO}/resolve/main/../../../secret.txt",
    f"/datasets/{REPO}/resolve/main/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    f"/api/datasets/{REPO}/tree/main/%2e%2e",
    f"/datasets/{REPO}/resolve/..%2F..%2Fmain/README.md",
    f"/datasets/{REPO}/resolve/%2Fetc/passwd",
    # symlinks out of the store
    "/datasets/evil/outer/resolve/main/secret.txt",
    "/evil/outer/resolve/main/secret.txt",
    "/api/datasets/evil/outer/revision/main",
    "/api/models/evil/outer",
    "/api/datasets/evil/outer/tree/main",
    # repo ids the Hub refuses; unknown routes
    "/api/datasets/csir-test/a--b/revision/main",
    "/api/datasets/csir-test/.git/revision/main",
    "/api/datasets/-x/y/revision/main",
    "/api/spaces/csir-test/conf/revision/main",
    "/repos",
    "/api/datasets/csir-test/conf/xet-read-token/main",
]


@pytest.mark.parametrize("raw_path", TRAVERSALS)
def test_every_traversal_form_is_404(served, raw_path):
    for method in ("GET", "HEAD"):
        status, _, body = _get(served, raw_path, method)
        assert status == 404, (raw_path, method, status, body[:200])
        assert SECRET.encode() not in body


def test_store_files_stream_with_ranges(served):
    _, _, store, commit = served
    expected = (store.parent / "ds" / "build_manifest.json").read_bytes()
    path = f"/datasets/{REPO}/resolve/v1.0.0/build_manifest.json"
    status, headers, body = _get(served, path)
    assert status == 200 and body == expected
    assert headers["x-repo-commit"] == commit and headers["accept-ranges"] == "bytes"
    assert headers["content-length"] == str(len(expected)) and headers["etag"].strip('"')
    status, headers, body = _get(served, path, "HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(expected))
    status, headers, body = _get(served, path, headers={"Range": "bytes=5-14"})
    assert status == 206 and body == expected[5:15]
    assert headers["content-range"] == f"bytes 5-14/{len(expected)}"
    assert _get(served, path, headers={"Range": "bytes=7-"})[2] == expected[7:]
    assert _get(served, path, headers={"Range": "bytes=-9"})[2] == expected[-9:]
    status, headers, _ = _get(served, path, headers={"Range": f"bytes={len(expected)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(expected)}"
    # Hub answers for a repo that exists: no-revision info is main; unknown revision / file are 404s
    status, _, body = _get(served, f"/api/datasets/{REPO}")
    assert status == 200 and json.loads(body)["sha"] == commit
    assert _get(served, f"/datasets/{REPO}/resolve/v9.9.9/README.md")[1]["x-error-code"] == "RevisionNotFound"
    assert _get(served, f"/datasets/{REPO}/resolve/main/nope.txt")[1]["x-error-code"] == "EntryNotFound"
    assert _get(served, f"/api/datasets/{REPO}/commit/main", "POST")[0] == 405


def test_hf_clients_download_and_no_revision_info(served, tmp_path):
    """`hf_hub_download` (HEAD + streamed GET) and `dataset_info` without a revision, as HF clients call them."""
    host, port, store, commit = served
    code = (
        "import sys, json\n"
        "from huggingface_hub import HfApi, hf_hub_download\n"
        f"p = hf_hub_download({REPO!r}, 'build_manifest.json', repo_type='dataset')\n"
        f"print(json.dumps([open(p, 'rb').read().decode(), HfApi().dataset_info({REPO!r}).sha]))\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://{host}:{port}", "HF_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text, sha = json.loads(out.stdout.strip().splitlines()[-1])
    assert text == (store.parent / "ds" / "build_manifest.json").read_text() and sha == commit


def test_route_and_range_parsing():
    assert parse_route("/datasets/o/n/resolve/v1/data/x.parquet").path == "data/x.parquet"
    assert parse_route("/api/models/o/n/tree/refs%2Fpr%2F1/a").rev == "refs/pr/1"
    assert parse_route("/api/datasets/o/n").endpoint == "info"
    for bad in ("/datasets/o/n/resolve/v1/a/../b", "/datasets/o/n/resolve/-x/f", "/api/datasets/o/n/revision/a..b",
                "/api/datasets/o/n/revision/%40%7B0%7D", "/o/n/resolve/main/a%00b", "/o/n/resolve/main/a%5Cb"):
        assert parse_route(bad) is None, bad
    assert not valid_repo_id("a--b", "c") and not valid_repo_id("ä", "c") and valid_repo_id("a.b_c-d", "e")
    assert parse_range("bytes=0-9", 100) == (0, 9) and parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99) and parse_range("bytes=100-", 100) is False
    assert parse_range("bytes=1-2,5-6", 100) is None and parse_range("items=1-2", 100) is None
    assert parse_range("bytes=x-1", 100) is None and parse_range(None, 100) is None


def test_packed_objects_stream_too(served):
    """After `git gc` the blobs live in a pack: served through `git cat-file`, ranges included."""
    _, _, store, _ = served
    repo = store / "datasets" / REPO
    subprocess.run(["git", "--git-dir", str(repo), "gc", "-q", "--prune=now"], check=True)
    assert not any(p.is_dir() and len(p.name) == 2 for p in (repo / "objects").iterdir())  # no loose objects
    expected = (store.parent / "ds" / "build_manifest.json").read_bytes()
    path = f"/datasets/{REPO}/resolve/v1.0.0/build_manifest.json"
    assert _get(served, path)[2] == expected
    assert _get(served, path, headers={"Range": "bytes=3-"})[2] == expected[3:]


def test_tree_listings_answer_without_redirect_loops(served):
    """`list_repo_tree` (snapshot_download) asks for the root with and without a trailing slash."""
    for path in (f"/api/datasets/{REPO}/tree/v1.0.0", f"/api/datasets/{REPO}/tree/v1.0.0/",
                 f"/api/datasets/{REPO}/tree/v1.0.0?recursive=true&expand=false", f"/api/datasets/{REPO}/tree/main/data"):
        status, headers, body = _get(served, path)
        assert status == 200, (path, status, headers)
        assert isinstance(json.loads(body), list)


def test_blob_cache_inflates_once_for_concurrent_readers(tmp_path):
    """Large blobs: one writer inflates the git object into a file, every reader (seeked or not) follows it."""
    import asyncio

    from csir.hub.serve import CHUNK, BlobCache

    git_dir = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    blobs = {}
    for name, size in (("a", 3 * CHUNK + 12345), ("b", 2 * CHUNK)):
        data = os.urandom(size)
        (tmp_path / name).write_bytes(data)
        sha = subprocess.run(["git", "--git-dir", str(git_dir), "hash-object", "-w", str(tmp_path / name)],
                             check=True, capture_output=True, text=True).stdout.strip()
        blobs[name] = (sha, data)

    async def read_all(reader, start=0):
        if start:
            reader.seek(start)
        out = bytearray()
        while chunk := await reader.read(CHUNK):
            out += chunk
        await reader.close()
        return bytes(out)

    async def main():
        cache = BlobCache(tmp_path / "blobs", min_size=CHUNK, limit=4 * CHUNK)
        sha, data = blobs["a"]
        readers = [cache.open(git_dir, sha, len(data)) for _ in range(4)]
        got = await asyncio.gather(*(read_all(r, start) for r, start in zip(readers, (0, 0, 5, 2 * CHUNK + 7))))
        assert got == [data, data, data[5:], data[2 * CHUNK + 7:]]
        assert (tmp_path / "blobs" / sha).read_bytes() == data  # inflated once, renamed into place
        assert await read_all(cache.open(git_dir, sha, len(data))) == data  # served from the finished file
        assert cache.open(git_dir, "0" * 40, CHUNK - 1) is None  # small blobs stream from git
        assert cache.open(git_dir, "0" * 40, 5 * CHUNK) is None  # larger than the whole cache: from git
        sha_b, data_b = blobs["b"]  # does not fit beside a: a (finished, unread) is evicted
        assert await read_all(cache.open(git_dir, sha_b, len(data_b))) == data_b
        assert not (tmp_path / "blobs" / sha).exists() and list(cache.entries) == [sha_b]

    asyncio.run(main())
