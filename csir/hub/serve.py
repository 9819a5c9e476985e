"""`csir hub serve`: the local store, read-only, over the Hub HTTP API (olah in offline mirror mode).

olah 0.5 serves git repositories laid out as MIRRORS/{datasets,models}/ORG/NAME (our store layout) with tags
and commits as revisions: repo info, refs, tree, paths-info, resolve (with X-Repo-Commit and ETag headers).
What it lacks offline, found by testing against `datasets`/`transformers`/`sentence-transformers`: for a repo
that IS in the store, an unknown revision or a missing file falls through to the (absent) upstream and comes
back as `401 RepoNotFound`. Clients treat that as "repository gone" — `AutoTokenizer` probes
`tree/REV/additional_chat_templates` and aborts. `StoreAnswers` fills that gap with the Hub's answers
(`404 RevisionNotFound` / `404 EntryNotFound`) and refuses writes; everything else is olah's.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

from csir.errors import CsirError

logger = logging.getLogger(__name__)
REPO_TYPES = {"datasets", "models"}


class StoreLookup:
    """Revision and path lookups in the store's bare repositories (git subprocess; read-only)."""

    def __init__(self, store: Path):
        self.store = store

    def repo(self, repo_type: str, org: str, name: str) -> Path | None:
        path = self.store / repo_type / org / name
        return path if (path / "HEAD").is_file() else None

    @staticmethod
    def _git(repo: Path, *args: str) -> str | None:
        proc = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def commit(self, repo: Path, rev: str) -> str | None:
        if rev.startswith("-"):
            return None
        return self._git(repo, "rev-parse", "-q", "--verify", f"{rev}^{{commit}}")

    def kind(self, repo: Path, commit: str, path: str) -> str | None:
        """'blob', 'tree' or None (missing)."""
        path = path.strip("/")
        if not path:
            return "tree"
        return self._git(repo, "cat-file", "-t", f"{commit}:{path}")


def parse_request(raw_path: str) -> tuple[str, str, str, str, str, str] | None:
    """(endpoint, repo_type, org, name, revision, path) for the revision-addressed Hub routes, else None."""
    parts = [unquote(p) for p in raw_path.split("?")[0].split("/")[1:]]
    if len(parts) >= 6 and parts[0] == "api" and parts[1] in REPO_TYPES and parts[4] in (
            "revision", "tree", "paths-info"):
        return parts[4], parts[1], parts[2], parts[3], parts[5], "/".join(parts[6:])
    if parts and parts[0] == "datasets":
        repo_type, parts = "datasets", parts[1:]
    else:
        repo_type = "models"
    if len(parts) >= 5 and parts[2] == "resolve":
        return "resolve", repo_type, parts[0], parts[1], parts[3], "/".join(parts[4:])
    return None


class StoreAnswers:
    """ASGI middleware in front of olah: Hub-style 404s for store repos, 405 for writes."""

    def __init__(self, app, store: Path):
        self.app = app
        self.lookup = StoreLookup(store)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        method = scope["method"]
        parsed = parse_request(raw)
        if method not in ("GET", "HEAD", "OPTIONS") and not (method == "POST" and parsed and parsed[0] == "paths-info"):
            return await _respond(send, 405, "MethodNotAllowed", "this server is a read-only mirror of a local store")
        if parsed is not None:
            endpoint, repo_type, org, name, rev, path = parsed
            repo = self.lookup.repo(repo_type, org, name)
            if repo is not None:
                commit = self.lookup.commit(repo, rev)
                if commit is None:
                    return await _respond(send, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
                if endpoint in ("tree", "resolve") and path:
                    kind = self.lookup.kind(repo, commit, path)
                    if kind is None or (endpoint == "tree" and kind != "tree") or (endpoint == "resolve" and kind != "blob"):
                        return await _respond(send, 404, "EntryNotFound", f"{path} does not exist on \"{rev}\"")
        return await self.app(scope, receive, send)


async def _respond(send, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-error-code", code.encode()), (b"x-error-message", message.encode("latin-1", "replace"))]})
    await send({"type": "http.response.body", "body": body})


def list_store(store: Path) -> list[tuple[str, list[str]]]:
    """[('datasets/ORG/NAME', [tags...])] for every repository in the store."""
    out = []
    for repo_type in sorted(REPO_TYPES):
        for repo in sorted((store / repo_type).glob("*/*")):
            if (repo / "HEAD").is_file():
                tags = StoreLookup._git(repo, "tag", "--list") or ""
                out.append((f"{repo_type}/{repo.parent.name}/{repo.name}", tags.split()))
    return out


def build_app(store: Path, host: str, port: int, workdir: Path):
    """olah's FastAPI app configured for offline mirror mode over `store`, wrapped in `StoreAnswers`."""
    from olah import server as olah_server
    from olah.configs import OlahConfig

    cfg = OlahConfig()
    cfg.host, cfg.port = host, port
    cfg.repos_path = str(workdir / "cache")   # olah's proxy cache; unused offline, kept out of the store
    cfg.mirrors_path = [str(store)]
    cfg.offline = True
    cfg.mirror_scheme = "http"
    cfg.mirror_netloc = cfg.mirror_lfs_netloc = f"{host}:{port}"
    olah_server.app.state.app_settings = olah_server.AppSettings(config=cfg)
    olah_server.app.state.logger = logging.getLogger("olah")  # not olah's build_logger: it hijacks stdout
    return StoreAnswers(olah_server.app, store)


def serve(store: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
    """Bind (port 0 = a free port), print the HF_ENDPOINT to export, serve until interrupted."""
    import uvicorn

    store = Path(store).resolve()
    if not store.is_dir():
        raise CsirError(f"{store}: store folder does not exist")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise CsirError(f"--port {port}: cannot listen on {host}: {exc}") from exc
    port = sock.getsockname()[1]
    sock.listen(128)  # clients that connect as soon as the endpoint is printed wait in the backlog, not refused
    workdir = Path(tempfile.mkdtemp(prefix="csir-hub-serve-"))
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
