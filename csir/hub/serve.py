"""`csir hub serve`: the local store, read-only, over the Hub HTTP API.

Every request passes `StoreGate` first, which is the only place a URL becomes a filesystem path:
- Only the Hub routes HF clients use are known (repo info, refs, tree, paths-info, commits, resolve); anything
  else is 404. Repo ids are validated as the Hub does (`validate_repo_id`, ASCII `[A-Za-z0-9_.-]`, ORG/NAME),
  each URL segment is percent-decoded once and checked on its own, so `..` in any spelling (`%2e%2e`, `%2F`
  inside a segment), absolute paths and empty segments never reach the filesystem; the repo folder must
  resolve (symlinks followed) to a bare git repository inside the store. Revisions are resolved to a commit
  here, and olah is handed a canonical path naming that commit.
- File downloads (`resolve`, GET and HEAD, single `Range` requests included) are served here, streamed from
  the git object in bounded chunks (`BlobReader`): olah 0.5 reads whole blobs into memory (8 clients x 1 GB
  = 8 GB). Large blobs are inflated once into the server's temp folder (`BlobCache`) and every client reads
  that file as it grows.
- Repo info without a revision is answered at `main` (the Hub's answer; olah asks the absent upstream and
  says 401). Unknown revisions and missing files get the Hub's `404 RevisionNotFound` / `EntryNotFound`.
- Writes are refused (405).
olah keeps serving what it serves correctly: repo info, refs, tree listings, paths-info, commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import os
import re
import shutil
import socket
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from csir.cleanup import remove_stale_temp_dirs, tmp_name
from csir.errors import CsirError

logger = logging.getLogger(__name__)
REPO_TYPES = ("datasets", "models")
CHUNK = 1 << 20                 # bytes per read from git and per send: what one download holds in memory
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,96}$")
_REV_RE = re.compile(r"^[A-Za-z0-9_.+\-/]{1,256}$")
_API_ENDPOINTS = ("revision", "tree", "paths-info", "commits", "refs")


@dataclass(frozen=True)
class Route:
    """A request the store can answer: which endpoint, repo, revision and in-repo path."""

    endpoint: str          # info | revision | refs | tree | paths-info | commits | resolve
    repo_type: str
    org: str
    name: str
    rev: str = "main"
    path: str = ""


def _segments(raw_path: str) -> list[str] | None:
    """Percent-decode each segment on its own; None for empty, `.`/`..` or NUL segments (any spelling)."""
    raw = raw_path.split("?", 1)[0]
    if not raw.startswith("/"):
        return None
    parts = [unquote(p) for p in raw[1:].split("/")]
    if parts and parts[-1] == "" and len(parts) > 1:  # one trailing slash (tree listings of a folder)
        parts = parts[:-1]
    for p in parts:
        if p in ("", ".", "..") or "\x00" in p or "\\" in p:
            return None
    return parts


def valid_repo_id(org: str, name: str) -> bool:
    """The Hub's rule for ORG/NAME (as `huggingface_hub.validate_repo_id`, ASCII only)."""
    if not (_NAME_RE.match(org) and _NAME_RE.match(name)):
        return False
    try:
        validate_repo_id(f"{org}/{name}")
    except HFValidationError:
        return False
    return True


def valid_file_path(path: str) -> bool:
    """A path inside a repo: relative, no `.`/`..`/empty parts, no control characters."""
    if not path:
        return False
    parts = path.split("/")
    return all(p not in ("", ".", "..") for p in parts) and not any(ord(c) < 32 for c in path)


def valid_rev(rev: str) -> bool:
    """Branch/tag names and commit ids as git accepts them (no `..`, no leading `-` or `/`, no `@{`)."""
    return bool(_REV_RE.match(rev)) and ".." not in rev and not rev.startswith(("-", "/")) \
        and not rev.endswith(("/", ".lock")) and "//" not in rev


