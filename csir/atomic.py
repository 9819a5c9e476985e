"""Write outputs to a temporary sibling, rename on success: never a half-written output.

Temp siblings are named `.NAME.tmp-{pid}-XXXX` (and `.NAME.old-{pid}` during a replace), so the next run
that writes NAME removes the ones a killed run left behind (`csir.cleanup`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from csir.cleanup import remove_dead_pid_entries, tmp_name


def sweep_siblings(target: Path) -> None:
    """Remove `.NAME.tmp-*` / `.NAME.old-*` siblings of `target` left by dead processes."""
    for kind in ("tmp", "old"):
        remove_dead_pid_entries(target.parent, f".{target.name}.{kind}-")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = True):
    """Yield a temp directory next to `target`; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_siblings(target)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_name(f".{target.name}.tmp-"), dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(target)
        old = target.with_name(f".{target.name}.old-{os.getpid()}-0")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file handle on a temp file that is renamed onto `target` when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_siblings(target)
    fd, tmp = tempfile.mkstemp(prefix=tmp_name(f".{target.name}.tmp-"), dir=target.parent)
    os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
