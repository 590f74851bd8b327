"""``warpcli enroll`` with the cloudflare controller: warp-cli joins the host, forwarding goes on.

The real ``warp-cli`` is Cloudflare's proprietary WARP client: it is not installable here
(and would dial Cloudflare's edge). A fake stands in for it: a small executable that logs
its argv as one JSON line and prints them back, so the tests can check exactly what warpcli
ran and that warp-cli's output never shows the token.

warpcli turns on IP forwarding in its current network namespace, so it runs inside a test
namespace (never the root one). From there it cannot reach 127.0.0.1 of the test process,
so the contract-checked Cloudflare stand-in runs in the same namespace
(``python -m tests.cfstub.serve``) and reports its request log and contract problems
when its stdin is closed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from tests.host.conftest import Lab, read_line
from tests.test_docs import _conforms, _field_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
IP = shutil.which("ip") or "/usr/sbin/ip"
FORWARDING_KEYS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
SYSTEM_PATH = "/usr/bin:/bin"


# -- the stand-in, in the namespace ----------------------------------------------------------
@dataclass
class StandInProcess:
    proc: subprocess.Popen
    url: str
    account_id: str
    token: str

    def finish(self) -> dict:
        """Stop it; its final report: ``{"problems": [...], "requests": [[method, path, status]]}``."""
        self.proc.stdin.close()
        report = json.loads(read_line(self.proc))
        assert self.proc.wait(timeout=20) == 0, self.proc.stderr.read()
        return report


def start_stand_in(lab: Lab, ns: str, state_dir: Path) -> StandInProcess:
    proc = subprocess.Popen(
        [IP, "netns", "exec", ns, sys.executable, "-m", "tests.cfstub.serve", str(state_dir)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lab.procs.append(proc)  # killed by the lab's cleanup whatever happens
    hello = json.loads(read_line(proc))
    assert hello["url"].startswith("http://127.0.0.1:")
    return StandInProcess(proc, hello["url"], hello["account_id"], hello["token"])


def open_controller(state_dir: Path):
    """A direct LocalController on the stand-in's state, opened as the stand-in opens it."""
    from warpcli.controllers.local import LocalController
    from warpcli.secret_stores import open_secret_store

    return LocalController(state_dir, secrets=lambda: open_secret_store("file", state_dir), lock_timeout=10)


def make_tunnel(state_dir: Path, name: str) -> tuple[str, str]:
    """Create tunnel ``name`` in ``state_dir``; return (tunnel id, its token)."""
    ctrl = open_controller(state_dir)
    try:
        tunnel = ctrl.create_tunnel(name)
        return tunnel.id, ctrl.get_tunnel_token(tunnel.id)
    finally:
        ctrl.close()


# -- the fake warp-cli -------------------------------------------------------------------------
FAKE_OK = """#!{python}
import json, sys
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
print("Success:", " ".join(sys.argv[1:]))
"""

FAKE_FAILING = """#!{python}
import json, sys
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
print("Error: cannot register", " ".join(sys.argv[1:]), file=sys.stderr)
sys.exit(1)
"""


def fake_warp_cli(tmp_path: Path, template: str) -> tuple[Path, Path]:
    """A bin directory holding a fake ``warp-cli``; returns (bin dir, its argv log)."""
    bin_dir, log = tmp_path / "fake-bin", tmp_path / "warp-cli.log"
    bin_dir.mkdir()
    exe = bin_dir / "warp-cli"
    exe.write_text(template.format(python=sys.executable, log=str(log)), encoding="utf-8")
    exe.chmod(0o755)
    return bin_dir, log


def logged_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


# -- running warpcli in the namespace ----------------------------------------------------------
def forwarding(lab: Lab, ns: str) -> dict[str, str]:
    return {key: lab.sh(ns, "cat", "/proc/sys/" + key.replace(".", "/")).stdout.strip() for key in FORWARDING_KEYS}