def parse_route(raw_path: str) -> Route | None:
    """The Route for a raw (still percent-encoded) request path, or None when it is not a store route."""
    parts = _segments(raw_path)
    if parts is None:
        return None
    route = None
    if len(parts) >= 4 and parts[0] == "api" and parts[1] in REPO_TYPES:
        repo_type, org, name, rest = parts[1], parts[2], parts[3], parts[4:]
        if not rest:
            route = Route("info", repo_type, org, name)
        elif rest[0] == "refs" and len(rest) == 1:
            route = Route("refs", repo_type, org, name)
        elif rest[0] in ("revision", "paths-info", "commits") and len(rest) == 2:
            route = Route(rest[0], repo_type, org, name, rest[1])
        elif rest[0] == "tree" and len(rest) >= 2:
            route = Route("tree", repo_type, org, name, rest[1], "/".join(rest[2:]))
    else:
        repo_type = "models"
        if parts and parts[0] == "datasets":
            repo_type, parts = "datasets", parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            route = Route("resolve", repo_type, parts[0], parts[1], parts[3], "/".join(parts[4:]))
    if route is None or not valid_repo_id(route.org, route.name) or not valid_rev(route.rev):
        return None
    if route.path and not valid_file_path(route.path):
        return None
    if route.endpoint == "resolve" and not route.path:
        return None
    return route


# kept for callers of the previous middleware
def parse_request(raw_path: str) -> tuple[str, str, str, str, str, str] | None:
    """(endpoint, repo_type, org, name, revision, path) for the revision-addressed routes, else None."""
    r = parse_route(raw_path)
    if r is None or r.endpoint not in ("revision", "tree", "paths-info", "resolve"):
        return None
    return r.endpoint, r.repo_type, r.org, r.name, r.rev, r.path


class StoreLookup:
    """Repositories, revisions and blobs of the store (git subprocesses with an explicit --git-dir; read-only)."""

    def __init__(self, store: Path):
        self.store = Path(store).resolve()

    def repo(self, repo_type: str, org: str, name: str) -> Path | None:
        """The bare repository for a validated id, only if it resolves to a folder inside the store."""
        if repo_type not in REPO_TYPES or not valid_repo_id(org, name):
            return None
        real = (self.store / repo_type / org / name).resolve()
        if not real.is_relative_to(self.store) or real == self.store:
            return None
        if not ((real / "HEAD").is_file() and (real / "objects").is_dir() and (real / "refs").is_dir()):
            return None
        return real

    @staticmethod
    def _git(repo: Path, *args: str, input: bytes | None = None) -> str | None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        proc = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, input=input, env=env)
        return proc.stdout.decode(errors="replace").strip() if proc.returncode == 0 else None

    def commit(self, repo: Path, rev: str) -> str | None:
        if not valid_rev(rev):
            return None
        return self._git(repo, "rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}")

    def entry(self, repo: Path, commit: str, path: str) -> tuple[str, str, int] | None:
        """(sha, 'blob'|'tree', size) of `path` at `commit`, or None when missing."""
        path = path.strip("/")
        spec = f"{commit}:{path}" if path else f"{commit}^{{tree}}"
        out = self._git(repo, "cat-file", "--batch-check", input=(spec + "\n").encode())
        if not out or out.endswith(" missing") or len(out.split()) != 3:
            return None
        sha, kind, size = out.split()
        return sha, kind, int(size)

    def kind(self, repo: Path, commit: str, path: str) -> str | None:
        """'blob', 'tree' or None (missing)."""
        found = self.entry(repo, commit, path)
        return found[1] if found else None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive) for one `bytes=` range; None = whole file; False = unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multi-range: answer with the whole file, as RFC 9110 allows
    first, sep, last = spec.strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) \
            or (last and not last.isdigit()):
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


class StoreGate:
    """ASGI app in front of olah: confines every request to the store, streams downloads itself."""

    def __init__(self, app, store: Path, blob_cache: "BlobCache | None" = None):
        self.app = app
        self.lookup = StoreLookup(store)
        self.blob_cache = blob_cache

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = scope.get("raw_path") or scope["path"].encode()
        raw = raw.decode("latin-1")
        method = scope["method"]
        route = parse_route(raw)
        if method not in ("GET", "HEAD") and not (method == "POST" and route and route.endpoint == "paths-info"):
            return await _respond(send, 405, "MethodNotAllowed", "this server is a read-only mirror of a local store")
        if route is None:
            return await _respond(send, 404, "EntryNotFound", "not found")
        repo = self.lookup.repo(route.repo_type, route.org, route.name)
        if repo is None:
            return await _respond(send, 404, "RepoNotFound", "Repository not found")
        commit = self.lookup.commit(repo, route.rev)
        if commit is None:
            return await _respond(send, 404, "RevisionNotFound", f"Invalid rev id: {route.rev}")
        if route.endpoint in ("tree", "resolve") and route.path:
            found = self.lookup.entry(repo, commit, route.path)
            want = "tree" if route.endpoint == "tree" else "blob"
            if found is None or found[1] != want:
                return await _respond(send, 404, "EntryNotFound", f"{route.path} does not exist on \"{route.rev}\"")
            if route.endpoint == "resolve":
                sha, _, size = found
                return await stream_blob(scope, receive, send, repo, commit, sha, size, route.path,
                                         self.blob_cache)
        return await self.app(_canonical(scope, route, commit), receive, send)


