"""Worker processes that die with their parent.

`datasets.map(num_proc=N)` forks a pool; when the parent is killed (kill -9, OOM killer) the workers hold both
ends of the pool's pipes, never see EOF and keep running. On Linux, `PR_SET_PDEATHSIG` asks the kernel to send
SIGTERM to a forked child when its parent dies; `die_with_parent()` installs that for every later `os.fork`
of this process (subprocess's fork+exec path is not affected: it does not run Python fork hooks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
_installed = False
_forking_pid = 0


def _remember_parent() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _set_pdeathsig() -> None:
    parent = _forking_pid
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl: the signal will never come
        os._exit(1)


def die_with_parent() -> bool:
    """Make every process forked from now on get SIGTERM when this process dies (Linux; no-op elsewhere)."""
    global _installed
    if _installed:
        return True
    if not sys.platform.startswith("linux"):
        return False
    os.register_at_fork(before=_remember_parent, after_in_child=_set_pdeathsig)
    _installed = True
    return True
