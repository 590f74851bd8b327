"""examples/netns-demo.sh: the runnable site-to-site demo works, and leaves nothing behind.

The script names everything after its PID (namespaces ``wcdemo-PID-ROLE``, WireGuard
interfaces ``wcdPID{h,a,b}``, work dir ``$TMPDIR/wcdemo-PID``) and passes its prefix in
the argv of every process it starts itself, so the checks below can tell its leftovers
apart from anything else on the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from tests.host.conftest import list_netns, root_reason
from warpcli.host.wireguard.wg import process_alive

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "netns-demo.sh"
RUN_TIMEOUT = 300  # a bound, not an expectation: the demo takes seconds


def demo_reason() -> str | None:
    reason = root_reason()
    if reason:
        return reason
    if not shutil.which("wireguard-go"):
        return "needs wireguard-go (apt-get install wireguard-go); there is no kernel WireGuard module here"
    if not shutil.which("python3"):
        return "needs python3 on PATH (the demo's TCP client and server)"
    return None


def _env(tmp: Path, warpcli: str = WARPCLI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARPCLI_")}
    return {**env, "WARPCLI": warpcli, "TMPDIR": str(tmp)}


def run_demo(tmp: Path, *args: str, warpcli: str = WARPCLI) -> tuple[subprocess.CompletedProcess, str]:
    """Run the demo (bounded); returns the result and its prefix ``wcdemo-PID``.
    On timeout it is sent SIGTERM (its trap cleans up), then `--cleanup` runs, and the test fails."""
    proc = subprocess.Popen([str(DEMO), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp, warpcli))
    prefix = f"wcdemo-{proc.pid}"  # the script's $$: it is exec'd, not forked
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        cleanup(tmp, prefix)
        pytest.fail(f"the demo did not finish within {RUN_TIMEOUT}s\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), prefix


def cleanup(tmp: Path, prefix: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEMO), "--cleanup", prefix], capture_output=True, text=True, timeout=120,
                          env=_env(tmp))


def ifnames(prefix: str) -> list[str]:
    n = prefix.removeprefix("wcdemo-")
    return [f"wcd{n}{x}" for x in "hab"]


def wireguard_pids(out: str) -> dict[str, int]:
    """The wireguard-go processes the demo reports, by interface (none with kernel WireGuard)."""
    return {ifname: int(pid) for ifname, pid in re.findall(r"^wireguard-go (\S+): pid (\d+)$", out, re.M)}


def processes_of(prefix: str) -> list[str]:
    """Live processes whose argv names this demo run (its TCP servers, wireguard-go IFNAME,
    the hub's HA responder by its directory under the run's work dir)."""
    marks = set(ifnames(prefix)) | {prefix}
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (d / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        named = any(a in marks or a.startswith(prefix + "-") or f"/{prefix}/" in a for a in argv)
        if named and process_alive(int(d.name)):
            found.append(f"{d.name}: {' '.join(argv)[:120]}")
    return found


def leftovers(tmp: Path, prefix: str) -> list[str]:
    left = [f"namespace {n}" for n in list_netns() if n.startswith(prefix + "-")]
    left += [f"process {p}" for p in processes_of(prefix)]
    left += [f"socket {s}" for s in (Path(f"/var/run/wireguard/{i}.sock") for i in ifnames(prefix)) if s.exists()]
    if (tmp / prefix).exists():
        left.append(f"directory {tmp / prefix}")
    return left


@pytest.fixture
def demo_tmp(tmp_path: Path):
    reason = demo_reason()
    if reason:
        pytest.skip(reason)
    yield tmp_path
    # whatever a failed test left: the script's own --cleanup removes it
    for d in tmp_path.glob("wcdemo-*"):
        cleanup(tmp_path, d.name)


def test_demo_script_is_strict_bash() -> None:
    text = DEMO.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(DEMO, os.X_OK), "examples/netns-demo.sh must be executable"
    r = subprocess.run(["bash", "-n", str(DEMO)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_demo_refuses_without_root(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop root")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-s"]
    else:
        argv = ["bash", "-s"]
    r = subprocess.run(argv, stdin=DEMO.open(), capture_output=True, text=True, timeout=60, cwd="/",
                       env=_env(tmp_path))
    assert r.returncode == 1
    assert r.stderr.startswith("netns-demo.sh: run it as root") and len(r.stderr.splitlines()) == 1, r.stderr


def test_demo_shows_true_source_both_ways_and_leaves_nothing(demo_tmp: Path) -> None:
    r, prefix = run_demo(demo_tmp)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    out = r.stdout
    # the server on each side saw the other side's host itself: no NAT on the way
    assert "site A -> site B: 10.2.0.10:8080 saw the connection come from 10.1.0.10" in out
    assert "site B -> site A: 10.1.0.10:8081 saw the connection come from 10.2.0.10" in out
    assert "site B2 -> site A: 10.1.0.10:8082 saw the connection come from 10.2.0.20" in out
    assert re.search(r"^health\s+healthy$", out, re.M), out  # `warpcli status` of connector A
    # the token went through a pipe, never to the output (tokens are base64 of '{"a":...')
    assert "eyJ" not in out + r.stderr
    # the wireguard-go processes warpcli started for it (gone: leftovers() below looks for them)
    started = wireguard_pids(out)
    assert sorted(started) in (sorted(ifnames(prefix)), []), out  # [] with the kernel's WireGuard
    for line in ("connector A: down", "connector B: down", "hub: down"):
        assert f"==> {line}\n- interface " in out, line
    assert leftovers(demo_tmp, prefix) == []


def test_demo_keep_then_cleanup(demo_tmp: Path) -> None:
    r, prefix = run_demo(demo_tmp, "--keep")
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert f"--cleanup {prefix}" in r.stdout
    # still running: its namespaces, its wireguard-go processes
    names = {n for n in list_netns() if n.startswith(prefix + "-")}
    assert names == {f"{prefix}-{role}" for role in ("wan", "hub", "cona", "hosta", "conb", "hostb", "hostb2")}
    running = processes_of(prefix)
    wireguard = [p for p in running if "wireguard-go" in p]
    assert sorted(int(p.split(":")[0]) for p in wireguard) == sorted(wireguard_pids(r.stdout).values()), running
    # and the hub's HA responder (`hub up` starts it): nothing else
    assert [p for p in running if p not in wireguard and "warpcli.host.ha.prober hub" in p] == \
        [p for p in running if p not in wireguard], running
    assert len(running) == len(wireguard) + 1, running
    # and the printed poke commands work: warpcli status as connector A
    status_cmd = next(line.strip() for line in r.stdout.splitlines()
                      if line.strip().startswith("ip netns exec") and line.strip().endswith(" status"))
    st = subprocess.run(status_cmd.split(), capture_output=True, text=True, timeout=120)
    assert st.returncode == 0 and re.search(r"^health\s+healthy$", st.stdout, re.M), st.stdout + st.stderr

    c = cleanup(demo_tmp, prefix)
    assert c.returncode == 0, c.stderr
    assert c.stdout.strip() == f"==> removed {prefix}"
    assert leftovers(demo_tmp, prefix) == []
    # a second cleanup finds nothing and is fine; a bad prefix is refused in one line
    assert cleanup(demo_tmp, prefix).returncode == 0
    bad = cleanup(demo_tmp, "wct-x")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1 and "--cleanup takes a prefix" in bad.stderr


FAILING_STATUS = """#!/usr/bin/env bash
# the real warpcli, except that `status` records the interfaces warpcli made, then fails
if [[ ${1:-} == status ]]; then
  for f in "$(dirname "$WARPCLI_RUN_DIR")"/run-*/netns-*/wcd*[hab].json; do cat "$f"; echo; done > "$DEMO_RECORD"
  echo "warpcli: error: status failed (injected by the test)" >&2
  exit 1
fi
exec "$REAL_WARPCLI" "$@"
"""


def test_demo_failure_midway_is_cleaned_up_by_its_trap(demo_tmp: Path, monkeypatch) -> None:
    """A step failing while everything runs (hub, both connectors up): the trap removes it all."""
    wrapper = demo_tmp / "bin" / "warpcli"
    wrapper.parent.mkdir()
    wrapper.write_text(FAILING_STATUS)
    wrapper.chmod(0o755)
    record = demo_tmp / "record.jsonl"
    monkeypatch.setenv("REAL_WARPCLI", WARPCLI)
    monkeypatch.setenv("DEMO_RECORD", str(record))
    r, prefix = run_demo(demo_tmp, warpcli=str(wrapper))
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr}"
    assert "status failed (injected by the test)" in r.stderr
    assert "netns-demo.sh: failed (exit 1); cleaning up" in r.stderr
    assert "site A -> site B: 10.2.0.10:8080 saw the connection come from 10.1.0.10" in r.stdout
    made = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    assert sorted(m["ifname"] for m in made) == sorted(ifnames(prefix))
    # their wireguard-go processes (looked for by argv), namespaces, sockets, work dir: all gone
    assert leftovers(demo_tmp, prefix) == []
