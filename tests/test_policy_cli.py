"""`warpcli policy ...` as a user runs it: the issue's session, and bad input that gets one
line, its exit code and no change (a real process of the installed entry point for those)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import WARPCLI, Paths, dump_state


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WARPCLI, *args], capture_output=True, text=True, timeout=60, env=os.environ.copy())


@pytest.fixture
def session(paths: Paths) -> Paths:
    for args in (("tunnel", "create", "site-a"), ("tunnel", "create", "site-b"),
                 ("route", "add", "10.1.0.0/24", "--tunnel", "site-a"),
                 ("route", "add", "10.2.0.0/24", "--tunnel", "site-b"),
                 ("policy", "default", "deny"),
                 ("policy", "add", "ci-to-staging", "--from", "10.2.0.0/24", "--to", "10.1.0.5/32", "--proto", "tcp",
                  "--port", "443,8443", "--action", "allow"),
                 ("policy", "add", "voip", "--from", "10.3.0.0/24", "--to", "site-a", "--proto", "udp",
                  "--port", "5060,10000-20000", "--action", "allow", "--log")):
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr)
    return paths


def test_the_issue_session(session: Paths) -> None:
    ok = run("policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:443/tcp")
    assert (ok.returncode, ok.stdout.strip()) == (0, "allowed by 'ci-to-staging' (rule 1)")
    no = run("policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:22/tcp", "--json")
    assert no.returncode == 11 and json.loads(no.stdout) == {"allowed": False, "action": "deny", "rule": None,
                                                             "name": None}
    listed = run("policy", "list")
    assert listed.returncode == 0 and listed.stdout.index("ci-to-staging") < listed.stdout.index("voip")
    assert run("policy", "move", "voip", "--before", "ci-to-staging").returncode == 0
    names = [r["name"] for r in json.loads(run("policy", "list", "--json").stdout)["rules"]]
    assert names == ["voip", "ci-to-staging"]
    assert run("policy", "add", "web-deny", "--from", "10.2.0.0/25", "--to", "10.1.0.5", "--proto", "tcp",
               "--port", "443", "--action", "deny").returncode == 0
    lint = json.loads(run("policy", "lint", "--json").stdout)
    assert [(f["name"], f["kind"], f["by_name"]) for f in lint] == [("web-deny", "conflicting", "ci-to-staging")]
    assert run("policy", "delete", "voip").returncode == 0
    gone = run("policy", "delete", "voip", "--if-exists", "--json")
    assert gone.returncode == 0 and gone.stdout.strip() == "null"


@pytest.mark.parametrize("args, code", [
    (("policy", "add", "x", "--proto", "tcp", "--port", "0", "--action", "allow"), 2),
    (("policy", "add", "x", "--proto", "tcp", "--port", "65536", "--action", "allow"), 2),
    (("policy", "add", "x", "--proto", "tcp", "--port", "30-20", "--action", "allow"), 2),
    (("policy", "add", "x", "--from", "10.2.0.1/24", "--action", "allow"), 2),
    (("policy", "add", "x", "--from", "site-z", "--action", "allow"), 3),
    (("policy", "add", "voip", "--action", "allow"), 4),
    (("policy", "add", "x", "--proto", "icmp", "--port", "80", "--action", "allow"), 2),
    (("policy", "add", "x", "--action", "permit"), 2),
    (("policy", "default", "maybe"), 2),
    (("policy", "move", "voip"), 2),
    (("policy", "move", "voip", "--before", "nothing"), 3),
    (("policy", "delete", "nothing"), 3),
    (("policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:0/tcp"), 2),
    (("policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:80/icmp"), 2),
    (("policy", "list", "--vnet", "nowhere"), 3),
])
def test_bad_input_is_one_line_and_changes_nothing(session: Paths, args: tuple[str, ...], code: int) -> None:
    before = dump_state(session.state)
    r = run(*args)
    assert r.returncode == code, r.stderr
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("warpcli: error:"), r.stderr
    assert dump_state(session.state) == before
