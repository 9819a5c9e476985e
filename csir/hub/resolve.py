"""The one place where a source spec (local path or Hub id) + revision becomes a local folder and an exact version.

Every reader of models and datasets (evaluation, training, builders) resolves through `resolve`, so the same
spec means the same thing everywhere and records the same version string:
- a spec that exists locally is local: a git repository (e.g. a `csir publish --target local` store repo) gives the
  40-hex commit of `revision` (default HEAD); a plain folder gives `folder_hash` (it has no revisions);
- a spec that looks like a path (starts with `.`, `/` or `~`, or has more than one `/`) and does not exist is an
  error at once, never a Hub lookup;
- anything else must be a Hub id `ORG/NAME`: its revision is resolved with one `repo_info` call (short timeout,
  no retries), so an unreachable Hub (or `HF_HUB_OFFLINE`) fails in one line instead of a storm of retries;
  a repo already in the Hub cache is still used offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from csir.errors import CsirError

log = logging.getLogger(__name__)

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
REACH_TIMEOUT_S = 5.0   # one repo_info call; a refused connection fails at once, a black hole after this


@dataclass
class Resolved:
    """Where a spec lives and which exact version was found."""

    spec: str                      # as given
    revision: str | None           # as requested
    kind: str                      # "folder" (plain local folder) | "git" (local git repo) | "hub"
    path: Path | None              # local folder to read (None: a Hub id resolved without download)
    commit: str | None             # 40-hex commit; `sha256:<hex>` for a plain folder (None if not hashed)
    tmp: str | None = None         # temp checkout of a non-HEAD commit of a local git repo; `cleanup()` removes it

    def cleanup(self) -> None:
        if self.tmp:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def looks_like_path(spec: str) -> bool:
    """Starts with `.`, `/` or `~`, or has more than one `/`: meant as a local path, never a Hub id."""
    s = str(spec)
    return s.startswith((".", "/", "~")) or s.count("/") > 1 or "\\" in s


def is_hub_id(spec: str | os.PathLike | None) -> bool:
    """`ORG/NAME` that is not a local path: the one "is this a Hub id" test of the project."""
    if not spec:
        return False
    s = str(spec)
    return not looks_like_path(s) and bool(HUB_ID_RE.match(s)) and not Path(s).exists()


def hub_endpoint() -> str:
    """The Hub (or mirror, e.g. `csir hub serve`) that Hub ids are looked up on."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def folder_hash(folder: Path, sample_large: bool = False) -> str:
    """`sha256:<hex>` over every file's relative path and bytes (`.git` excluded): the version of a plain folder.

    `sample_large` (model folders): files of 1 MiB or more other than configs are pinned by their first and last
    MiB plus their size, so hashing a multi-GB checkpoint reads 2 MiB per file instead of all of it.
    """
    folder = Path(folder)
    h = hashlib.sha256()
    for f in sorted(x for x in folder.rglob("*") if x.is_file() and ".git" not in x.parts):
        h.update(str(f.relative_to(folder)).encode() + b"\0")
        size = f.stat().st_size
        if sample_large and f.suffix not in (".json", ".txt", ".model", ".py") and size >= (1 << 20):
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read())
            h.update(str(size).encode())
            continue
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def git(folder: Path, *args) -> str | None:
    """`git -C folder ARGS` stdout, or None when git fails (not a repo, unknown ref, no git)."""
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError, NotADirectoryError):
        return None
    return out.stdout.strip() or None


