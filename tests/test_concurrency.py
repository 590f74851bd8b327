"""Concurrent processes on one state dir lose nothing and duplicate nothing (issue 2, scope 3).

Real ``warpcli`` processes, started together with ``subprocess.Popen``; SQLite's
write lock (``BEGIN IMMEDIATE``) is the only thing serialising them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from tests.conftest import WARPCLI, Paths

N = 8


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([WARPCLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def run_together(argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    """Start every process before waiting for any."""
    return finish([start(a) for a in argvs])


def routes(sh) -> list[dict]:
    r = sh("routes", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow
def test_eight_route_add_processes_at_once(paths: Paths, sh) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("tunnel", "create", "lab").exit_code == 0
    assert sh("vnet", "add", "staging").exit_code == 0

    distinct: list[tuple[str, str]] = []  # (network, vnet)
    rounds = 5
    for k in range(rounds):
        # eight processes, each adding a route of its own (IPv4 and IPv6, two vnets)
        argvs = []
        for i in range(N):
            net = f"10.{i}.{k}.0/24" if i % 2 == 0 else f"2001:db8:{i:x}:{k + 1:x}::/64"
            vnet = "staging" if i % 4 == 3 else "default"
            argvs.append(["route", "add", net, "--tunnel", "office" if i < 4 else "lab", "--vnet", vnet, "--json"])
            distinct.append((net, vnet))
        results = run_together(argvs)
        for (code, stdout, stderr), argv in zip(results, argvs, strict=False):
            assert code == 0, (argv, stderr)
            assert json.loads(stdout)["network"] == argv[2]

    colliding = ["192.168.0.0/16", "192.168.1.0/24", "fd00::/8"]
    for net in colliding:
        # all eight try to add the same CIDR: exactly one wins, the others get "conflict"
        results = run_together([["route", "add", net, "--tunnel", "lab" if i % 2 else "office", "--json"]
                                for i in range(N)])
        codes = Counter(code for code, _, _ in results)
        assert codes == {0: 1, 4: N - 1}, [(c, e) for c, _, e in results]
        for code, stdout, stderr in results:
            assert "Traceback" not in stderr
            if code == 4:
                assert stdout == "" and stderr.startswith("warpcli: error: ") and "already routed" in stderr

    rows = routes(sh)
    seen = Counter((r["network"], r["virtual_network_name"]) for r in rows)
    expected = Counter(distinct) + Counter((net, "default") for net in colliding)
    assert seen == expected  # every route exactly once, nothing else
    assert len({r["id"] for r in rows}) == len(rows) == rounds * N + len(colliding)


@pytest.mark.slow
def test_eight_processes_importing_and_adding_at_once(paths: Paths, sh, tmp_path) -> None:
    """Bulk imports racing single adds: all-or-nothing transactions interleave cleanly."""
    assert sh("tunnel", "create", "office").exit_code == 0
    argvs = []
    for i in range(N):
        if i % 2 == 0:
            f = tmp_path / f"batch{i}.csv"
            f.write_text("".join(f"172.{16 + i}.{k}.0/24,office,,batch {i}\n" for k in range(50)))
            argvs.append(["routes", "import", str(f)])
        else:
            argvs.append(["route", "add", f"172.{16 + i}.0.0/16"])
    results = run_together(argvs)
    assert [code for code, _, _ in results] == [0] * N, [e for _, _, e in results]
    rows = routes(sh)
    nets = Counter(r["network"] for r in rows)
    assert len(rows) == 4 * 50 + 4 and set(nets.values()) == {1}
    for i in range(0, N, 2):
        assert sum(1 for r in rows if r["comment"] == f"batch {i}") == 50


@pytest.mark.slow
@pytest.mark.parametrize("if_not_exists", [False, True], ids=["plain", "if-not-exists"])
def test_eight_tunnel_create_of_one_name_on_a_fresh_state_dir(paths: Paths, sh, if_not_exists: bool) -> None:
    # a fresh state dir: the eight also race to create and migrate the database
    assert not paths.state.exists()
    extra = ["--if-not-exists"] if if_not_exists else []
    results = run_together([["tunnel", "create", "office", *extra] for _ in range(N)])
    for _, _, stderr in results:
        assert "Traceback" not in stderr
    codes = Counter(code for code, _, _ in results)
    tunnels = json.loads(sh("tunnel", "list", "--json").stdout)
    assert [t["name"] for t in tunnels] == ["office"]
    tid = tunnels[0]["id"]
    if if_not_exists:
        assert codes == {0: N}, [e for _, _, e in results]
        assert {stdout.strip() for _, stdout, _ in results} == {tid}
    else:
        assert codes == {0: 1, 4: N - 1}, [e for _, _, e in results]
        winner = next(stdout for code, stdout, _ in results if code == 0)
        assert winner.strip() == tid
        for code, stdout, stderr in results:
            if code == 4:
                assert stdout == "" and tid in stderr and stderr.count("\n") == 1
    # exactly one token was stored, and it is the tunnel's
    secrets = json.loads((paths.state / "secrets.json").read_text())
    assert list(secrets) == [f"tunnel-token:{tid}"]
    assert oct((paths.state / "secrets.json").stat().st_mode & 0o777) == "0o600"
    assert sh("tunnel", "token", "office").stdout.strip() == secrets[f"tunnel-token:{tid}"]
    # exactly one default vnet, despite eight first-time migrations
    vnets = json.loads(sh("vnet", "list", "--json").stdout)
    assert [(v["name"], v["is_default_network"]) for v in vnets] == [("default", True)]
