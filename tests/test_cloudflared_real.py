"""The real ``cloudflared`` binary against warpcli's server: ``tunnel vnet`` and ``tunnel route ip``.

The binary is ``../shared/tools/cloudflared`` from the project's root (its README there
names the version and how it was built; ``WARPCLI_CLOUDFLARED`` points elsewhere); the
tests skip, saying why, where it is absent. It is configured as a user would: an origin
certificate that ``warpcli controller token create --origincert`` wrote, and the API URL
in ``TUNNEL_API_URL`` (its ``--api-url``). Each test runs against two servers:

- ``serve``: a real ``warpcli controller serve`` process (tests/served.py);
- ``stand-in``: the same app in-process behind the contract check of tests/cfstub, so
  every request cloudflared sends and every answer it reads is held to the contract.
  cloudflared sends no body on ``DELETE .../virtual_networks/{id}``; the current API
  takes none (tests/cfstub/cloudflare-openapi-additions.json), so that is no violation.

What the binary cannot reach stays replayed in tests/test_cloudflared_compat.py: an older
cloudflared's create body (``is_default``) and the origin certificate's decoding.
Tunnels are made with warpcli: cloudflared looks tunnel *names* up on ``cfd_tunnel``,
which this server refuses (test below), so its route commands take a tunnel's id.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WARPCLI
from tests.served import ServedController
from warpcli.core.cidr import parse_network
from warpcli.core.origincert import origin_cert_pem

ROOT = Path(__file__).resolve().parents[1]
BINARY = Path(os.environ.get("WARPCLI_CLOUDFLARED") or ROOT.parent / "shared" / "tools" / "cloudflared")
TIMEOUT = 60


@dataclass
class Target:
    """A server cloudflared talks to, and how a test arranges state on it."""

    url: str
    cert: Path
    home: Path
    create_tunnel: Callable[[str], str]
    controller: Callable[[], Any]
    problems: Callable[[], list[str]]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def _binary(tmp: Path) -> Path:
    if not BINARY.is_file():
        pytest.skip(f"cloudflared is not at {BINARY} (see ../shared/tools/README.md; WARPCLI_CLOUDFLARED=PATH)")
    if os.access(BINARY, os.X_OK):
        return BINARY
    copy = tmp / "cloudflared"  # a read-only copy of shared/ may have lost its execute bit
    shutil.copyfile(BINARY, copy)
    copy.chmod(copy.stat().st_mode | stat.S_IXUSR)
    return copy


def _served_target(tmp: Path) -> Iterator[Target]:
    state = tmp / "state"
    env = {**os.environ, "WARPCLI_SECRET_BACKEND": "file", "WARPCLI_STATE_DIR": str(state)}
    with ServedController(state) as served:
        cert = tmp / "cert.pem"
        made = subprocess.run([WARPCLI, "controller", "token", "create", "--name", "cloudflared", "--origincert",
                               str(cert), "--state-dir", str(state), "--json"],
                              capture_output=True, text=True, env=env, timeout=TIMEOUT)
        assert made.returncode == 0, made.stderr

        def create_tunnel(name: str) -> str:
            p = subprocess.run([WARPCLI, "tunnel", "create", name, "--json"], capture_output=True, text=True,
                               env=env, timeout=TIMEOUT)
            assert p.returncode == 0, p.stderr
            return json.loads(p.stdout)["id"]

        opened: list[Any] = []

        def controller():
            from warpcli.controllers.local import LocalController
            from warpcli.secret_stores import open_secret_store

            ctl = LocalController(state, secrets=lambda: open_secret_store("file", state))
            opened.append(ctl)
            return ctl

        try:
            yield Target(served.url, cert, tmp, create_tunnel, controller, served.problems)
        finally:
            for ctl in opened:
                ctl.close()


def _stand_in_target(tmp: Path) -> Iterator[Target]:
    from tests.cfstub.fixtures import cf_server

    with cf_server(tmp) as cf:
        cert = tmp / "cert.pem"
        cert.write_text(origin_cert_pem(cf.account_id, cf.token))
        cert.chmod(0o600)
        yield Target(cf.url, cert, tmp, lambda name: cf.controller().create_tunnel(name).id, cf.controller,
                     cf.problems)


@pytest.fixture(params=["serve", "stand-in"])
def target(request: pytest.FixtureRequest, tmp_path: Path, paths) -> Iterator[Target]:
    """``paths`` keeps the server's home, secrets and config in ``tmp_path``."""
    make = _served_target if request.param == "serve" else _stand_in_target
    gen = make(tmp_path)
    t = next(gen)
    try:
        yield t
        assert t.problems() == []
    finally:
        gen.close()


