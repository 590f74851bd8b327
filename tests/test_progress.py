"""Progress bars on stderr for long work, only for a person at a terminal (issue 18, item 9).

Each command runs as a real process with stderr on a pseudo-terminal and stdout on a pipe (so
the data stays apart), then with stderr piped, with --json and with --quiet: the bar is drawn in
the first case only, and the data on stdout is the same bytes in every case.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths
from tests.ptyread import drain

ROWS = 20_000  # several updates of the bar (one every 4096 rows)


def run(args: list[str], *, tty: bool) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr as the terminal or the pipe got it)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    if not tty:
        p = subprocess.run([WARPCLI, *args], capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    try:
        proc = subprocess.Popen([WARPCLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=env, close_fds=True)
    finally:
        os.close(slave)
    assert proc.stdout is not None
    out = proc.stdout.read()  # (a bounded amount: the test's own commands)
    err = drain(master)
    return proc.wait(timeout=120), out, err


@pytest.fixture
def table(paths: Paths, sh, tmp_path: Path) -> Path:
    assert sh("tunnel", "create", "t1").exit_code == 0
    f = tmp_path / "routes.csv"
    f.write_text("".join(f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}/32,t1\n" for i in range(ROWS))
                 + "10.0.0.0/16,t1\n", encoding="utf-8")
    return f


def test_routes_import_shows_a_bar_on_a_terminal_only(table: Path, sh, paths: Paths) -> None:
    code, out, err = run(["routes", "import", str(table)], tty=True)
    assert code == 0, err
    assert b"reading routes" in err and b"\xe2\x94\x81" in err  # the bar's line character
    assert b"kB" in err  # a file: the bar counts bytes against its size
    assert err.rstrip().endswith(f"imported {ROWS + 1} route(s)".encode())
    assert out == b""

    # into fresh states: stderr piped, --json, --quiet / -q: not a byte of a bar
    for n, (before, after, tty) in enumerate([([], [], False), ([], ["--json"], True),
                                               (["--quiet"], [], True), (["-q"], [], True)]):
        state = str(paths.state.parent / f"fresh-{n}")
        assert sh("--state-dir", state, "tunnel", "create", "t1").exit_code == 0
        code, out, err = run([*before, "--state-dir", state, "routes", "import", str(table), *after], tty=tty)
        assert code == 0, err
        assert b"reading routes" not in err and b"\x1b" not in err, (before, after, tty, err[:200])
        assert err == f"imported {ROWS + 1} route(s)\r\n".encode() if tty else b"imported 20001 route(s)\n"
        if after:
            assert json.loads(out)["imported"] == ROWS + 1


def test_export_overlaps_and_apply_bars(table: Path, sh, tmp_path: Path) -> None:
    assert sh("routes", "import", str(table)).exit_code == 0
    piped = run(["routes", "export", "-"], tty=False)
    code, out, err = run(["routes", "export", "-"], tty=True)
    assert code == 0 and b"exporting routes" in err
    assert out == piped[1] and b"\x1b" not in out  # the data is the same bytes, bar or not
    assert b"exporting routes" not in piped[2]

    code, out, err = run(["routes", "export", str(tmp_path / "t.csv")], tty=True)
    assert code == 0 and b"exporting routes" in err and out == b""

    code, out, err = run(["routes", "--overlaps"], tty=True)
    assert code == 0 and b"finding overlapping routes" in err and b"10.0.0.0/16" in out
    code, out, err = run(["routes", "--overlaps", "--json"], tty=True)
    assert code == 0 and b"finding overlapping routes" not in err and json.loads(out)["nested"]
    code, out, err = run(["routes", "--overlaps"], tty=False)
    assert code == 0 and b"finding" not in err

    netfile = tmp_path / "net.toml"
    assert sh("export", str(netfile)).exit_code == 0
    code, out, err = run(["apply", "-f", str(netfile)], tty=True)
    assert code == 0 and b"applying the network file" in err, err[-300:]
    code, out, err = run(["apply", "-f", str(netfile), "--dry-run"], tty=False)
    assert b"planning" not in err and b"\x1b" not in err
