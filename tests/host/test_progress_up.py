"""`up` with many routes draws a progress bar of its kernel changes on a terminal, and nothing of
it when stderr is piped or with --json (issue 18, item 9). Real namespaces, wireguard-go."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

from tests.conftest import WARPCLI
from tests.host.sites import Site
from tests.ptyread import drain

ROUTES = 3000


def up_in_pty(s: Site, role: str, *args: str) -> tuple[int, bytes]:
    env = {k: v for k, v in s.env(role).items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    try:
        proc = subprocess.Popen(["ip", "netns", "exec", s.ns[role], WARPCLI, "up", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave, env=env, close_fds=True)
    finally:
        os.close(slave)
    out = drain(master)
    return proc.wait(timeout=120), out


def test_up_shows_its_kernel_changes_on_a_terminal_only(site: Site) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    rows = "".join(f"10.{100 + i // 256}.{i % 256}.0/24,site-b\n" for i in range(ROUTES))
    s.warpcli("ctl", "routes", "import", "-", input=rows)
    token = s.warpcli("ctl", "tunnel", "token", "site-a").stdout
    s.warpcli("cona", "enroll", "--interface", s.wg["cona"], input=token)
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()

    code, out = up_in_pty(s, "cona")
    s.track_wireguard()
    assert code == 0, out[-500:]
    assert b"kernel changes" in out and b"\xe2\x94\x81" in out, out[-500:]  # the bar, with its total
    done = re.findall(rb"(\d+)/(\d+)", out)  # done/total of the kernel changes: the routes and a few more
    assert done and done[-1][0] == done[-1][1] and int(done[-1][1]) >= ROUTES, done[-3:]

    s.warpcli("cona", "down")
    piped = s.warpcli("cona", "up")  # stderr piped: the plan lines only
    s.track_wireguard()
    assert "\x1b" not in piped.stderr and "kernel changes" not in piped.stderr
    s.warpcli("cona", "down")
    code, out = up_in_pty(s, "cona", "--json")
    s.track_wireguard()
    assert code == 0 and b"kernel changes" not in out and b"bringing" not in out
    s.warpcli("cona", "down")
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"])
