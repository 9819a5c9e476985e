"""Hub target: `huggingface_hub.HfApi` — create the repo if missing, one commit, a tag on exactly that commit.

Content identity is compared against the remote tree (`list_repo_tree`: git blob sha1 for regular files,
sha256 for LFS files), so an identical re-publish makes no commit and no second tag. The commit is sent with
`parent_commit=` so a retried or concurrent commit can never stack a second commit on top. Large files go
through the LFS batch API (content-addressed: a re-run after a failed commit skips what was uploaded).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx2  # huggingface_hub's HTTP client: its transport errors are what a dropped connection raises
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile

from csir.errors import CsirError, network_error_message
from csir.hub.files import StagedFolder

logger = logging.getLogger(__name__)
RETRY_STATUS = {408, 429, 500, 502, 503, 504}
KEEP_REMOTE = {".gitattributes"}  # created by the Hub with the repo; kept unless the folder has its own


@dataclass
class RetryPolicy:
    """Exponential backoff for Hub calls that huggingface_hub itself does not retry (commit, tag, repo)."""

    attempts: int = 5
    base_s: float = 1.0
    max_wait_s: float = 30.0


def _status(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def with_retries(fn, policy: RetryPolicy, what: str):
    """Call `fn()`; on 429/5xx (or a dropped connection) wait base*2^k (or Retry-After) and try again."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except HfHubHTTPError as exc:
            status = _status(exc)
            if status not in RETRY_STATUS or attempt == policy.attempts:
                raise
            retry_after = exc.response.headers.get("retry-after", "") if exc.response is not None else ""
            wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else policy.base_s * 2 ** (attempt - 1)
        except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
            # no connection at all (refused, no route, DNS): waiting will not help, say so at once
            if attempt == policy.attempts or isinstance(exc, (httpx2.ConnectError, ConnectionRefusedError)):
                raise
            status, wait = type(exc).__name__, policy.base_s * 2 ** (attempt - 1)
        wait = min(wait, policy.max_wait_s)
        logger.warning("%s: %s, retrying in %.1fs (attempt %d/%d)", what, status, wait, attempt + 1, policy.attempts)
        time.sleep(wait)
    raise AssertionError("unreachable")


@dataclass
class HubOutcome:
    action: str              # "commit", "tag-existing", "noop", "create+commit" (dry run)
    commit: str | None
    url: str


class HubTarget:
    def __init__(self, repo_id: str, repo_type: str, *, endpoint: str | None = None,
                 retry: RetryPolicy | None = None):
        # token=None: HfApi reads HF_TOKEN or the saved `hf auth login` token itself; we never see or print it.
        self.api = HfApi(endpoint=endpoint)
        self.repo_id = repo_id
        self.repo_type = repo_type
        self.retry = retry or RetryPolicy()

    @property
    def url_base(self) -> str:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        return f"{self.api.endpoint}/{prefix}{self.repo_id}"

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return with_retries(lambda: fn(*args, **kwargs), self.retry, what)
        except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
            message = network_error_message(exc) or f"cannot reach {self.api.endpoint}: {type(exc).__name__}"
            raise CsirError(f"{message} ({what})") from None

    def exists(self) -> bool:
        try:
            self._call("repo_info", self.api.repo_info, self.repo_id, repo_type=self.repo_type)
            return True
        except RepositoryNotFoundError:
            return False

    def refs(self) -> tuple[str | None, dict[str, str]]:
        refs = self._call("list_repo_refs", self.api.list_repo_refs, self.repo_id, repo_type=self.repo_type)
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        return head, {t.name: t.target_commit for t in refs.tags}

    def remote_files(self, revision: str) -> dict[str, RepoFile]:
        entries = self._call("list_repo_tree", lambda: list(self.api.list_repo_tree(
            self.repo_id, recursive=True, revision=revision, repo_type=self.repo_type)))
        return {e.path: e for e in entries if isinstance(e, RepoFile)}

    @staticmethod
    def same(staged: StagedFolder, remote: dict[str, RepoFile]) -> bool:
        remote = {p: e for p, e in remote.items() if not (p in KEEP_REMOTE and p not in staged.files)}
        if set(remote) != set(staged.files):
            return False
        for path, entry in remote.items():
            f = staged.files[path]
            if entry.lfs is not None:
                if entry.lfs.sha256 != f.sha256:
                    return False
            elif entry.blob_id != f.git_sha1:
                return False
        return True

    def _commit(self, staged: StagedFolder, version: str, head: str | None) -> str:
        remote_head = self.remote_files(head) if head else {}

        def operations():
            ops = [CommitOperationAdd(path_in_repo=f.path,
                                      path_or_fileobj=f.data if f.data is not None else str(f.source))
                   for f in staged.files.values()]
            ops += [CommitOperationDelete(path_in_repo=p) for p in sorted(remote_head)
                    if p not in staged.files and p not in KEEP_REMOTE]
            return ops

        def attempt():
            return self.api.create_commit(self.repo_id, operations(), repo_type=self.repo_type, revision="main",
                                          commit_message=f"Publish {version}",
                                          commit_description=f"{len(staged.files)} files, {staged.total_bytes} bytes",
                                          parent_commit=head)
        try:
            return self._call("create_commit", attempt).oid
        except HfHubHTTPError as exc:
            if _status(exc) not in (409, 412):
                raise
            # main moved (a concurrent publish, or our own commit landed before its response was lost).
            new_head, _ = self.refs()
            if new_head and self.same(staged, self.remote_files(new_head)):
                return new_head
            raise CsirError(f"{self.repo_id}: main changed while publishing {version} "
                            f"(was {head}, now {new_head}); re-run to publish on top of it") from exc

    def publish(self, staged: StagedFolder, version: str, *, private: bool, force: bool,
                dry_run: bool) -> HubOutcome:
        url = f"{self.url_base}/tree/{version}"
        if not self.exists():
            if dry_run:
                return HubOutcome("create+commit", None, url)
            self._call("create_repo", self.api.create_repo, self.repo_id, repo_type=self.repo_type,
                       private=private, exist_ok=True)
        head, tags = self.refs()
        tagged = tags.get(version)
        if tagged is not None:
            if self.same(staged, self.remote_files(tagged)):
                return HubOutcome("noop", tagged, url)
            if not force:
                raise CsirError(f"{self.repo_id}@{version} already exists (commit {tagged}) with different content; "
                                "publish a new version, or pass --force to move the tag")
        if head is not None and self.same(staged, self.remote_files(head)):
            action, commit = "tag-existing", head
        else:
            action, commit = "commit", None
        if dry_run:
            return HubOutcome(action, commit, url)
        if commit is None:
            commit = self._commit(staged, version, head)
        if tagged is not None:  # --force: the tag moves to the new commit
            self._call("delete_tag", self.api.delete_tag, self.repo_id, tag=version, repo_type=self.repo_type)
        try:
            self._call("create_tag", self.api.create_tag, self.repo_id, tag=version, revision=commit,
                       tag_message=f"{self.repo_id} {version}", repo_type=self.repo_type)
        except HfHubHTTPError as exc:
            # 409 after a retried request whose first response was lost: fine iff the tag is ours.
            if _status(exc) != 409 or self.refs()[1].get(version) != commit:
                raise
        return HubOutcome(action, commit, url)
