"""Network-namespace fixtures for the host-layer tests.

Every namespace a test creates is named ``wct-<session token><n>-<role>``; every
WireGuard interface ``wc<token><n>`` (wireguard-go's sockets are machine-wide, so
names must be unique per machine). Teardown runs even when the test fails: it
kills, by PID, the processes the test started and every process still inside its
namespaces (they can only be the test's), deletes the namespaces and checks that
none is left. Nothing here touches the root namespace's links, routes or rules.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from warpcli.host.wireguard.wg import process_alive

TOKEN = secrets.token_hex(3)
PREFIX = f"wct-{TOKEN}"
WG_PREFIX = f"wc{TOKEN}"


def root_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: the test creates network namespaces"
    if not shutil.which("ip"):
        return "needs iproute2 (the ip command)"
    return None


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {p.stderr.strip()}")
    return p


def list_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ours_left() -> list[str]:
    return [n for n in list_netns() if n.startswith(PREFIX)]


def kill_and_wait(pids, timeout: float = 10.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes did not exit: {[p for p in pids if process_alive(p)]}")
        time.sleep(0.02)


@dataclass
class Lab:
    """Namespaces, veth links and processes of one test."""

    run_dir: Path
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    wg_names: list[str] = field(default_factory=list)
    _n: int = 0

    def netns(self, role: str) -> str:
        self._n += 1
        name = f"{PREFIX}{self._n}-{role}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        # no IPv6 duplicate address detection: addresses are final at once ("tentative" never
        # shows up in one snapshot and not in the next)
        self.sh(name, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        return name

    def wg_name(self) -> str:
        self._n += 1
        name = f"{WG_PREFIX}{self._n}"
        self.wg_names.append(name)
        return name

    def veth(self, a: str, b: str, addr_a: str | None = None, addr_b: str | None = None,
             name_a: str = "v0", name_b: str = "v0") -> None:
        """A veth pair between two of this test's namespaces (never via the root namespace)."""
        ip("-n", a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", b)
        for ns_, name, addr in ((a, name_a, addr_a), (b, name_b, addr_b)):
            if addr:
                ip("-n", ns_, "addr", "add", addr, "dev", name)
            ip("-n", ns_, "link", "set", name, "up")

    def sh(self, ns_: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(["ip", "netns", "exec", ns_, *argv], capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in {ns_} failed: {p.stderr.strip()}")
        return p

    def python(self, ns_: str, code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns_, sys.executable, "-c", code, *args],
                              capture_output=True, text=True, timeout=timeout)

    def spawn_python(self, ns_: str, code: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns_, sys.executable, "-u", "-c", code, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def track(self, pid: int | None) -> None:
        if pid:
            self.pids.append(pid)

    def cleanup(self) -> None:
        pids = [p.pid for p in self.procs] + self.pids
        for ns_ in self.namespaces:  # anything still running inside our namespaces is ours
            out = subprocess.run(["ip", "netns", "pids", ns_], capture_output=True, text=True, timeout=30)
            pids += [int(x) for x in out.stdout.split() if x.isdigit()]
        pids = sorted(set(pids))
        try:
            kill_and_wait(pids)
        finally:
            for p in self.procs:
                for stream in (p.stdout, p.stderr):
                    if stream:
                        stream.close()
            for name in self.wg_names:  # a SIGKILLed wireguard-go leaves its socket file
                Path(f"/var/run/wireguard/{name}.sock").unlink(missing_ok=True)
            for ns_ in reversed(self.namespaces):
                ip("netns", "del", ns_, check=False)


@pytest.fixture
def lab(tmp_path: Path):
    reason = root_reason()
    if reason:
        pytest.skip(reason)
    assert ours_left() == [], f"namespaces of this session left over before the test: {ours_left()}"
    lab = Lab(run_dir=tmp_path / "run")
    try:
        yield lab
    finally:
        lab.cleanup()
        assert ours_left() == [], f"namespaces left after the test: {ours_left()}"


@pytest.fixture
def wireguard_go(lab: Lab) -> str:
    exe = shutil.which("wireguard-go")
    if not exe:
        pytest.skip("needs wireguard-go (apt-get install wireguard-go)")
    return exe


def read_line(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """The next stdout line of ``proc`` (bounded wait; fails with its stderr)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output within {timeout}s")
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise AssertionError(f"process exited ({proc.returncode}): {proc.stderr.read().strip()}")
    return line.strip()


TCP_SERVER = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(1)
s.settimeout(30)
print("READY", flush=True)
c, addr = s.accept()
c.settimeout(30)
data = c.recv(100)
c.sendall(b"echo:" + data)
print("PEER", addr[0], data.decode(), flush=True)
c.close()
"""

TCP_CLIENT = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
c = socket.create_connection((host, port), timeout=20)
c.sendall(sys.argv[3].encode())
print(c.recv(100).decode(), flush=True)
"""


def tcp_exchange(lab: Lab, server_ns: str, client_ns: str, host: str, port: int, message: str = "hello"):
    """A real TCP connection from ``client_ns`` to ``host:port`` served in ``server_ns``.
    Returns (reply the client got, address the server saw as its peer)."""
    server = lab.spawn_python(server_ns, TCP_SERVER, host, str(port))
    assert read_line(server) == "READY"
    client = lab.python(client_ns, TCP_CLIENT, host, str(port), message)
    assert client.returncode == 0, client.stderr
    peer_line = read_line(server)
    server.wait(timeout=10)
    kind, peer, data = peer_line.split()
    assert (kind, data) == ("PEER", message)
    return client.stdout.strip(), peer


from tests.host.sites import site  # noqa: E402,F401 - the site-to-site topology fixture, for every test here


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``netns``, so ``pytest -m 'not netns'`` is the fast loop."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.netns)
