"""`publish_folder`: the one entry point builders, trainers and `csir publish` use for both targets."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from csir.atomic import atomic_file
from csir.errors import CsirError, where
from csir.hub.card_check import refresh_card, validate_card
from csir.hub.files import README, list_folder, stage_folder
from csir.hub.local_store import LocalStore
from csir.hub.remote import HubTarget, RetryPolicy

logger = logging.getLogger(__name__)
VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
REPO_TYPES = ("dataset", "model")
TARGETS = ("hub", "local")
STORE_ENV = "CSIR_HUB_STORE"


@dataclass
class PublishResult:
    """What a publish did; `commit_sha` is the 40-hex commit the version tag points at (None: dry run, new)."""

    commit_sha: str | None
    version: str
    url: str
    noop: bool
    repo_id: str = ""
    repo_type: str = "dataset"
    target: str = "hub"
    action: str = ""       # commit | tag-existing | noop | create+commit (dry run)
    dry_run: bool = False
    files: int = 0
    bytes: int = 0

    def summary(self) -> str:
        what = "would publish" if self.dry_run else ("unchanged" if self.noop else "published")
        commit = self.commit_sha or "(new commit)"
        return (f"{what} {self.repo_type} {self.repo_id}@{self.version} -> {self.target}: commit {commit} "
                f"[{self.action}; {self.files} files, {self.bytes} bytes] {self.url}")

    def to_dict(self) -> dict:
        return asdict(self)


def check_publish_args(repo_id: str, repo_type: str, version: str, target: str, store) -> None:
    if repo_type not in REPO_TYPES:
        raise CsirError(f"{where('--repo-type', field='repo_type')}: {repo_type!r} is not one of {REPO_TYPES}")
    if target not in TARGETS:
        raise CsirError(f"{where('--target', field='target')}: {target!r} is not one of {TARGETS}")
    if not VERSION_RE.match(version or ""):
        raise CsirError(f"{where('--version', field='version')}: {version!r} is not a version tag like v1.0.0")
    if repo_id.count("/") != 1:
        raise CsirError(f"{where('--repo', field='repo')}: {repo_id!r} must be ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise CsirError(f"{where('--repo', field='repo')}: {exc}") from exc
    if target == "local" and not store:
        raise CsirError(f"{where('--store', field='store')}: required with --target local "
                        f"(or set {STORE_ENV})")


def publish_folder(folder: str | os.PathLike, repo_id: str, *, repo_type: str = "dataset", version: str,
                   target: str = "hub", store: str | os.PathLike | None = None, private: bool = False,
                   dry_run: bool = False, force: bool = False, endpoint: str | None = None,
                   retry: RetryPolicy | None = None, update_card: bool = True,
                   store_dir: str | os.PathLike | None = None) -> PublishResult:
    """Publish `folder` as `repo_id@version` (one commit + one tag) to the Hub or to the local git store.

    Identical re-publish is a no-op; an existing tag with other content is refused unless `force`. After a
    real publish the folder's README.md gets the line recording the commit (`update_card`).
    `target="store"` / `store_dir=` are accepted as aliases of `target="local"` / `store=`.
    """
    if target == "store":  # the name training/config.py uses for the local store
        target = "local"
    store = store or store_dir or os.environ.get(STORE_ENV) or None
    check_publish_args(repo_id, repo_type, version, target, store)
    folder = Path(folder)
    if not folder.is_dir():
        raise CsirError(f"{folder}: not a directory")
    readme = folder / README
    if not readme.is_file():
        raise CsirError(f"{readme}: missing: every published repo needs a README.md card")
    paths = list_folder(folder)
    text = readme.read_text(encoding="utf-8")
    validate_card(text, repo_type, paths, card_path=readme)
    read = lambda p: (folder / p).read_bytes()  # noqa: E731
    card = refresh_card(text, repo_id=repo_id, version=version, repo_type=repo_type, paths=paths, read=read,
                        card_path=readme)
    staged = stage_folder(folder, overrides={README: card.encode("utf-8")})

    if target == "hub":
        outcome = HubTarget(repo_id, repo_type, endpoint=endpoint, retry=retry).publish(
            staged, version, private=private, force=force, dry_run=dry_run)
        action, commit, url = outcome.action, outcome.commit, outcome.url
    else:
        local = LocalStore(store, repo_type, repo_id)
        if dry_run:
            plan = local.plan(staged, version, force=force, dry_run=True)
        else:
            plan = local.publish(staged, version, force=force, message=f"Publish {version}")
        if plan.action == "refuse":
            raise CsirError(f"{repo_id}@{version} already exists in {local.path} (commit {plan.tagged}) with "
                            "different content; publish a new version, or pass --force to move the tag")
        action, commit, url = plan.action, plan.commit, str(local.path)

    if update_card and not dry_run and commit:
        recorded = refresh_card(text, repo_id=repo_id, version=version, repo_type=repo_type, paths=paths,
                                read=read, commit=commit, card_path=readme)
        if recorded != text:
            with atomic_file(readme) as fh:
                fh.write(recorded)
    result = PublishResult(commit_sha=commit, version=version, url=url, noop=action == "noop", repo_id=repo_id,
                           repo_type=repo_type, target=target, action=action, dry_run=dry_run,
                           files=len(staged.files), bytes=staged.total_bytes)
    logger.debug(result.summary())
    return result
