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


def umask_mode(base: int) -> int:
    """`base` (0o666 files, 0o777 directories) less the process umask: what open()/mkdir() would have given.
    mkstemp/mkdtemp create 0600/0700 for privacy while the temp is half-written; the finished output gets the
    permissions a plain write would have (a results folder colleagues can read)."""
    return base & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask sets it, racing other threads' file creation)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    os.chmod(tmp, umask_mode(0o777))
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
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
