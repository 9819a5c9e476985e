"""Leftovers of killed runs: find and remove the temp files and folders a dead run cannot remove itself.

Two rules, both conservative (a live run's files are never touched):
- names that carry the creating process id (`tmp_name(prefix)` -> `PREFIX{pid}-XXXX`): stale when that
  process is gone;
- files we cannot name (datasets' `tmp*` cache files, git's `tmp_obj_*` and `*.lock`): stale when no process
  has them open and they have not changed for `min_age` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

logger = logging.getLogger(__name__)
_PID_RE = re.compile(r"^(\d+)-")


def tmp_name(prefix: str) -> str:
    """A prefix for mkdtemp/mkstemp that records this process: PREFIX{pid}-."""
    return f"{prefix}{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        logger.debug("could not remove stale %s: %s", path, exc)
        return False
    logger.debug("removed stale %s", path)
    return True


def remove_dead_pid_entries(folder: str | os.PathLike, prefix: str, legacy_min_age: float = 3600.0) -> list[Path]:
    """Remove `folder/PREFIX{pid}-*` entries whose process is gone.

    Entries named by an older version without a pid (`PREFIX<random>`) go when untouched for `legacy_min_age`.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix):
            continue
        m = _PID_RE.match(entry.name[len(prefix):])
        if m:
            if int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
                continue
        else:
            try:
                if now - entry.lstat().st_mtime < legacy_min_age:
                    continue
            except FileNotFoundError:
                continue
        if _remove(entry):
            removed.append(entry)
    return removed


def open_files() -> set[str]:
    """Every file some process we can see has open (Linux /proc; empty elsewhere)."""
    out: set[str] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    out.add(os.readlink(fd))
    return out


def remove_unused(paths: Iterable[str | os.PathLike], min_age: float = 60.0) -> list[Path]:
    """Remove the given files that nobody has open and that have not changed for `min_age` seconds."""
    now = time.time()
    candidates = []
    for p in map(Path, paths):
        try:
            if now - p.lstat().st_mtime >= min_age:
                candidates.append(p)
        except FileNotFoundError:
            continue
    if not candidates:
        return []
    busy = open_files()
    return [p for p in candidates if str(p.resolve()) not in busy and _remove(p)]


def remove_stale_temp_dirs(prefix: str) -> list[Path]:
    """Stale `PREFIX{pid}-*` folders of dead processes in the system temp folder."""
    return remove_dead_pid_entries(tempfile.gettempdir(), prefix)