def root_forwarding() -> dict[str, str]:
    """The root namespace's values, read only: to prove they are left alone."""
    return {key: Path("/proc/sys", *key.split(".")).read_text().strip() for key in FORWARDING_KEYS}


def run_warpcli(ns: str, stand_in: StandInProcess, bin_dir: Path | None, *args: str,
                input: str | None = None) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)
    path = ":".join([*([str(bin_dir)] if bin_dir else []), venv_bin, SYSTEM_PATH])
    env = {
        **os.environ,  # the isolated HOME/state/config dirs of the `paths` fixture
        "PATH": path,
        "WARPCLI_CONTROLLER": "cloudflare",
        "CLOUDFLARE_ACCOUNT_ID": stand_in.account_id,
        "WARPCLI_API_URL": stand_in.url,
        "CLOUDFLARE_API_TOKEN": stand_in.token,
    }
    return subprocess.run(
        [IP, "netns", "exec", ns, WARPCLI, "enroll", *args], input=input if input is not None else "",
        capture_output=True, text=True, env=env, timeout=120,
    )


@dataclass
class Setup:
    ns: str
    state: Path
    tunnel_id: str
    token: str
    stand_in: StandInProcess


@pytest.fixture
def setup(lab: Lab, paths, tmp_path: Path) -> Setup:
    """A fresh namespace (forwarding off), tunnel "office", and the stand-in serving it there."""
    ns = lab.netns("warp")
    assert forwarding(lab, ns) == {key: "0" for key in FORWARDING_KEYS}, "a fresh namespace forwards nothing"
    state = tmp_path / "cf-state"
    tunnel_id, token = make_tunnel(state, "office")
    return Setup(ns, state, tunnel_id, token, start_stand_in(lab, ns, state))


def assert_no_problems(report: dict) -> None:
    assert report["problems"] == [], "the Cloudflare stand-in saw problems:\n  " + "\n  ".join(report["problems"])


def api_calls(report: dict) -> list:
    """The requests besides the health probe (``GET /warpcli/health``, no token) by which
    enroll tells Cloudflare (this stand-in: no such endpoint) from a served warpcli controller."""
    return [r for r in report["requests"] if not r[1].endswith("/warpcli/health")]


def assert_token_hidden(r: subprocess.CompletedProcess, token: str) -> None:
    assert token not in r.stdout
    assert token not in r.stderr


# -- the tests -----------------------------------------------------------------------------
def test_enroll_with_tunnel_runs_warp_cli_and_turns_on_forwarding(lab: Lab, setup: Setup, tmp_path: Path) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_OK)
    root_before = root_forwarding()

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--tunnel", "office", "--json")
    report = setup.stand_in.finish()

    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    _conforms(out, _field_tables()["Warp enrollment"], "Warp enrollment")
    assert out["tunnel_id"] == setup.tunnel_id
    assert out["tunnel_name"] == "office"
    assert (out["controller"], out["client"]) == ("cloudflare", "warp-cli")
    assert out["forwarding"] == {key: True for key in FORWARDING_KEYS}
    assert out["forwarding_was"] == {key: False for key in FORWARDING_KEYS}
    assert logged_calls(log) == [["--accept-tos", "connector", "new", setup.token], ["--accept-tos", "connect"]]
    assert forwarding(lab, setup.ns) == {key: "1" for key in FORWARDING_KEYS}
    assert root_forwarding() == root_before
    assert_token_hidden(r, setup.token)
    assert "enrolled with warp-cli in tunnel 'office'" in r.stderr
    assert_no_problems(report)
    assert api_calls(report), "the tunnel and its token come from the API"
    assert all(status == 200 for _, _, status in api_calls(report)), report["requests"]


