"""Fault points for the crash and interrupt tests.

``WARPCLI_FAULT_KILL_AT=NAME`` makes the process SIGKILL itself when it reaches the
point NAME, exactly like ``kill -9``; ``WARPCLI_FAULT_SIGNAL_AT=NAME:SIG`` sends itself
signal SIG there instead (``commit:INT`` is a Ctrl-C at that instant). Unset, a point
costs two dict lookups. Points: see :mod:`warpcli.host.faults` for ``up``/``down``;
the state store has ``commit-before`` (the transaction is complete, not yet at the
commit point), ``commit`` (past the commit point, before ``COMMIT``) and
``commit-after`` (committed).
"""

from __future__ import annotations

import os
import signal

KILL_AT = "WARPCLI_FAULT_KILL_AT"
SIGNAL_AT = "WARPCLI_FAULT_SIGNAL_AT"


def point(name: str) -> None:
    env = os.environ
    if env.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    spec = env.get(SIGNAL_AT)
    if spec:
        where, _, sig = spec.partition(":")
        if where == name:
            os.kill(os.getpid(), signal.Signals[f"SIG{sig or 'INT'}"])
