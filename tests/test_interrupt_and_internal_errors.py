"""Ctrl-C exits 130 with one line; a bug is one line and exit 70, its traceback only when asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import WARPCLI

# a command that reads stdin forever: `routes import -` waits for its first row
SLOW = [WARPCLI, "routes", "import", "-"]


def test_ctrl_c_is_exit_130_and_one_line(paths) -> None:
    p = subprocess.Popen(SLOW, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ))
    p.stdin.write("network,tunnel\n")
    p.stdin.flush()
    deadline = time.monotonic() + 60
    while not _reading_stdin(p.pid):  # blocked in the import's read of stdin: Python code is running
        assert p.poll() is None and time.monotonic() < deadline, "never reached the read of stdin"
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (p.returncode, err)
    # one line that says so, and (`routes import`) whether anything was imported
    assert err.splitlines() == ["warpcli: error: interrupted; nothing was imported"], err
    assert "Traceback" not in err and out == ""


def _reading_stdin(pid: int) -> bool:
    """The process is in read(2) on fd 0 (/proc/PID/syscall: number 0, first argument 0x0)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == "0" and fields[1] == "0x0"


BUG = "import warpcli.core.service as s; s.list_connectors = lambda *a, **k: 1 / 0; " \
      "from warpcli.cli.app import main; main()"


def test_an_internal_error_is_one_line_and_exit_70(paths) -> None:
    r = subprocess.run([sys.executable, "-c", BUG, "connector", "list"], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "WARPCLI_DEBUG"}, timeout=60)
    assert r.returncode == 70, r.stderr
    assert r.stderr.count("\n") == 1 and "internal error (ZeroDivisionError)" in r.stderr
    assert "WARPCLI_DEBUG=1" in r.stderr and "Traceback" not in r.stderr


def test_debug_shows_the_traceback(paths) -> None:
    for argv, env in ((["--debug", "connector", "list"], {}), (["connector", "list"], {"WARPCLI_DEBUG": "1"})):
        r = subprocess.run([sys.executable, "-c", BUG, *argv], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=60)
        assert r.returncode != 0 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr, r.stderr