def test_enroll_without_json_prints_the_tunnel_id(lab: Lab, setup: Setup, tmp_path: Path) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_OK)

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--tunnel", "office")
    report = setup.stand_in.finish()

    assert r.returncode == 0, r.stderr
    assert r.stdout == setup.tunnel_id + "\n"
    assert len(logged_calls(log)) == 2
    assert_token_hidden(r, setup.token)
    assert_no_problems(report)


def test_enroll_with_token_on_stdin(lab: Lab, setup: Setup, tmp_path: Path) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_OK)

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--json", input=setup.token + "\n")
    report = setup.stand_in.finish()

    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    _conforms(out, _field_tables()["Warp enrollment"], "Warp enrollment")
    assert (out["tunnel_id"], out["tunnel_name"]) == (setup.tunnel_id, "office")
    assert logged_calls(log) == [["--accept-tos", "connector", "new", setup.token], ["--accept-tos", "connect"]]
    assert forwarding(lab, setup.ns) == {key: "1" for key in FORWARDING_KEYS}
    assert_token_hidden(r, setup.token)
    assert_no_problems(report)


@pytest.mark.parametrize("which", ["another account", "garbage"])
def test_enroll_refuses_a_bad_token_and_changes_nothing(lab: Lab, setup: Setup, tmp_path: Path, which: str) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_OK)
    if which == "another account":
        _, bad = make_tunnel(tmp_path / "other-account", "office")  # another state: another account id
    else:
        bad = "not-a-tunnel-token-" + "x" * 40

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--json", input=bad + "\n")
    report = setup.stand_in.finish()

    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("warpcli: error: "), r.stderr
    assert bad not in r.stderr
    assert not log.exists(), "warp-cli must not run for a bad token"
    assert forwarding(lab, setup.ns) == {key: "0" for key in FORWARDING_KEYS}
    assert_no_problems(report)


def test_enroll_without_warp_cli_changes_nothing(lab: Lab, setup: Setup, tmp_path: Path) -> None:
    present = shutil.which("warp-cli", path=":".join([str(Path(sys.executable).parent), SYSTEM_PATH]))
    if present:
        pytest.skip(f"a warp-cli is installed on this machine ({present})")

    r = run_warpcli(setup.ns, setup.stand_in, None, "--tunnel", "office", "--json")
    report = setup.stand_in.finish()

    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "warp-cli" in lines[0] and "install" in lines[0], lines[0]
    assert api_calls(report) == [], "warp-cli is looked for before any API call"
    assert forwarding(lab, setup.ns) == {key: "0" for key in FORWARDING_KEYS}
    assert_no_problems(report)


def test_a_failing_warp_cli_is_reported_without_the_token(lab: Lab, setup: Setup, tmp_path: Path) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_FAILING)

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--tunnel", "office", "--json")
    report = setup.stand_in.finish()

    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "<token>" in lines[0], lines[0]
    assert "cannot register" in lines[0], "warp-cli's own message is shown"
    assert_token_hidden(r, setup.token)
    # it failed on `connector new`: nothing after it ran, forwarding untouched
    assert logged_calls(log) == [["--accept-tos", "connector", "new", setup.token]]
    assert forwarding(lab, setup.ns) == {key: "0" for key in FORWARDING_KEYS}
    assert_no_problems(report)


@pytest.mark.parametrize("flag", [["--vnet", "x"], ["--interface", "wg0"], ["--interface", ""], ["--mtu", "1400"]])
def test_flags_that_do_not_apply_are_refused(lab: Lab, setup: Setup, tmp_path: Path, flag: list[str]) -> None:
    bin_dir, log = fake_warp_cli(tmp_path, FAKE_OK)

    r = run_warpcli(setup.ns, setup.stand_in, bin_dir, "--tunnel", "office", *flag)
    report = setup.stand_in.finish()

    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert flag[0] in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert not log.exists(), "warp-cli must not run"
    assert api_calls(report) == []
    assert forwarding(lab, setup.ns) == {key: "0" for key in FORWARDING_KEYS}
    assert_no_problems(report)
