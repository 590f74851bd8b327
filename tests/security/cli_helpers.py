"""Helpers for the CLI-side security tests (issue 17): a pty runner, hostile strings, nobody.

Plain functions, no fixtures: tests/security/ is shared with the server-side suite.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import termios
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import WARPCLI
from tests.ptyread import drain

#: what a hostile controller or state file may hold: an OSC window title, a colour, an
#: 8-bit CSI (C1), a screen clear, a bidi override and a line break
HOSTILE = "evil\x1b]0;pwned\x07\x1b[31mred\x9b2J\u202egnp.exe\nline2"
#: the bytes that must never reach a terminal raw
RAW_SEQUENCES = [b"\x1b]0;pwned", b"\x1b[31mred", "\x9b".encode(), "\u202e".encode(), b"\x07"]
#: how warpcli shows HOSTILE (the escaping rule of warpcli/core/text.py)
VISIBLE = "evil\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J\\u202egnp.exe\\nline2"


@dataclass
class PtyResult:
    exit_code: int
    output: bytes  #: stdout and stderr as the terminal got them


def run_in_pty(args: list[str], env: dict[str, str], *, cols: int = 250, timeout: float = 60) -> PtyResult:
    """Run warpcli with stdout and stderr on a pseudo-terminal (so Rich and isatty() see a terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    try:
        proc = subprocess.Popen([WARPCLI, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                                close_fds=True)
    finally:
        os.close(slave)
    output = drain(master)
    return PtyResult(proc.wait(timeout=timeout), output)


def set_in_state(state_dir: Path, sql: str, *params) -> None:
    """Write the state file as another tool would (bypassing warpcli's name checks)."""
    conn = sqlite3.connect(state_dir / "state.db")
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def as_nobody_argv(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


def nobody_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to the user nobody"
    if not shutil.which("setpriv"):
        return "needs setpriv (util-linux)"
    return None


def nobody_dir() -> Path:
    """A fresh directory the user nobody owns (pytest's tmp_path is root's 0700 tree)."""
    d = Path(tempfile.mkdtemp(prefix="warpcli-nobody-"))
    os.chmod(d, 0o755)
    os.chown(d, 65534, 65534)
    return d