def _canonical(scope: dict, route: Route, commit: str) -> dict:
    """The request as olah sees it: the validated repo and the resolved commit, nothing else from the URL."""
    base = f"/api/{route.repo_type}/{route.org}/{route.name}"
    path = {"info": f"{base}/revision/{commit}", "revision": f"{base}/revision/{commit}", "refs": f"{base}/refs",
            "paths-info": f"{base}/paths-info/{commit}", "commits": f"{base}/commits/{commit}",
            "tree": f"{base}/tree/{commit}/{route.path}"}[route.endpoint]  # olah's route needs the slash
    return {**scope, "path": path, "raw_path": quote(path).encode("ascii")}


async def stream_blob(scope, receive, send, repo: Path, commit: str, sha: str, size: int, path: str,
                      blob_cache: "BlobCache | None" = None) -> None:
    """200/206/416 for one blob, read CHUNK bytes at a time (bounded memory): large blobs from the blob cache
    (inflated once for all clients), the others by `BlobReader`."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    rng = parse_range(headers.get("range"), size)
    base = [(b"etag", f'"{sha}"'.encode()), (b"x-repo-commit", commit.encode()), (b"accept-ranges", b"bytes"),
            (b"content-type", (mimetypes.guess_type(path)[0] or "application/octet-stream").encode())]
    if rng is False:
        await send({"type": "http.response.start", "status": 416,
                    "headers": base + [(b"content-range", f"bytes */{size}".encode()), (b"content-length", b"0")]})
        return await send({"type": "http.response.body", "body": b""})
    start, end = rng if rng else (0, size - 1)
    length = end - start + 1 if size else 0
    status = 206 if rng else 200
    extra = [(b"content-length", str(length).encode())]
    if rng:
        extra.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": base + extra})
    if scope["method"] == "HEAD" or length == 0:
        return await send({"type": "http.response.body", "body": b""})

    gone = asyncio.Event()

    async def watch_disconnect():
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch_disconnect())
    cached = blob_cache.open(repo, sha, size) if blob_cache is not None else None
    reader = cached if cached is not None else await BlobReader.open(repo, sha)
    try:
        skip, left = start, length
        if skip and isinstance(reader, CachedBlobReader):
            reader.seek(skip)
            skip = 0
        while left > 0 and not gone.is_set():
            chunk = await reader.read(CHUNK if skip == 0 else min(CHUNK, skip))
            if not chunk:
                break
            if skip:
                skip -= len(chunk)
                continue
            chunk = chunk[:left]
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if left > 0 and not gone.is_set():  # the blob ended early: end the response short, the client sees it
            logger.warning("%s: blob %s ended %d bytes early", repo, sha, left)
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
        await reader.close()


# `git cat-file blob` streams a packed blob only above core.bigFileThreshold (512 MiB; smaller ones are read
# whole into memory), and maps packs in windows of up to 1 GiB (core.packedGitWindowSize): a packed 1 GiB blob
# kept ~1 GiB mapped per download (7.5 GB for 8 clients), a 128 MiB one 128 MiB each. A 1 MiB threshold and
# small windows keep each `git cat-file` at a few MiB.
PACK_WINDOW = ("-c", "core.bigFileThreshold=1m", "-c", "core.packedGitWindowSize=1m",
               "-c", "core.packedGitLimit=4m")

# Two threads for all downloads: zlib and file reads release the GIL, so inflating overlaps with sending.
# Not asyncio's default pool: each of its threads gets a glibc arena that keeps freed chunks (8 downloads
# grew the server by ~230 MB with it, ~25 MB with this pool).
_INFLATE_POOL = ThreadPoolExecutor(2, thread_name_prefix="csir-inflate")


class BlobReader:
    """A blob's bytes in order, CHUNK at a time, never the whole blob in memory.

    Loose objects (what `csir publish` writes below 512 MiB) are inflated here with zlib, reading the object
    file in chunks (in `_INFLATE_POOL`). Packed objects (larger files, or after `git gc`) come from
    `git cat-file blob` with small pack windows (`PACK_WINDOW`); it streams non-delta objects, and large
    files are never deltified.
    """

    def __init__(self):
        self.fh = self.inflater = self.proc = None
        self.pending = b""

    @classmethod
    async def open(cls, repo: Path, sha: str) -> "BlobReader":
        self = cls()
        loose = repo / "objects" / sha[:2] / sha[2:]
        try:
            self.fh = open(loose, "rb")
        except OSError:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            self.proc = await asyncio.create_subprocess_exec(
                "git", "--git-dir", str(repo), *PACK_WINDOW, "cat-file", "blob", sha, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, env=env)
            return self
        self.inflater = zlib.decompressobj()
        header = b""
        while b"\0" not in header:  # "blob <size>\0" precedes the content
            more = await asyncio.get_running_loop().run_in_executor(_INFLATE_POOL, self._inflate, 64)
            if not more:
                raise CsirError(f"{loose}: truncated git object")
            header += more
        self.pending = header.split(b"\0", 1)[1]
        return self

    def _inflate(self, n: int) -> bytes:
        """Up to n inflated bytes (b"" at the end): feeds the inflater file chunks as it needs them."""
        out = b""
        while len(out) < n:
            if self.inflater.unconsumed_tail:
                data = self.inflater.unconsumed_tail
            else:
                data = self.fh.read(CHUNK)
                if not data:
                    return out + self.inflater.flush()
            out += self.inflater.decompress(data, n - len(out))
            if self.inflater.eof:
                break
        return out

    async def read(self, n: int) -> bytes:
        if self.proc is not None:
            return await self.proc.stdout.read(n)
        if self.pending:
            out, self.pending = self.pending[:n], self.pending[n:]
            return out
        return await asyncio.get_running_loop().run_in_executor(_INFLATE_POOL, self._inflate, n)

    async def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()


def _append(out, chunk: bytes) -> None:
    """Write and flush (readers of the same file see bytes only once they reach the OS) in one pool hop."""
    out.write(chunk)
    out.flush()


class _Inflated:
    """One blob being (or already) written to the cache file; readers follow the writer."""

    def __init__(self, final: Path, size: int):
        self.final, self.part = final, final.with_name(final.name + ".part")
        self.size, self.written, self.failed, self.readers = size, 0, False, 0
        self.grown = asyncio.Event()
        self.task: asyncio.Task | None = None

    @property
    def done(self) -> bool:
        return self.written >= self.size or self.failed

    async def fill(self, repo: Path, sha: str) -> None:
        loop = asyncio.get_running_loop()
        reader = await BlobReader.open(repo, sha)
        try:
            with open(self.part, "wb") as out:
                while self.written < self.size:
                    chunk = await reader.read(CHUNK)
                    if not chunk:
                        raise CsirError(f"{repo}: blob {sha} ended {self.size - self.written} bytes early")
                    await loop.run_in_executor(_INFLATE_POOL, _append, out, chunk)
                    self.written += len(chunk)
                    self.grown.set()
                    self.grown = asyncio.Event()
            os.replace(self.part, self.final)  # readers keep their open handle on the same inode
        except Exception as exc:
            self.failed = True
            logger.warning("blob cache: %s", exc)
            with contextlib.suppress(OSError):
                self.part.unlink()
        finally:
            self.grown.set()
            await reader.close()


class CachedBlobReader:
    """`BlobReader`'s interface over a cache file, waiting for the writer where it has not got yet."""

    def __init__(self, entry: _Inflated):
        self.entry, self.pos = entry, 0
        try:
            self.fh = open(entry.part, "rb")
        except FileNotFoundError:  # the writer has renamed it into place (or failed: then this raises)
            self.fh = open(entry.final, "rb")
        entry.readers += 1

    def seek(self, pos: int) -> None:
        self.pos = pos

    async def read(self, n: int) -> bytes:
        e = self.entry
        while self.pos >= e.written and not e.done:
            await e.grown.wait()
        if e.failed and self.pos >= e.written:
            return b""
        n = min(n, e.written - self.pos)
        data = await asyncio.get_running_loop().run_in_executor(_INFLATE_POOL, self._read_at, self.pos, n)
        self.pos += len(data)
        return data

    def _read_at(self, pos: int, n: int) -> bytes:
        self.fh.seek(pos)
        return self.fh.read(n)

    async def close(self) -> None:
        self.fh.close()
        self.entry.readers -= 1