def is_git_root(folder: Path) -> bool:
    top = git(folder, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == Path(folder).resolve()


def check_local_or_hub(spec: str, flag: str) -> str:
    """'local' or 'hub' for `spec`; a missing path-like spec, or a non-Hub-id, is a CsirError naming `flag`."""
    s = str(spec)
    if Path(s).expanduser().exists():
        return "local"
    if looks_like_path(s):
        raise CsirError(f"{flag}: '{s}' is not a local folder (no such folder or file)")
    if not HUB_ID_RE.match(s):
        raise CsirError(f"{flag}: '{s}' is neither a local folder nor a Hub id (ORG/NAME)")
    return "hub"


def resolve(spec: str, revision: str | None = None, repo_type: str = "model", *, download: bool = True,
            allow_patterns: list[str] | None = None, flag: str | None = None, rev_flag: str = "--revision",
            other_commit: str = "checkout", hash_folder: bool = True) -> Resolved:
    """(local path | Hub id, revision) -> `Resolved` (local folder + exact version).

    `flag` / `rev_flag` name the option in error messages (default `--model` / `--dataset` by `repo_type`).
    A local git repo at a revision other than its HEAD is exported to a temp folder (`other_commit="checkout"`,
    caller calls `cleanup()`), or refused (`"refuse"`: the caller must read the user's working tree).
    `download=False` resolves a Hub id's commit without fetching files (callers that read through `datasets`).
    """
    spec = str(spec)
    flag = flag or f"--{'model' if repo_type == 'model' else 'dataset'}"
    if check_local_or_hub(spec, flag) == "local":
        if not Path(spec).expanduser().is_dir():
            raise CsirError(f"{flag}: '{spec}' is a file; expected a {repo_type} folder or a Hub id")
        return _resolve_local(spec, revision, repo_type, rev_flag, other_commit, hash_folder)
    return _resolve_hub(spec, revision, repo_type, download, allow_patterns, flag, rev_flag)


def _resolve_local(spec, revision, repo_type, rev_flag, other_commit, hash_folder) -> Resolved:
    path = Path(spec).expanduser()
    if path.is_dir() and is_git_root(path):
        rev = revision or "HEAD"
        commit = git(path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if not commit:
            raise CsirError(f"{rev_flag}: revision '{rev}' does not exist in {path}")
        if commit == git(path, "rev-parse", "HEAD"):
            return Resolved(spec, revision, "git", path, commit)
        if other_commit == "refuse":
            raise CsirError(f"{rev_flag}: {path} is checked out at another commit; check out {revision} "
                            "or serve the folder with `csir hub serve` and pass its repo id")
        tmp = tempfile.mkdtemp(prefix="csir-rev-")  # read that commit's tree, never touch the user's checkout
        archive = subprocess.run(["git", "-C", str(path), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        return Resolved(spec, revision, "git", Path(tmp), commit, tmp)
    if revision:
        raise CsirError(f"{rev_flag}: {path} is a plain folder (not a git repository); it has no revision "
                        f"'{revision}'")
    commit = folder_hash(path, sample_large=repo_type == "model") if hash_folder and path.is_dir() else None
    return Resolved(spec, revision, "folder", path, commit)


def unreachable(spec: str, flag: str, why: str = "") -> CsirError:
    """The one-line error for a Hub id that cannot be looked up."""
    if hub_offline():
        return CsirError(f"{flag}: '{spec}' is not a local folder, and the Hub is unreachable ({hub_endpoint()}: "
                         "HF_HUB_OFFLINE is set) and has no cached copy; set HF_ENDPOINT to a mirror such as "
                         "`csir hub serve`")
    return CsirError(f"{flag}: cannot reach {hub_endpoint()}: {why or 'no connection'}; '{spec}' is not a local "
                     "folder, and the Hub is unreachable (no cached copy; set HF_ENDPOINT to a mirror such as "
                     "`csir hub serve`)")


def _resolve_hub(spec, revision, repo_type, download, allow_patterns, flag, rev_flag) -> Resolved:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    commit, offline_why = None, ""
    if hub_offline():
        offline_why = "HF_HUB_OFFLINE is set"
    elif revision and COMMIT_RE.match(revision):
        commit = revision
    else:
        try:
            # the default branch asked for by name, as snapshot_download does
            info = HfApi(endpoint=endpoint).repo_info(spec, repo_type=repo_type, revision=revision or "main",
                                                      timeout=REACH_TIMEOUT_S)
            commit = info.sha
        except RevisionNotFoundError:
            raise CsirError(f"{rev_flag}: revision '{revision}' does not exist in {repo_type} {spec}") from None
        except RepositoryNotFoundError:
            raise CsirError(f"{flag}: {repo_type} repository '{spec}' not found (nor a local folder)") from None
        except HFValidationError:
            raise CsirError(f"{flag}: '{spec}' is neither a local folder nor a valid Hub {repo_type} id") from None
        except Exception as exc:  # connection refused, DNS, timeout, 5xx: the cache may still have it
            offline_why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    if commit is None:  # offline or unreachable: a cached copy is fine, anything else fails now
        cached = _cached(spec, repo_type, revision)
        if cached is None:
            raise unreachable(spec, flag, offline_why)
        log.warning("%s: the Hub is unreachable (%s); using the cached copy at %s", spec, offline_why, cached.name)
        return Resolved(spec, revision, "hub", cached if download else None, cached.name)
    if not download:
        return Resolved(spec, revision, "hub", None, commit)
    from huggingface_hub import snapshot_download

    try:
        # the requested revision (not the commit): the cache then records the ref for later offline use
        local = Path(snapshot_download(spec, repo_type=repo_type, revision=revision, endpoint=endpoint,
                                       allow_patterns=allow_patterns))
    except (RevisionNotFoundError, RepositoryNotFoundError):
        raise CsirError(f"{rev_flag}: revision '{revision}' does not exist in {repo_type} {spec}") from None
    except LocalEntryNotFoundError:
        raise unreachable(spec, flag, "download failed") from None
    return Resolved(spec, revision, "hub", local, local.name)


def _cached(spec: str, repo_type: str, revision: str | None) -> Path | None:
    """The Hub-cache snapshot folder of `spec` at `revision` (a ref or a commit), or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec, repo_type=repo_type, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