@pytest.fixture
def cloudflared(target: Target, tmp_path: Path) -> Callable[..., Run]:
    binary = _binary(tmp_path)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(target.home), "TUNNEL_API_URL": target.url,
           "NO_AUTOUPDATE": "true"}

    def run(*args: str) -> Run:
        p = subprocess.run([str(binary), "tunnel", "--origincert", str(target.cert), *args],
                           capture_output=True, text=True, env=env, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return Run(p.returncode, p.stdout, p.stderr)

    return run


def ok(run: Run) -> Run:
    assert run.code == 0, f"cloudflared exited {run.code}:\n{run.err}"
    return run


# -- virtual networks ----------------------------------------------------------------------------
def test_vnet_add_list_update_delete(cloudflared, target: Target) -> None:
    added = ok(cloudflared("vnet", "add", "lab", "lab copy of prod"))
    assert "Successfully added virtual 'network' lab" in added.out
    ok(cloudflared("vnet", "add", "staging"))

    listed = ok(cloudflared("vnet", "list", "-o", "json")).json()
    by_name = {v["name"]: v for v in listed}
    assert set(by_name) == {"default", "lab", "staging"}
    assert by_name["lab"]["comment"] == "lab copy of prod" and by_name["lab"]["is_default_network"] is False
    assert by_name["default"]["is_default_network"] is True
    assert [v["name"] for v in ok(cloudflared("vnet", "list", "--name", "lab", "-o", "json")).json()] == ["lab"]
    lab_id = by_name["lab"]["id"]
    assert [v["name"] for v in ok(cloudflared("vnet", "list", "--id", lab_id, "-o", "json")).json()] == ["lab"]
    assert [v["name"] for v in ok(cloudflared("vnet", "list", "--is-default", "-o", "json")).json()] == ["default"]
    table = ok(cloudflared("vnet", "list")).out
    assert "lab copy of prod" in table and lab_id in table

    ok(cloudflared("vnet", "update", "--name", "lab2", "--comment", "renamed", "lab"))
    (lab,) = ok(cloudflared("vnet", "list", "--id", lab_id, "-o", "json")).json()
    assert (lab["name"], lab["comment"]) == ("lab2", "renamed")
    ok(cloudflared("vnet", "update", "--default", "lab2"))
    assert [v["id"] for v in ok(cloudflared("vnet", "list", "--is-default", "-o", "json")).json()] == [lab_id]
    refused = cloudflared("vnet", "delete", "lab2")  # the default one
    assert refused.code != 0 and "default" in refused.err
    ok(cloudflared("vnet", "update", "--default", "default"))

    clash = cloudflared("vnet", "add", "staging")
    assert clash.code != 0
    ok(cloudflared("vnet", "delete", "staging"))
    names = {v["name"] for v in ok(cloudflared("vnet", "list", "-o", "json")).json()}
    assert names == {"default", "lab2"}
    deleted = ok(cloudflared("vnet", "list", "--show-deleted", "-o", "json")).json()
    assert [v["name"] for v in deleted] == ["staging"] and not deleted[0]["deleted_at"].startswith("0001")
    live = {v.name for v in target.controller().list_virtual_networks()}
    assert live == {"default", "lab2"}


def test_vnet_delete_in_use_needs_force(cloudflared, target: Target) -> None:
    tunnel = target.create_tunnel("office")
    ok(cloudflared("vnet", "add", "lab"))
    ok(cloudflared("route", "ip", "add", "--vnet", "lab", "10.5.0.0/16", tunnel))
    refused = cloudflared("vnet", "delete", "lab")
    assert refused.code != 0 and "still has 1 route" in refused.err
    assert {v.name for v in target.controller().list_virtual_networks()} == {"default", "lab"}
    ok(cloudflared("vnet", "delete", "--force", "lab"))
    ctl = target.controller()
    assert {v.name for v in ctl.list_virtual_networks()} == {"default"}
    assert list(ctl.list_routes()) == []


# -- routes ----------------------------------------------------------------------------------------
def test_route_ip_add_show_get_delete(cloudflared, target: Target) -> None:
    office, lab_tunnel = target.create_tunnel("office"), target.create_tunnel("lab-tunnel")
    ok(cloudflared("vnet", "add", "lab"))
    ok(cloudflared("route", "ip", "add", "10.0.0.0/16", office, "whole office"))
    ok(cloudflared("route", "ip", "add", "10.0.5.0/24", lab_tunnel))
    added = ok(cloudflared("route", "ip", "add", "--vnet", "lab", "10.0.0.0/16", lab_tunnel, "lab copy"))
    assert "Successfully added route for 10.0.0.0/16" in added.out
    ok(cloudflared("route", "ip", "add", "fd00:1::/48", office))

    vnet_names = {v["id"]: v["name"] for v in ok(cloudflared("vnet", "list", "-o", "json")).json()}
    lab_id = next(i for i, name in vnet_names.items() if name == "lab")
    shown = ok(cloudflared("route", "ip", "show", "-o", "json")).json()
    assert sorted((r["network"], r["tunnel_name"], vnet_names[r["virtual_network_id"]]) for r in shown) == sorted([
        ("10.0.0.0/16", "office", "default"), ("10.0.5.0/24", "lab-tunnel", "default"),
        ("10.0.0.0/16", "lab-tunnel", "lab"), ("fd00:1::/48", "office", "default")])

    def networks(*flags: str) -> list[tuple[str, str]]:
        return sorted((r["network"], vnet_names[r["virtual_network_id"]])
                      for r in ok(cloudflared("route", "ip", "show", *flags, "-o", "json")).json() or [])

    assert networks("--filter-vnet-id", lab_id) == [("10.0.0.0/16", "lab")]
    assert networks("--filter-tunnel-id", lab_tunnel) == [("10.0.0.0/16", "lab"), ("10.0.5.0/24", "default")]
    # cloudflared's own slip: --nsub sends network_superset too (cfapi/ip_route_filter.go calls
    # NetworkIsSupersetOf for both flags), so it shows the routes that contain the network
    assert networks("--nsub", "10.0.4.0/22") == [("10.0.0.0/16", "default"), ("10.0.0.0/16", "lab")]
    assert networks("--nsup", "10.0.5.7/32") == [("10.0.0.0/16", "default"), ("10.0.0.0/16", "lab"),
                                                 ("10.0.5.0/24", "default")]
    assert networks("--filter-comment-is", "lab copy") == [("10.0.0.0/16", "lab")]
    assert networks("--filter-is-deleted") == []
    table = ok(cloudflared("route", "ip", "show")).out
    assert "whole office" in table and "fd00:1::/48" in table

    got = ok(cloudflared("route", "ip", "get", "10.0.5.9"))
    assert "10.0.5.0/24" in got.out and "lab-tunnel" in got.out  # longest prefix in the default vnet
    got = ok(cloudflared("route", "ip", "get", "--vnet", "lab", "10.0.5.9"))
    assert "10.0.0.0/16" in got.out and "lab-tunnel" in got.out
    missing = cloudflared("route", "ip", "get", "192.0.2.1")
    assert missing.code != 0 and "no route covers 192.0.2.1" in missing.err

    ok(cloudflared("route", "ip", "delete", "--vnet", "lab", "10.0.0.0/16"))
    assert networks("--filter-vnet-id", lab_id) == []
    route_id = next(r["id"] for r in shown if r["network"] == "fd00:1::/48")
    ok(cloudflared("route", "ip", "delete", route_id))
    assert networks() == [("10.0.0.0/16", "default"), ("10.0.5.0/24", "default")]
    deleted = networks("--filter-is-deleted")
    assert deleted == [("10.0.0.0/16", "lab"), ("fd00:1::/48", "default")]
    live = sorted(r.network for r in target.controller().list_routes())
    assert live == ["10.0.0.0/16", "10.0.5.0/24"]


def test_route_ip_add_refusals_leave_the_table_as_it_was(cloudflared, target: Target) -> None:
    office = target.create_tunnel("office")
    ok(cloudflared("route", "ip", "add", "10.7.0.0/24", office))
    duplicate = cloudflared("route", "ip", "add", "10.7.0.0/24", office)
    assert duplicate.code != 0
    by_name = cloudflared("route", "ip", "add", "10.8.0.0/24", "office")  # a name: looked up on cfd_tunnel
    assert by_name.code != 0 and "Invalid tunnel" in by_name.err
    unknown_vnet = cloudflared("route", "ip", "add", "--vnet", "nope", "10.9.0.0/24", office)
    assert unknown_vnet.code != 0
    assert [r.network for r in target.controller().list_routes()] == ["10.7.0.0/24"]


def test_route_ip_show_reads_every_page(cloudflared, target: Target) -> None:
    """More routes than one page of cloudflared's listing: each is shown exactly once."""
    ctl = target.controller()
    tunnel = target.create_tunnel("many")
    made = {f"10.{64 + i // 256}.{i % 256}.0/24" for i in range(1200)}
    from warpcli.core.controller import RouteSpec

    default = ctl.list_virtual_networks(is_default=True)[0].id
    ctl.import_routes(RouteSpec(parse_network(n), tunnel, default, "", i) for i, n in enumerate(sorted(made)))
    shown = ok(cloudflared("route", "ip", "show", "--filter-tunnel-id", tunnel, "-o", "json")).json()
    assert len(shown) == len(made) and {r["network"] for r in shown} == made
