"""Stopping a process this host's warpcli started (wireguard-go, keepalived, the HA agents)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


def terminate(pid: int, timeout: float, *, alive: Callable[[int], bool],
              still_ours: Callable[[], bool] | None = None) -> bool:
    """SIGTERM, and SIGKILL when most of ``timeout`` has gone by; True once ``pid`` is gone.

    ``still_ours`` is asked before each signal: a PID that now belongs to another process
    (reused after ours exited) is never signalled, and counts as gone.
    """
    for sig, share in ((signal.SIGTERM, 0.8), (signal.SIGKILL, 0.2)):
        if still_ours is not None and not still_ours():
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout * share
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a process we cannot wait for (not always our child)
        if not alive(pid):
            return True
    return not alive(pid)