class BlobCache:
    """Large blobs inflated once into `folder` and served from there to every client.

    Inflating a git object costs CPU per download (8 clients x 1 GB = 8 GB of zlib); a plain file costs only
    reads. The first request starts the writer; every request (the first included) reads the file as it grows,
    so the first byte goes out at once and memory stays at CHUNK per download. Blobs below `min_size` stream
    from git as before; the cache keeps at most `limit` bytes, evicting the least recently opened blobs that
    nobody is reading; a blob that does not fit is streamed from git."""

    def __init__(self, folder: Path, min_size: int = 8 << 20, limit: int = 16 << 30):
        self.folder, self.min_size, self.limit = Path(folder), min_size, limit
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entries: dict[str, _Inflated] = {}  # insertion order = least recently opened first

    def open(self, repo: Path, sha: str, size: int) -> CachedBlobReader | None:
        if size < self.min_size:
            return None
        entry = self.entries.pop(sha, None)
        if entry is None or entry.failed:
            if not self._make_room(size):
                return None
            entry = _Inflated(self.folder / sha, size)
            entry.part.touch()
            entry.task = asyncio.get_running_loop().create_task(entry.fill(repo, sha))
        self.entries[sha] = entry  # now the most recently opened
        try:
            return CachedBlobReader(entry)
        except OSError as exc:  # the writer failed before this reader opened the file: stream from git
            logger.warning("blob cache: %s", exc)
            return None

    def _make_room(self, size: int) -> bool:
        if size > self.limit:
            return False
        used = sum(e.size for e in self.entries.values() if not e.failed)
        for sha, e in list(self.entries.items()):
            if used + size <= self.limit:
                break
            if e.readers == 0 and e.done:
                used -= 0 if e.failed else e.size
                del self.entries[sha]
                with contextlib.suppress(OSError):
                    e.final.unlink()
        return used + size <= self.limit


