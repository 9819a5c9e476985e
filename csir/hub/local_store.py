"""The local store: one bare git repository per Hub repo under STORE/{datasets,models}/ORG/NAME.

A publish writes blobs and a tree with git plumbing (a private index, never a working tree), makes one commit,
then moves `refs/heads/main` and creates `refs/tags/VERSION` in ONE `git update-ref --stdin` transaction that
also checks the old values: a crash or a concurrent publish leaves the refs as they were (the stray objects
are unreachable and `git gc` drops them). When a concurrent publish moved `main` first, the loser re-plans
on the new `main` and tries again (bounded retries). Files are ordinary git blobs (no LFS).
Before writing, a publish removes what a killed publish left: git's `tmp_obj_*`/`tmp_pack_*` files and
`*.lock` files nobody holds (a stale `refs/heads/main.lock` would refuse every later publish).
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from csir.cleanup import remove_dead_pid_entries, remove_stale_temp_dirs, remove_unused, tmp_name
from csir.errors import CsirError
from csir.hub.files import StagedFolder

ZERO = "0" * 40
PUBLISH_ATTEMPTS = 8


class RefRace(Exception):
    """The refs moved between plan and update (a concurrent publish won): re-plan."""
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "csir publish", "GIT_AUTHOR_EMAIL": "csir@localhost",
                "GIT_COMMITTER_NAME": "csir publish", "GIT_COMMITTER_EMAIL": "csir@localhost"}


def repo_dir(store: str | os.PathLike, repo_type: str, repo_id: str) -> Path:
    """STORE/datasets/ORG/NAME or STORE/models/ORG/NAME (the layout olah's mirror mode reads)."""
    return Path(store) / f"{repo_type}s" / repo_id


@dataclass
class LocalPlan:
    action: str          # "commit", "tag-existing", "noop", "refuse"
    tree: str
    head: str | None
    tagged: str | None   # commit the version tag points at now, if any
    commit: str | None = None


class LocalStore:
    """One repository of the store; all git calls go through `_git` (subprocess, no shell)."""

    def __init__(self, store: str | os.PathLike, repo_type: str, repo_id: str):
        self.path = repo_dir(store, repo_type, repo_id)
        self.repo_id = repo_id
        self.repo_type = repo_type

    # -- git plumbing ---------------------------------------------------------------------------------------
    def _git(self, *args: str, env: dict | None = None, input: bytes | None = None, check=True) -> str:
        full_env = {**os.environ, **GIT_IDENTITY, "GIT_DIR": str(self.path), **(env or {})}
        full_env.pop("GIT_WORK_TREE", None)
        proc = subprocess.run(["git", *args], env=full_env, input=input, capture_output=True)
        if check and proc.returncode != 0:
            cmd = next((a for a in args if not a.startswith("-") and "=" not in a), args[0])
            raise CsirError(f"{self.path}: git {cmd} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode().strip() if proc.returncode == 0 else ""

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file()

    def init(self) -> None:
        """Create the bare repository atomically (temp sibling, then rename)."""
        if self.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_pid_entries(self.path.parent, f".{self.path.name}.tmp-")
        tmp = Path(tempfile.mkdtemp(prefix=tmp_name(f".{self.path.name}.tmp-"), dir=self.path.parent))
        proc = subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(tmp)], capture_output=True)
        if proc.returncode != 0:
            raise CsirError(f"{self.path}: git init failed: {proc.stderr.decode(errors='replace').strip()}")
        try:
            os.rename(tmp, self.path)
        except OSError:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
            if not self.exists():
                raise

    def rev(self, ref: str) -> str | None:
        """The commit `ref` points at (tags peeled), or None."""
        if not self.exists():
            return None
        out = self._git("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        return out or None

    def tree_of(self, commit: str) -> str:
        return self._git("rev-parse", f"{commit}^{{tree}}")

    def tags(self) -> dict[str, str]:
        if not self.exists():
            return {}
        out = self._git("for-each-ref", "--format=%(refname:strip=2) %(objectname) %(*objectname)", "refs/tags")
        tags = {}
        for line in out.splitlines():
            name, obj, peeled = (line.split(" ") + [""])[:3]
            tags[name] = peeled or obj
        return tags

    def write_tree(self, staged: StagedFolder, objects_env: dict | None = None) -> str:
        """Hash all staged files into the object store and return the root tree sha (nothing is referenced)."""
        env = dict(objects_env or {})
        with tempfile.TemporaryDirectory(prefix=tmp_name("csir-index-")) as tmpd:
            env["GIT_INDEX_FILE"] = str(Path(tmpd) / "index")
            on_disk = [f for f in staged.files.values() if f.data is None]
            in_memory = [f for f in staged.files.values() if f.data is not None]
            shas = {}
            if on_disk:
                # parquet/safetensors are already compressed: zlib on loose objects only costs time (~3x)
                out = self._git("-c", "core.looseCompression=0", "hash-object", "-w", "--no-filters",
                                "--stdin-paths", env=env,
                                input="".join(f"{f.source}\n" for f in on_disk).encode())
                shas.update(zip((f.path for f in on_disk), out.split()))
            for f in in_memory:
                shas[f.path] = self._git("hash-object", "-w", "--no-filters", "--stdin", env=env, input=f.data)
            for path, sha in shas.items():
                if sha != staged.files[path].git_sha1:
                    raise CsirError(f"{staged.root / path}: changed while publishing (hash mismatch)")
            index_info = "".join(f"100644 {sha}\t{path}\n" for path, sha in sorted(shas.items()))
            self._git("update-index", "--add", "--index-info", env=env, input=index_info.encode())
            return self._git("write-tree", env=env)

    # -- publish ---------------------------------------------------------------------------------------------
    def plan(self, staged: StagedFolder, version: str, force: bool, dry_run: bool) -> LocalPlan:
        """Decide what a publish does, writing objects only outside dry runs."""
        if dry_run:
            with tempfile.TemporaryDirectory(prefix=tmp_name("csir-dry-objects-")) as objdir:
                env = {"GIT_OBJECT_DIRECTORY": objdir}
                if self.exists():
                    env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(self.path / "objects")
                    return self._plan(self.write_tree(staged, env), version, force)
                scratch = LocalStore.__new__(LocalStore)
                scratch.path, scratch.repo_id, scratch.repo_type = Path(objdir) / "repo.git", self.repo_id, self.repo_type
                subprocess.run(["git", "init", "-q", "--bare", str(scratch.path)], check=True, capture_output=True)
                return scratch._plan(scratch.write_tree(staged), version, force)
        self.init()
        self.remove_leftovers()
        return self._plan(self.write_tree(staged), version, force)

    def remove_leftovers(self) -> list[Path]:
        """Temp objects and lock files a killed git left in this repository, plus our own temp folders."""
        for prefix in ("csir-index-", "csir-dry-objects-"):
            remove_stale_temp_dirs(prefix)
        if not self.exists():
            return []
        objects = self.path / "objects"
        found = [*objects.glob("tmp_*"), *objects.glob("*/tmp_*"), *objects.glob("pack/tmp_*"),
                 *self.path.glob("*.lock"), *(p for p in (self.path / "refs").rglob("*.lock"))]
        return remove_unused(found)

    def publish(self, staged: StagedFolder, version: str, force: bool, message: str,
                attempts: int = PUBLISH_ATTEMPTS) -> LocalPlan:
        """Plan, commit and move the refs; when a concurrent publish moved them first, re-plan and retry."""
        plan = self.plan(staged, version, force=force, dry_run=False)
        for attempt in range(attempts):
            if plan.action in ("noop", "refuse"):
                return plan
            commit = plan.commit or self.commit(plan, message)
            try:
                self.update_refs(plan, commit, version)
                plan.commit = commit
                return plan
            except RefRace:
                time.sleep(random.uniform(0.02, 0.2) * (attempt + 1))
                plan = self._plan(plan.tree, version, force)
        raise CsirError(f"{self.path}: main kept moving under concurrent publishes ({attempts} attempts); "
                        "run the publish again")

    def _plan(self, tree: str, version: str, force: bool) -> LocalPlan:
        head = self.rev("refs/heads/main")
        tagged = self.tags().get(version)
        plan = LocalPlan(action="commit", tree=tree, head=head, tagged=tagged)
        if tagged is not None:
            if self.tree_of(tagged) == tree:
                plan.action, plan.commit = "noop", tagged
                return plan
            if not force:
                plan.action = "refuse"
                return plan
        if head is not None and self.tree_of(head) == tree:
            plan.action, plan.commit = "tag-existing", head
        return plan

    def commit(self, plan: LocalPlan, message: str) -> str:
        args = ["commit-tree", plan.tree, "-m", message]
        if plan.head:
            args[2:2] = ["-p", plan.head]
        return self._git(*args)

    def update_refs(self, plan: LocalPlan, commit: str, version: str) -> None:
        """Move main and set the tag in one transaction, verifying both old values."""
        lines = ["start"]
        if commit != plan.head:
            lines.append(f"update refs/heads/main {commit} {plan.head or ZERO}")
        if plan.tagged is None:
            lines.append(f"create refs/tags/{version} {commit}")
        else:
            lines.append(f"update refs/tags/{version} {commit} {plan.tagged}")
        lines += ["prepare", "commit"]
        try:
            self._git("update-ref", "--stdin", input=("\n".join(lines) + "\n").encode())
        except CsirError as exc:
            # moved under us, or locked by a concurrent update-ref right now: both mean "re-plan"
            if self.rev("refs/heads/main") != plan.head or self.tags().get(version) != plan.tagged \
                    or "cannot lock ref" in str(exc) or "unable to create" in str(exc):
                raise RefRace(str(exc)) from exc
            raise
        # A bare repo's HEAD names main; make sure it exists for clients that read HEAD.
        self._git("symbolic-ref", "HEAD", "refs/heads/main")
