"""`apply` under failure and concurrency (issue 15).

- Cloudflare dialect (the contract-checked stand-in, real HTTP): a failure injected
  midway is undone, and what cannot be undone is listed exactly; a plan costs one
  request per list page, not one per object.
- Embedded controller: the whole apply is one transaction: a failure leaves the file
  (and the secret store) as it was; a concurrent reader sees before or after; a
  concurrent `route add` lands before or after, never in between.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from tests.cfstub.fixtures import cf_api  # noqa: F401
from tests.conftest import Paths, dump_state
from tests.test_cloudflare_faults import client_for
from warpcli.core import apply as planner
from warpcli.core.cidr import parse_network
from warpcli.core.controller import RouteSpec
from warpcli.core.errors import AuthError, NotFound, StateError
from warpcli.core.netfile import parse

WAIT = 60  # seconds: a bound on waiting for the other thread, never a synchronisation sleep


def state_of(ctrl) -> dict:
    return planner.export_document(planner.read_state(ctrl))


def seed(ctrl) -> None:
    """Tunnels office, gone; vnets default, old; a route in each vnet."""
    office = ctrl.create_tunnel("office")
    gone = ctrl.create_tunnel("gone")
    old = ctrl.create_virtual_network("old", comment="to prune")
    ctrl.create_route(parse_network("10.0.0.0/24"), office.id, comment="keep me")
    ctrl.create_route(parse_network("10.9.0.0/16"), gone.id, virtual_network_id=old.id)


TARGET = """
vnets = [{ name = "default", default = true }, { name = "blue", comment = "new" }]
tunnels = [{ name = "office" }, { name = "lab" }]
routes = [
  { network = "10.0.0.0/24", tunnel = "lab", vnet = "default", comment = "moved" },
  { network = "10.1.0.0/24", tunnel = "lab", vnet = "blue" },
]
"""


# -- Cloudflare dialect: undo --------------------------------------------------------------------
def test_a_failure_midway_on_cloudflare_is_undone(cf_api) -> None:
    ctrl = client_for(cf_api)
    seed(ctrl)
    before = state_of(cf_api.controller())
    # the first delete fails: every create and update made so far must be undone
    cf_api.faults.respond("DELETE", r"/teamnet/routes/[0-9a-f-]+$", status=403,
                          errors=[{"code": 10000, "message": "Authentication error"}])
    with pytest.raises(AuthError) as info:
        planner.apply(ctrl, parse(TARGET), prune=True)
    msg = str(info.value)
    assert "apply stopped at `- route 10.9.0.0/16 in old via gone`; 5 change(s) undone)" in msg, msg
    assert info.value.apply_report["not_undone"] == []
    assert info.value.apply_report["undone"] == [
        "+ route 10.1.0.0/24 in blue via lab",
        '~ route 10.0.0.0/24 in default: tunnel "office" -> "lab", comment "keep me" -> "moved"',
        "+ tunnel lab",
        '~ vnet default: comment "created with the state" -> ""',
        '+ vnet blue comment "new"',
    ]
    assert state_of(cf_api.controller()) == before
    ctrl.close()


def test_what_cannot_be_undone_is_listed_exactly(cf_api) -> None:
    ctrl = client_for(cf_api)
    seed(ctrl)
    before = state_of(cf_api.controller())
    # the last step (deleting vnet 'old') fails after a route and a tunnel were deleted
    cf_api.faults.respond("DELETE", r"/teamnet/virtual_networks/", status=403,
                          errors=[{"code": 10000, "message": "Authentication error"}])
    with pytest.raises(AuthError) as info:
        planner.apply(ctrl, parse(TARGET), prune=True)
    left = info.value.apply_report["not_undone"]
    assert left == [
        "- tunnel gone (a deleted tunnel cannot be brought back (its id and token are gone))",
        "- route 10.9.0.0/16 in old via gone (the tunnel 'gone' no longer exists)",
    ]
    assert "2 could not be undone: " in str(info.value)
    after = state_of(cf_api.controller())
    # exactly those two differ from before
    assert after["tunnels"] == [t for t in before["tunnels"] if t["name"] != "gone"]
    assert after["routes"] == [r for r in before["routes"] if r["tunnel"] != "gone"]
    assert after["vnets"] == before["vnets"]
    ctrl.close()


@pytest.mark.parametrize("n", [10, 2500])
def test_a_plan_costs_one_request_per_list_page(cf_api, n: int) -> None:
    local = cf_api.controller()
    t = local.create_tunnel("office")
    vid = local.list_virtual_networks(is_default=True)[0].id
    local.import_routes(RouteSpec(parse_network(f"10.{i // 256}.{i % 256}.0/24"), t.id, vid, row=i)
                        for i in range(n))
    text = "".join(planner_export(local))
    ctrl = client_for(cf_api)
    cf_api.clear_requests()
    outcome = planner.apply(ctrl, parse(text), dry_run=True)
    assert not outcome.plan.pending
    seen = [(r.method, r.api_path.split("/")[-1]) for r in cf_api.requests if "/accounts/" in r.path]
    pages = math.ceil(n / 1000) + (n % 1000 == 0)
    assert seen == [("GET", "virtual_networks"), ("GET", "warp_connector")] + [("GET", "routes")] * pages
    ctrl.close()


def planner_export(ctrl):
    from warpcli.core.netfile import dump_toml

    return dump_toml(state_of(ctrl))


# -- the embedded controller: one transaction ------------------------------------------------------
def local(paths: Paths):
    from warpcli.controllers import open_controller
    from warpcli.core.settings import load_settings

    return open_controller(load_settings())


def secrets_json(paths: Paths) -> dict:
    f = paths.state / "secrets.json"
    return json.loads(f.read_text()) if f.exists() else {}


def test_a_failure_midway_leaves_the_embedded_state_and_secrets_as_they_were(
        paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    ctrl = local(paths)
    seed(ctrl)
    before, tokens = dump_state(paths.state), secrets_json(paths)
    assert len(tokens) == 2
    real = type(ctrl).delete_virtual_network

    def failing(self, vnet_id, *, force=False):  # the last step fails, after a tunnel was deleted
        real(self, vnet_id, force=force)
        raise StateError("disk full (injected)")

    monkeypatch.setattr(type(ctrl), "delete_virtual_network", failing)
    with pytest.raises(StateError) as info:
        planner.apply(ctrl, parse(TARGET), prune=True)
    assert str(info.value) == ('disk full (injected) (apply stopped at `- vnet old comment "to prune"`; '
                               "nothing was changed)")
    assert dump_state(paths.state) == before
    assert secrets_json(paths) == tokens  # 'lab' made no token that stays; 'gone' keeps its token
    monkeypatch.undo()
    outcome = planner.apply(ctrl, parse(TARGET), prune=True)
    assert outcome.applied and outcome.atomic
    assert sorted(secrets_json(paths)) == sorted(
        f"tunnel-token:{t.id}" for t in ctrl.list_tunnels())  # 'gone' went with its tunnel
    ctrl.close()


def test_a_concurrent_route_add_lands_before_or_after_never_between(paths: Paths, monkeypatch) -> None:
    """The apply is held after its first route; meanwhile another connection reads the
    old state and its `route add` waits; once the apply commits, the add goes in after it."""
    monkeypatch.setenv("WARPCLI_LOCK_TIMEOUT", str(WAIT))
    ctrl = local(paths)
    seed(ctrl)
    before = state_of(ctrl)
    other = local(paths)
    first_route_made, go_on = threading.Event(), threading.Event()
    real = type(ctrl).create_route
    calls = []

    def held(self, *args, **kw):
        r = real(self, *args, **kw)
        calls.append(r)
        if self is ctrl and len(calls) == 1:
            first_route_made.set()
            assert go_on.wait(WAIT)
        return r

    monkeypatch.setattr(type(ctrl), "create_route", held)
    errors: list[BaseException] = []
    applier = threading.Thread(target=lambda: _run(errors, planner.apply, ctrl, parse(TARGET), prune=True))
    applier.start()
    assert first_route_made.wait(WAIT)
    assert state_of(other) == before  # a reader sees the state before, not half an apply
    # the apply (with --prune) deletes tunnel 'gone'; an add through it waits for the lock
    gone = other.list_tunnels(name="gone")[0]
    adder = threading.Thread(target=lambda: _run(errors, other.create_route, parse_network("10.200.0.0/24"), gone.id))
    adder.start()
    go_on.set()
    applier.join(WAIT)
    adder.join(WAIT)
    assert not applier.is_alive() and not adder.is_alive()
    # the add ran after the whole apply: its tunnel was gone by then
    assert len(errors) == 1 and isinstance(errors[0], NotFound), errors
    after = state_of(other)
    assert {(r["vnet"], r["network"], r["tunnel"]) for r in after["routes"]} == {
        ("default", "10.0.0.0/24", "lab"), ("blue", "10.1.0.0/24", "lab")}
    ctrl.close()
    other.close()


def _run(errors: list, fn, *args, **kw) -> None:
    try:
        fn(*args, **kw)
    except BaseException as exc:
        errors.append(exc)


def test_a_concurrent_writer_waits_for_the_whole_apply(paths: Paths, tmp_path: Path, sh) -> None:
    """Real processes: `route add` started while an apply holds the lock either fails with
    "locked" (exit 5, nothing half-done) or lands after; the table is never a mix."""
    ctrl = local(paths)
    seed(ctrl)
    ctrl.close()
    n = 400
    lines = ",\n".join(f'  {{ network = "10.{100 + i // 256}.{i % 256}.0/24", tunnel = "office" }}' for i in range(n))
    f = tmp_path / "big.toml"
    f.write_text(f"routes = [\n{lines}\n]\n")
    import subprocess

    from tests.conftest import WARPCLI

    applier = subprocess.Popen([WARPCLI, "apply", "-f", str(f)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    add = sh("route", "add", "10.100.0.0/24", "--tunnel", "gone")  # the apply's first network
    assert applier.wait(WAIT) == 0, applier.stderr.read()
    applier.stderr.close()
    ctrl = local(paths)
    routes = {(r.network, r.tunnel_name) for r in ctrl.list_routes()}
    ctrl.close()
    if add.exit_code == 0:  # it went first: the apply then updated it to the file's tunnel
        assert ("10.100.0.0/24", "office") in routes
    else:  # it came after the apply (conflict: the apply made it) or gave up on the lock
        assert add.exit_code in (4, 5), add.stderr
    assert sum(1 for net, _ in routes if net.startswith("10.1") and net.endswith(".0/24") and
               net.split(".")[1] in ("100", "101")) == n


def test_prune_keeps_a_vnet_with_a_hub_or_connectors_unless_forced(paths: Paths) -> None:
    ctrl = local(paths)
    seed(ctrl)
    old = ctrl.list_virtual_networks(name="old")[0]
    gone = ctrl.list_tunnels(name="gone")[0]
    ctrl.register_hub("hubkey=", "192.0.2.1:51820", virtual_network_id=old.id)
    ctrl.register_connector(gone.id, "connkey=", virtual_network_id=old.id)
    target = parse('vnets = [{ name = "default" }]\ntunnels = [{ name = "office" }]\n'
                   'routes = [{ network = "10.0.0.0/24", tunnel = "office", comment = "keep me" }]\n')
    p = planner.apply(ctrl, target, prune=True).plan
    assert p.lines() == [
        '~ vnet default: comment "created with the state" -> ""',
        "- route 10.9.0.0/16 in old via gone",
        "! tunnel gone: not deleted, it has 1 connector(s); --force deletes it",
        "! vnet old: not deleted, it has 1 connector(s); --force deletes it",
    ]
    ctrl.delete_connector(ctrl.list_connectors()[0].id)
    p = planner.apply(ctrl, target, prune=True).plan
    assert p.lines() == ["- tunnel gone", "! vnet old: not deleted, it has a hub; --force deletes it"]
    p = planner.apply(ctrl, target, prune=True, force=True).plan
    assert p.lines() == ['- vnet old comment "to prune"']
    assert [v.name for v in ctrl.list_virtual_networks()] == ["default"]
    ctrl.close()


def test_prune_reads_connectors_whenever_it_would_delete_a_tunnel(paths: Paths) -> None:
    """As many tunnels in the file as on the controller, but other ones: the old ones are still checked."""
    ctrl = local(paths)
    edge = ctrl.create_tunnel("edge")
    ctrl.register_connector(edge.id, "connkey=")
    p = planner.apply(ctrl, parse('vnets = [{ name = "default" }]\ntunnels = [{ name = "other" }]\n'),
                      prune=True).plan
    assert p.lines() == ['~ vnet default: comment "created with the state" -> ""', "+ tunnel other",
                         "! tunnel edge: not deleted, it has 1 connector(s); --force deletes it"]
    assert {t.name for t in ctrl.list_tunnels()} == {"edge", "other"}
    ctrl.close()