async def _respond(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-error-code", code.encode()), (b"x-error-message", message.encode("latin-1", "replace"))]})
    await send({"type": "http.response.body", "body": body})


def list_store(store: Path) -> list[tuple[str, list[str]]]:
    """[('datasets/ORG/NAME', [tags...])] for every repository the server will serve."""
    lookup = StoreLookup(store)
    out = []
    for repo_type in REPO_TYPES:
        for candidate in sorted((lookup.store / repo_type).glob("*/*")):
            repo = lookup.repo(repo_type, candidate.parent.name, candidate.name)
            if repo is not None:
                tags = StoreLookup._git(repo, "tag", "--list") or ""
                out.append((f"{repo_type}/{candidate.parent.name}/{candidate.name}", tags.split()))
    return out


def build_app(store: Path, host: str, port: int, workdir: Path):
    """olah's FastAPI app configured for offline mirror mode over `store`, behind `StoreGate`."""
    from olah import server as olah_server
    from olah.configs import OlahConfig

    cfg = OlahConfig()
    cfg.host, cfg.port = host, port
    cfg.repos_path = str(workdir / "cache")   # olah's proxy cache; unused offline, kept out of the store
    cfg.mirrors_path = [str(Path(store).resolve())]
    cfg.offline = True
    cfg.mirror_scheme = "http"
    cfg.mirror_netloc = cfg.mirror_lfs_netloc = f"{host}:{port}"
    olah_server.app.state.app_settings = olah_server.AppSettings(config=cfg)
    olah_server.app.state.logger = logging.getLogger("olah")  # not olah's build_logger: it hijacks stdout
    return StoreGate(olah_server.app, store, BlobCache(workdir / "blobs"))


def serve(store: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
    """Bind (port 0 = a free port), print the HF_ENDPOINT to export, serve until interrupted."""
    import uvicorn

    store = Path(store).resolve()
    if not store.is_dir():
        raise CsirError(f"{store}: store folder does not exist")
    remove_stale_temp_dirs("csir-hub-serve-")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise CsirError(f"--port {port}: cannot listen on {host}: {exc}") from exc
    port = sock.getsockname()[1]
    sock.listen(2048)  # before the endpoint is printed: clients may connect the moment they read it
    workdir = Path(tempfile.mkdtemp(prefix=tmp_name("csir-hub-serve-")))
    try:
        app = build_app(store, host, port, workdir)
        repos = list_store(store)
        for name, tags in repos:
            print(f"serving {name} (tags: {', '.join(tags) or '-'})", flush=True)
        if not repos:
            print(f"warning: {store} holds no repositories yet (publish with --target local --store {store})",
                  flush=True)
        print(f"export HF_ENDPOINT=http://{host}:{port}", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
        server.run(sockets=[sock])
    finally:
        sock.close()
        shutil.rmtree(workdir, ignore_errors=True)
