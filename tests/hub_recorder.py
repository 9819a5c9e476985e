"""A small in-memory emulation of the Hugging Face Hub's write API that records every request.

Enough of the API for `huggingface_hub.HfApi` with `HF_HUB_DISABLE_XET=1`: repo create/info, refs, tree, YAML
validation, preupload, the LFS batch + PUT upload, NDJSON commits (with parentCommit checks), tags, and
resolve (HEAD/GET) so `hf_hub_download` can read back what was published. Failures are injected per
endpoint (`fail_next("commit", 500)`), which is how tests simulate a publish dying midway.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_PATTERNS = ["*.parquet", "*.safetensors", "*.bin", "*.arrow", "*.pt", "*.pth", "*.npy", "*.npz", "*.h5",
                "*.onnx", "*.zip", "*.gz", "*.zst", "*.tar", "*.pkl", "*.model", "*tfevents*"]
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


@dataclass
class Entry:
    data: bytes | None = None      # regular file content
    lfs_oid: str | None = None     # sha256 of an LFS file's content
    size: int = 0

    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\nsize {self.size}\n".encode()

    @property
    def blob_id(self) -> str:
        return git_sha1(self.data if self.lfs_oid is None else self.pointer())


@dataclass
class Commit:
    files: dict[str, Entry]
    parent: str | None
    message: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        return rev if rev in self.commits else None


@dataclass
class Recorded:
    method: str
    path: str
    endpoint: str
    status: int = 0
    headers: dict = field(default_factory=dict)
    body: bytes = b""


class HubRecorder:
    """Start with `with HubRecorder(token) as hub:`; point HfApi at `hub.endpoint`."""

    def __init__(self, token: str = "hf_recorder_secret_token"):
        self.token = token
        self.requests: list[Recorded] = []
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self._fail: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None

    # -- test API -------------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, endpoint: str, *statuses: int) -> None:
        self._fail.setdefault(endpoint, []).extend(statuses)

    def calls(self, endpoint: str | None = None, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (endpoint is None or r.endpoint == endpoint)
                and (method is None or r.method == method)]

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        return self.repos[(repo_type, repo_id)]

    def __enter__(self) -> "HubRecorder":
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                recorder._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- plumbing -------------------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        rec = Recorded(h.command, url.path, "unknown", headers={k.lower(): v for k, v in h.headers.items()},
                       body=body)
        with self._lock:
            self.requests.append(rec)
            try:
                endpoint, handler, args = self._route(h.command, parts)
                rec.endpoint = endpoint
                if self._fail.get(endpoint):
                    status = self._fail[endpoint].pop(0)
                    result = (status, {"error": f"injected {status}"}, {"Retry-After": "0"})
                elif endpoint in {"create_repo", "preupload", "commit", "tag", "delete_tag", "lfs_batch"} and \
                        rec.headers.get("authorization") != f"Bearer {self.token}":
                    result = (401, {"error": "Invalid credentials in Authorization header"}, {})
                else:
                    result = handler(*args, body=body, query=parse_qs(url.query), method=h.command)
            except _HubError as err:
                result = (err.status, {"error": err.message}, {"X-Error-Code": err.code, "X-Error-Message": err.message})
        status, payload, headers = result
        rec.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(status)
        if not isinstance(payload, bytes):
            h.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _route(self, method: str, p: list[str]):
        if p[:3] == ["api", "repos", "create"] and method == "POST":
            return "create_repo", self._create_repo, ()
        if p[:2] == ["api", "validate-yaml"]:
            return "validate_yaml", self._validate_yaml, ()
        if len(p) >= 4 and p[0] == "api" and p[1] in ("models", "datasets"):
            repo = self._get_repo(p[1][:-1], f"{p[2]}/{p[3]}")
            rest = p[4:]
            if not rest:
                return "repo_info", self._info, (repo, "main")
            if rest[0] == "revision":
                return "repo_info", self._info, (repo, rest[1])
            if rest[0] == "refs":
                return "refs", self._refs, (repo,)
            if rest[0] == "tree":
                return "tree", self._tree, (repo, rest[1], "/".join(rest[2:]))
            if rest[0] == "preupload":
                return "preupload", self._preupload, (repo, rest[1])
            if rest[0] == "commit":
                return "commit", self._commit, (repo, rest[1])
            if rest[0] == "tag" and method == "POST":
                return "tag", self._tag, (repo, rest[1])
            if rest[0] == "tag" and method == "DELETE":
                return "delete_tag", self._delete_tag, (repo, rest[1])
        if p[:1] == ["__lfs__"]:
            return "lfs_put", self._lfs_put, (p[1],)
        repo_type = "dataset" if p[:1] == ["datasets"] else "model"
        q = p[1:] if repo_type == "dataset" else p
        if len(q) >= 2 and q[1].endswith(".git") and q[2:] == ["info", "lfs", "objects", "batch"]:
            return "lfs_batch", self._lfs_batch, (self._get_repo(repo_type, f"{q[0]}/{q[1][:-4]}"),)
        if len(q) >= 5 and q[2] == "resolve":
            return "resolve", self._resolve, (self._get_repo(repo_type, f"{q[0]}/{q[1]}"), q[3], "/".join(q[4:]))
        raise _HubError(404, "NotFound", f"no route for {method} /{'/'.join(p)}")

    def _get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    @staticmethod
    def _need(repo: Repo | None) -> Repo:
        if repo is None:
            raise _HubError(401, "RepoNotFound", "Repository not found")
        return repo

    def _rev(self, repo: Repo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return sha

    def _new_commit(self, repo: Repo, files: dict[str, Entry], parent: str | None, message: str) -> str:
        self._counter += 1
        listing = "".join(f"{p} {e.blob_id}\n" for p, e in sorted(files.items()))
        sha = hashlib.sha1(f"{parent}\n{message}\n{listing}{self._counter}".encode()).hexdigest()
        repo.commits[sha] = Commit(files, parent, message)
        repo.branches["main"] = sha
        return sha

    # -- endpoints ------------------------------------------------------------------------------------------
    def _create_repo(self, body, **_):
        req = json.loads(body)
        repo_type = req.get("type") or "model"
        repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
        prefix = "datasets/" if repo_type == "dataset" else ""
        url = f"{self.endpoint}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            return 409, {"error": "You already created this repo", "url": url}, {}
        repo = Repo(repo_type, repo_id, private=req.get("visibility") == "private" or bool(req.get("private")))
        self.repos[(repo_type, repo_id)] = repo
        self._new_commit(repo, {".gitattributes": Entry(data=GITATTRIBUTES, size=len(GITATTRIBUTES))}, None,
                         "initial commit")
        return 200, {"url": url, "name": repo_id}, {}

    def _validate_yaml(self, body, **_):
        content = json.loads(body)["content"]
        if content.startswith("---\n"):
            try:
                meta = yaml.safe_load(content[4:content.index("\n---", 4)])
                if meta is not None and not isinstance(meta, dict):
                    raise ValueError("metadata must be a mapping")
            except (ValueError, yaml.YAMLError) as exc:
                return 400, {"errors": [{"message": str(exc)}]}, {}
        return 200, {"errors": [], "warnings": []}, {}

    def _info(self, repo, rev, **_):
        repo = self._need(repo)
        sha = self._rev(repo, rev)
        files = repo.commits[sha].files
        return 200, {"id": repo.repo_id, "sha": sha, "private": repo.private, "author": repo.repo_id.split("/")[0],
                     "siblings": [{"rfilename": p} for p in sorted(files)], "tags": [], "downloads": 0, "likes": 0,
                     "lastModified": "2026-01-01T00:00:00.000Z", "disabled": False, "gated": False}, {}

    def _refs(self, repo, **_):
        repo = self._need(repo)

        def refs(kind, items):
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": s} for n, s in sorted(items.items())]
        return 200, {"branches": refs("heads", repo.branches), "tags": refs("tags", repo.tags), "converts": []}, {}

    def _tree(self, repo, rev, path, query, **_):
        repo = self._need(repo)
        files = repo.commits[self._rev(repo, rev)].files
        recursive = query.get("recursive", ["false"])[0] == "true"
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        out, dirs = [], set()
        for p, e in sorted(files.items()):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):].split("/")
            for i in range(1, len(rest)):
                if recursive or i == 1:
                    dirs.add(prefix + "/".join(rest[:i]))
            if len(rest) == 1 or recursive:
                item = {"type": "file", "oid": e.blob_id, "size": e.size, "path": p}
                if e.lfs_oid:
                    item["lfs"] = {"oid": e.lfs_oid, "size": e.size, "pointerSize": len(e.pointer())}
                out.append(item)
        if prefix and not out and not dirs:
            raise _HubError(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"")
        out += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                for d in sorted(dirs)]
        return 200, out, {}

    @staticmethod
    def _is_lfs(path: str, size: int) -> bool:
        name = path.rsplit("/", 1)[-1]
        return size >= LFS_MIN_SIZE or any(fnmatch.fnmatch(name, pat) for pat in LFS_PATTERNS)

    def _preupload(self, repo, rev, body, **_):
        repo = self._need(repo)
        files = repo.commits[self._rev(repo, rev)].files
        out = []
        for f in json.loads(body)["files"]:
            e = files.get(f["path"])
            remote_oid = None if e is None else (e.lfs_oid or e.blob_id)
            out.append({"path": f["path"], "uploadMode": "lfs" if self._is_lfs(f["path"], f["size"]) else "regular",
                        "shouldIgnore": False, "oid": remote_oid})
        return 200, {"files": out, "commitOid": repo.branches.get("main")}, {}

    def _lfs_batch(self, repo, body, **_):
        self._need(repo)
        objects = []
        for obj in json.loads(body)["objects"]:
            item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs:
                item["actions"] = {"upload": {"href": f"{self.endpoint}/__lfs__/{obj['oid']}", "header": {}}}
            objects.append(item)
        return 200, {"transfer": "basic", "objects": objects}, {}

    def _lfs_put(self, oid, body, **_):
        if hashlib.sha256(body).hexdigest() != oid:
            return 400, {"error": "sha256 mismatch"}, {}
        self.lfs[oid] = body
        return 200, {}, {}

    def _commit(self, repo, rev, body, **_):
        repo = self._need(repo)
        head = self._rev(repo, rev)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent is not None and parent != head:
            return 412, {"error": f"parent commit {parent} is not the head of {rev} ({head})"}, {}
        files = dict(repo.commits[head].files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                files[value["path"]] = Entry(data=data, size=len(data))
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return 422, {"error": f"LFS object {value['oid']} was not uploaded"}, {}
                files[value["path"]] = Entry(lfs_oid=value["oid"], size=value["size"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    return 404, {"error": "A file with this name doesn't exist"}, {}
            elif key == "deletedFolder":
                files = {p: e for p, e in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        sha = self._new_commit(repo, files, head, header["summary"])
        prefix = "datasets/" if repo.repo_type == "dataset" else ""
        return 200, {"success": True, "commitOid": sha, "pullRequestUrl": None,
                     "commitUrl": f"{self.endpoint}/{prefix}{repo.repo_id}/commit/{sha}"}, {}

    def _tag(self, repo, rev, body, **_):
        repo = self._need(repo)
        sha = self._rev(repo, rev)
        tag = json.loads(body)["tag"]
        if tag in repo.tags:
            return 409, {"error": f"Tag {tag} already exists"}, {}
        repo.tags[tag] = sha
        return 200, {}, {}

    def _delete_tag(self, repo, tag, **_):
        repo = self._need(repo)
        if repo.tags.pop(tag, None) is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {tag}")
        return 200, {}, {}

    def _resolve(self, repo, rev, path, method, **_):
        repo = self._need(repo)
        sha = self._rev(repo, rev)
        e = repo.commits[sha].files.get(path)
        if e is None:
            raise _HubError(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{e.blob_id}"'}
        if e.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{e.lfs_oid}"', "X-Linked-Size": str(e.size)})
            data = self.lfs[e.lfs_oid]
        else:
            data = e.data
        return 200, data, headers


class _HubError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
