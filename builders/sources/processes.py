"""Worker processes that never outlive the build that started them."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time

_PR_SET_PDEATHSIG = 1
_PARENT_POLL_S = 1.0


def die_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` does, even when it is killed with SIGKILL.

    Forked workers hold each other's ends of the executor's pipes, so they never see EOF and
    would wait for work for as long as the machine runs. On Linux the kernel sends SIGKILL at the
    parent's death (``PR_SET_PDEATHSIG``); elsewhere a daemon thread polls the parent's pid.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)
