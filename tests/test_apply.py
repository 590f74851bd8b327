"""`warpcli export` and `warpcli apply` on every controller (issue 15).

Each test runs three times (tests/conftest.py ``backend``): on the embedded controller,
through the Cloudflare client against the contract-checked stand-in, and against a real
``warpcli controller serve``. "Nothing changed" is checked on the state database itself.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Paths, dump_state
from tests.test_apply_plan import VALIDATOR, documents
from warpcli.cli.exit_codes import ExitCode
from warpcli.core.netfile import dump_toml

pytestmark = pytest.mark.usefixtures("backend")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "network.toml"


@pytest.fixture
def seeded(cli):
    for args in (("tunnel", "create", "office"), ("tunnel", "create", "lab"),
                 ("vnet", "add", "staging", "--comment", "lab copy"),
                 ("route", "add", "10.0.0.0/24", "--tunnel", "office", "--comment", "branch"),
                 ("route", "add", "10.0.0.0/16", "--tunnel", "lab"),
                 ("route", "add", "10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging"),
                 ("route", "add", "2001:db8::/32", "--tunnel", "lab", "--vnet", "staging", "--comment", 'v6 "q"')):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
    return cli


def export_doc(cli) -> dict:
    r = cli("export", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def write(tmp_path: Path, text: str, name: str = "net.toml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# -- export -------------------------------------------------------------------------------------
def test_export_is_the_whole_state_by_name_without_secrets(seeded, tmp_path: Path) -> None:
    cli = seeded
    r = cli("export")
    assert r.exit_code == 0, r.stderr
    doc = tomllib.loads(r.stdout)
    assert VALIDATOR.is_valid(doc)
    assert "policies" not in doc  # none to write: no [[policies]] table (the JSON says [])
    assert doc | {"policies": []} == export_doc(cli) | {"vnets": [
        {k: v for k, v in vn.items() if v not in ("", False)} for vn in export_doc(cli)["vnets"]],
        "routes": [{k: v for k, v in rt.items() if v != ""} for rt in export_doc(cli)["routes"]]}
    assert [v["name"] for v in doc["vnets"]] == ["default", "staging"]
    assert doc["vnets"][0]["default"] is True and doc["vnets"][1]["comment"] == "lab copy"
    assert [t["name"] for t in doc["tunnels"]] == ["lab", "office"]
    assert [(x["vnet"], x["network"], x["tunnel"], x.get("comment", "")) for x in doc["routes"]] == [
        ("default", "10.0.0.0/16", "lab", ""), ("default", "10.0.0.0/24", "office", "branch"),
        ("staging", "10.0.0.0/24", "lab", ""), ("staging", "2001:db8::/32", "lab", 'v6 "q"')]
    token = cli("tunnel", "token", "office").stdout.strip()
    assert token and token not in r.stdout and '"id"' not in r.stdout
    ids = [t["id"] for t in json.loads(cli("tunnel", "list", "--json").stdout)]
    assert not any(i in r.stdout for i in ids)
    # a file, written atomically; --format csv is `routes export`
    out = tmp_path / "net.toml"
    assert cli("export", str(out)).exit_code == 0 and out.read_text() == r.stdout
    assert cli("export", "--format", "csv").stdout == cli("routes", "export").stdout
    assert cli("export", "--format", "jsonl").stdout == cli("routes", "export", "--format", "jsonl").stdout


# -- apply ------------------------------------------------------------------------------------------
def test_apply_of_an_export_is_no_changes(seeded, paths: Paths, tmp_path: Path) -> None:
    cli = seeded
    f = write(tmp_path, cli("export").stdout)
    before = dump_state(paths.state)
    for args in (("--dry-run",), (), ("--prune",), ("--prune", "--dry-run")):
        r = cli("apply", "-f", f, *args)
        assert r.exit_code == 0, r.stderr
        assert r.stdout == "no changes\n"
    assert dump_state(paths.state) == before


def test_dry_run_shows_the_plan_exits_10_and_changes_nothing(seeded, paths: Paths, tmp_path: Path) -> None:
    cli = seeded
    doc = tomllib.loads(cli("export").stdout)
    doc["vnets"][1]["comment"] = "renamed"
    doc["tunnels"].append({"name": "dc"})
    doc["routes"][1]["tunnel"] = "lab"  # 10.0.0.0/24 in default: office -> lab
    doc["routes"].append({"network": "10.9.0.0/16", "tunnel": "dc"})
    del doc["routes"][0]  # 10.0.0.0/16: deleted only with --prune
    f = write(tmp_path, "".join(dump_toml({"vnets": [], "tunnels": [], "routes": [], **_full(doc)})))
    before = dump_state(paths.state)
    r = cli("apply", "-f", f, "--dry-run")
    assert r.exit_code == ExitCode.CHANGES_PENDING == 10, r.stderr
    assert r.stdout.splitlines() == [
        '~ vnet staging: comment "lab copy" -> "renamed"',
        "+ tunnel dc",
        '~ route 10.0.0.0/24 in default: tunnel "office" -> "lab"',
        "+ route 10.9.0.0/16 in default via dc",
    ]
    assert "dry run: 2 to create, 2 to update, 0 to delete; nothing was changed" in r.stderr
    r = cli("apply", "-f", f, "--dry-run", "--prune", "--json")
    assert r.exit_code == 10
    plan = json.loads(r.stdout)
    assert plan["applied"] is False and plan["pending"] is True and plan["changed"] is False
    assert plan["summary"] == {"create": 2, "update": 2, "delete": 1, "keep": 0}
    assert [(c["action"], c["kind"], c["name"], c["vnet"]) for c in plan["changes"][-1:]] == [
        ("delete", "route", "10.0.0.0/16", "default")]
    assert dump_state(paths.state) == before

    r = cli("apply", "-f", f)
    assert r.exit_code == 0, r.stderr
    assert "applied: 2 created, 2 updated, 0 deleted" in r.stderr
    r = cli("apply", "-f", f)
    assert (r.exit_code, r.stdout) == (0, "no changes\n")
    assert "10.0.0.0/16" in cli("routes").stdout  # not pruned
    r = cli("apply", "-f", f, "--prune", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["summary"] == {"create": 0, "update": 0, "delete": 1, "keep": 0}
    assert json.loads(r.stdout)["changed"] is True
    assert _full(export_doc(cli)) == _full(doc)
    assert cli("apply", "-f", f, "--prune", "--dry-run").exit_code == 0


def _full(doc: dict) -> dict:
    """A document with every optional field spelled out, the routes' default vnet resolved."""
    default = next((v["name"] for v in doc["vnets"] if v.get("default")), "default")
    return {
        "version": 1,
        "vnets": sorted(({"name": v["name"], "comment": v.get("comment", ""), "default": bool(v.get("default"))}
                         for v in doc["vnets"]), key=lambda v: (not v["default"], v["name"])),
        "tunnels": sorted(doc["tunnels"], key=lambda t: t["name"]),
        "routes": sorted(({"network": r["network"], "tunnel": r["tunnel"], "vnet": r.get("vnet") or default,
                           "comment": r.get("comment", "")} for r in doc["routes"]),
                         key=lambda r: (r["vnet"] != default, r["vnet"], _net(r["network"]))),
        "policies": sorted(({"vnet": p.get("vnet") or default, "default": p.get("default", "allow"),
                             "rules": [_rule(r) for r in p.get("rules", [])]}
                            for p in doc.get("policies", []) if p.get("default") == "deny" or p.get("rules")),
                           key=lambda p: (p["vnet"] != default, p["vnet"])),
    }


def _rule(r: dict) -> dict:
    """A rule as export writes it (only what differs from the defaults, a port as a number)."""
    from tests.test_apply_plan import rule_spec
    from warpcli.core.apply import _rule_doc

    return _rule_doc(rule_spec(r))


def _net(text: str):
    from warpcli.core.cidr import parse_network

    return parse_network(text)


def test_stdin_and_the_example_file(cli, paths: Paths) -> None:
    text = EXAMPLE.read_text()
    r = cli("apply", "-f", "-", input=text)
    assert r.exit_code == 0, r.stderr
    assert "applied: 11 created, 1 updated, 0 deleted" in r.stderr  # the policy too
    r = cli("apply", "-f", str(EXAMPLE), "--dry-run")
    assert (r.exit_code, r.stdout) == (0, "no changes\n")
    assert _full(export_doc(cli)) == _full(tomllib.loads(text))


def test_prune_keeps_the_default_vnet_unless_forced(seeded, tmp_path: Path) -> None:
    cli = seeded
    f = write(tmp_path, 'vnets = [{ name = "blue", default = true }]\ntunnels = [{ name = "lab" }]\n')
    r = cli("apply", "-f", f, "--prune", "--dry-run")
    assert r.exit_code == 10, r.stderr
    assert r.stdout.splitlines()[-1] == ("! vnet default: not deleted, it is the default virtual network; "
                                         "--force deletes it")
    r = cli("apply", "-f", f, "--prune")
    assert r.exit_code == 0, r.stderr
    assert [v["name"] for v in export_doc(cli)["vnets"]] == ["blue", "default"]
    r = cli("apply", "-f", f, "--prune", "--force")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("- vnet default") and len(r.stdout.splitlines()) == 1
    assert export_doc(cli) == {"version": 1, "vnets": [{"name": "blue", "comment": "", "default": True}],
                               "tunnels": [{"name": "lab"}], "routes": [], "policies": []}


# -- bad files: one line each, with the location; nothing changed ---------------------------------
BAD_FILES = {
    "syntax": ('routes = [\n  { network = "10.0.0.0/8", tunnel = "lab" ,, },\n]\n', ":2: TOML syntax"),
    "unknown key": ('tunnels = [{ name = "lab" }]\n\n[[routes]]\nnetwork = "10.0.0.0/8"\ntunnel = "lab"\nvia = "x"\n',
                    ":3: routes[0] 10.0.0.0/8: unknown key(s) via; expected network, tunnel, vnet, comment"),
    "duplicate": ('tunnels = [{ name = "lab" }, { name = "office" }]\nroutes = [\n'
                  '  { network = "10.5.0.0/16", tunnel = "lab" },\n'
                  '  { network = "10.5.0.0/16", tunnel = "office", vnet = "default" },\n]\n',
                  ":4: routes[1] 10.5.0.0/16: duplicate of line 3 (the same network in 'default')"),
    "host bits": ('routes = [{ network = "10.5.0.1/16", tunnel = "lab" }]\n', ":1: routes[0] 10.5.0.1/16: "),
    "unknown tunnel": ('\n\nroutes = [{ network = "10.5.0.0/16", tunnel = "nope" }]\n',
                       ":3: routes[0] 10.5.0.0/16: unknown tunnel 'nope'"),
    "pruned vnet": ('vnets = [{ name = "default" }]\ntunnels = [{ name = "lab" }]\n'
                    'routes = [{ network = "10.5.0.0/16", tunnel = "lab", vnet = "staging" }]\n',
                    ":3: routes[0] 10.5.0.0/16: virtual network 'staging' is not in the file, so --prune deletes it"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_per_entry_with_its_location_and_changes_nothing(
        seeded, paths: Paths, tmp_path: Path, case: str) -> None:
    cli = seeded
    text, expect = BAD_FILES[case]
    f = write(tmp_path, text)
    before = dump_state(paths.state)
    r = cli("apply", "-f", f, "--prune")
    assert r.exit_code == ExitCode.USAGE, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert lines[0] == f"warpcli: error: {f}: 1 bad entry; nothing was changed"
    assert len(lines) == 2 and lines[1].startswith(f"  {f}{expect}"), lines
    assert "Traceback" not in r.stderr and r.stdout == ""
    r = cli("apply", "-f", f, "--prune", "--json")
    assert r.exit_code == 2
    report = json.loads(r.stdout)
    assert report["problems"][0]["file"] == f and report["problems"][0]["line"] == int(expect.split(":")[1])
    assert dump_state(paths.state) == before


def test_every_bad_entry_at_once(seeded, paths: Paths, tmp_path: Path) -> None:
    cli = seeded
    f = write(tmp_path, 'tunnels = [{ name = "new" }]\nroutes = [\n  { network = "10.0.0.1/8", tunnel = "lab" },\n'
                        '  { network = "10.6.0.0/16", tunnel = "gone" },\n  { network = "10.7.0.0/16" },\n]\n')
    before = dump_state(paths.state)
    r = cli("apply", "-f", f)
    assert r.exit_code == 2
    assert [line.split(": ")[0] for line in r.stderr.splitlines()[1:]] == [f"  {f}:{n}" for n in (3, 4, 5)]
    assert dump_state(paths.state) == before


def test_unreadable_input_is_one_line(cli, tmp_path: Path) -> None:
    r = cli("apply", "-f", str(tmp_path / "missing.toml"))
    assert r.exit_code == 2 and r.stderr.startswith("warpcli: error: cannot read ") and len(r.stderr.splitlines()) == 1
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'# caf\xe9\n')
    r = cli("apply", "-f", str(bad))
    assert r.exit_code == 2 and "is not UTF-8 text" in r.stderr
    r = cli("apply", "-f", str(bad), "--force")
    assert r.exit_code == 2 and r.stderr == "warpcli: error: --force goes with --prune (it lets --prune delete more)\n"
    r = cli("export", "--format", "yaml")
    assert r.exit_code == 2 and "--format 'yaml'" in r.stderr


# -- the properties, on every controller ------------------------------------------------------------
def open_ctrl():
    from warpcli.controllers import open_controller
    from warpcli.core.settings import load_settings

    return open_controller(load_settings())


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(a=documents(), b=documents(), prune=st.booleans())
def test_apply_then_export_is_the_file(paths: Paths, backend, a: dict, b: dict, prune: bool) -> None:
    """For generated A and B: apply A (pruning), then B; export is B (with --prune: exactly
    B); a dry run never changes the store; applying again says "no changes". Policies are
    part of the files, except through Cloudflare's API, whose Gateway mapping has its own
    tests (tests/test_policy_cloudflare.py: icmp and per-rule logs do not map)."""
    from warpcli.core import apply as planner
    from warpcli.core.netfile import parse

    def complete(doc: dict) -> dict:  # a whole state: a default vnet, every route's vnet named
        doc = json.loads(json.dumps(doc))
        if backend.name == "cloudflare":
            doc.pop("policies", None)
        if not any(v.get("default") for v in doc["vnets"]):
            if not any(v["name"] == "default" for v in doc["vnets"]):
                doc["vnets"].append({"name": "default"})
            next(v for v in doc["vnets"] if v["name"] == "default")["default"] = True
        for v in doc["vnets"]:
            if v.get("default") is False:
                del v["default"]
        default = next(v["name"] for v in doc["vnets"] if v.get("default"))
        routes = {(r.get("vnet") or default, r["network"]): r for r in doc["routes"]}
        doc["routes"] = list(routes.values())
        for pol in doc.get("policies", []):  # the default vnet's policy named once
            pol["vnet"] = pol.get("vnet") or default
        doc["policies"] = list({p["vnet"]: p for p in doc.get("policies", [])}.values())
        return doc

    a, b = complete(a), complete(b)
    with open_ctrl() as ctrl:
        planner.apply(ctrl, parse("".join(dump_toml(_full(a)))), prune=True, force=True)
        assert _full(planner.export_document(planner.read_state(ctrl, policies=True))) == _full(a)
        before = dump_state(paths.state)
        dry = planner.apply(ctrl, parse("".join(dump_toml(_full(b)))), prune=prune, force=True, dry_run=True)
        assert dump_state(paths.state) == before
        done = planner.apply(ctrl, parse("".join(dump_toml(_full(b)))), prune=prune, force=True)
        assert done.plan == dry.plan
        got = _full(planner.export_document(planner.read_state(ctrl, policies=True)))
        want = _full(b)
        if prune:
            assert got == want
        else:  # everything B says holds; what B does not name is as A left it
            assert all(v in got["vnets"] for v in want["vnets"] if not v["default"])
            assert all(t in got["tunnels"] for t in want["tunnels"])
            assert all(r in got["routes"] for r in want["routes"])
            assert all(p in got["policies"] for p in want["policies"])
        again = planner.apply(ctrl, parse("".join(dump_toml(_full(b)))), prune=prune, force=True)
        assert not again.plan.pending and again.plan.lines() == ["no changes"]


# -- the JSON shapes are the documented ones -----------------------------------------------------
def test_json_shapes_match_docs_json_md(seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_docs import _conforms, _field_tables

    cli = seeded
    tables = _field_tables()
    assert cli("policy", "add", "web", "--to", "10.0.0.0/24", "--proto", "tcp", "--port", "443",
               "--action", "allow").exit_code == 0
    doc = export_doc(cli)
    _conforms(doc, tables["Network file document"], "export --json")
    for section, heading in (("vnets", "Network file vnet"), ("tunnels", "Network file tunnel"),
                             ("routes", "Network file route"), ("policies", "Network file policy")):
        assert doc[section]
        for item in doc[section]:
            _conforms(item, tables[heading], f"export --json {section}")
    assert VALIDATOR.is_valid(doc)
    f = write(tmp_path, 'vnets = [{ name = "blue" }]\ntunnels = [{ name = "lab" }, { name = "edge" }]\nroutes = [\n'
                        '  { network = "10.0.0.0/24", tunnel = "lab" },\n  { network = "10.8.0.0/16", tunnel = "edge" },\n]\n')
    for args, code in ((("--dry-run", "--prune"), 10), (("--prune",), 0), ((), 0)):
        r = cli("apply", "-f", f, *args, "--json")
        assert r.exit_code == code, r.stderr
        result = json.loads(r.stdout)
        _conforms(result, tables["Apply result"], "apply --json")
        for change in result["changes"]:
            _conforms(change, tables["Plan change"], "apply --json change")
    assert {c["action"] for c in json.loads(cli("apply", "-f", f, "--json").stdout)["changes"]} == set()
    bad = write(tmp_path, 'routes = [{ network = "10.0.0.1/24", tunnel = "lab" }]\n', "bad.toml")
    r = cli("apply", "-f", bad, "--json")
    assert r.exit_code == 2
    report = json.loads(r.stdout)
    _conforms(report, tables["Apply error report"], "apply error report")
    _conforms(report["problems"][0], tables["Apply problem"], "apply problem")


def test_a_failure_midway_reports_what_was_undone(seeded, backend, tmp_path: Path) -> None:
    """Through the CLI: the error line, the failure report's shape, and the exit code of the failure."""
    from tests.test_docs import _conforms, _field_tables

    if backend.name != "cloudflare":
        pytest.skip("faults are injected into the Cloudflare stand-in (the embedded case: test_apply_atomic.py)")
    cli = seeded
    before = export_doc(cli)
    f = write(tmp_path, 'tunnels = [{ name = "lab" }, { name = "office" }, { name = "new" }]\n'
                        'routes = [{ network = "10.7.0.0/16", tunnel = "new" }]\n')
    backend.cf.faults.respond("DELETE", r"/teamnet/routes/[0-9a-f-]+$", status=403,
                              errors=[{"code": 10000, "message": "Authentication error"}])
    r = cli("apply", "-f", f, "--prune", "--json")
    assert r.exit_code == ExitCode.AUTH, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "apply stopped at `- route 10.0.0.0/16 in default via lab`; 2 change(s) undone)" \
        in lines[0], lines
    report = json.loads(r.stdout)
    _conforms(report, _field_tables()["Apply failure report"], "apply failure report")
    assert report["undone"] == ["+ route 10.7.0.0/16 in default via new", "+ tunnel new"]
    assert report["not_undone"] == []
    assert export_doc(cli) == before


# -- policies in the file (issue 21, item 7) ----------------------------------------------------
def test_policies_export_plan_apply_and_prune(seeded, paths: Paths, tmp_path: Path) -> None:
    cli = seeded
    for args in (("policy", "default", "deny"),
                 ("policy", "add", "ci", "--from", "lab", "--to", "10.0.0.5", "--proto", "tcp",
                  "--port", "443,8000-8080", "--action", "allow", "--comment", 'build "farm"')):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
    r = cli("export")
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert "[[policies]]" in text and "1 policy(ies)" in r.stderr
    doc = export_doc(cli)
    assert VALIDATOR.is_valid(doc), list(VALIDATOR.iter_errors(doc))
    assert doc["policies"] == [{"vnet": "default", "default": "deny", "rules": [
        {"name": "ci", "action": "allow", "sources": ["lab"], "destinations": ["10.0.0.5/32"], "protocol": "tcp",
         "ports": [443, "8000-8080"], "comment": 'build "farm"'}]}]
    assert tomllib.loads(text)["policies"] == doc["policies"]
    f = write(tmp_path, text)
    assert cli("apply", "-f", f, "--dry-run", "--prune").exit_code == 0  # an export plans to nothing

    # edited: the default action and one more rule; the plan names the change, a dry run keeps all
    edited = text.replace('default = "deny"', 'default = "allow"').replace(
        "rules = [\n", 'rules = [\n  { name = "dns", action = "deny", destinations = ["office"], protocol = "udp", '
                       'ports = [53] },\n')
    f2 = write(tmp_path, edited, "edited.toml")
    before = dump_state(paths.state)
    r = cli("apply", "-f", f2, "--dry-run")
    assert r.exit_code == ExitCode.CHANGES_PENDING, r.stderr
    assert r.stdout == '~ policy of default: default "deny" -> "allow"; rules +1 (2 in all)\n'
    assert dump_state(paths.state) == before
    r = cli("apply", "-f", f2, "--json")
    assert r.exit_code == 0, r.stderr
    (change,) = json.loads(r.stdout)["changes"]
    assert (change["action"], change["kind"], change["name"]) == ("update", "policy", "default")
    assert change["before"]["default"] == "deny" and [x["name"] for x in change["after"]["rules"]] == ["dns", "ci"]
    listed = json.loads(cli("policy", "list", "--json").stdout)
    assert listed["default"] == "allow" and [x["name"] for x in listed["rules"]] == ["dns", "ci"]
    assert cli("apply", "-f", f2).stdout == "no changes\n"

    # a file without policies: left alone unless --prune, which empties the policy
    bare = text[:text.index("[[policies]]")]
    f3 = write(tmp_path, bare, "bare.toml")
    assert cli("apply", "-f", f3, "--dry-run").exit_code == 0
    r = cli("apply", "-f", f3, "--prune", "--dry-run")
    assert r.exit_code == ExitCode.CHANGES_PENDING
    assert r.stdout == '- policy of default: default "allow", 2 rules (back to allow, no rules)\n'
    assert cli("apply", "-f", f3, "--prune").exit_code == 0
    listed = json.loads(cli("policy", "list", "--json").stdout)
    assert (listed["default"], listed["rules"]) == ("allow", [])


def test_a_bad_policy_in_a_file_is_one_line_per_rule_and_changes_nothing(seeded, paths: Paths,
                                                                         tmp_path: Path) -> None:
    cli = seeded
    f = write(tmp_path, """
[[policies]]
vnet = "staging"
default = "deny"
rules = [
  { name = "a", action = "allow", sources = ["nope"] },
  { name = "b", action = "allow", protocol = "icmp", ports = [1] },
  { name = "c", action = "allow", destinations = ["10.1.0.1/24"] },
  { name = "d", action = "permit" },
]

[[policies]]
vnet = "ghost"
""")
    before = dump_state(paths.state)
    r = cli("apply", "-f", f)
    assert r.exit_code == ExitCode.USAGE and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].endswith("4 bad entries; nothing was changed"), r.stderr
    assert [x.split(": ", 2)[0].rsplit(":", 1)[1] for x in lines[1:]] == ["7", "8", "9", "12"], r.stderr
    assert "'ports' needs 'protocol' tcp or udp" in lines[1] and "host bits" in lines[2]
    assert "unknown virtual network 'ghost'" in lines[4]
    assert dump_state(paths.state) == before
    f = write(tmp_path, '[[policies]]\nvnet = "staging"\nrules = [ { name = "a", action = "allow", sources = ["nope"] } ]\n',
              "b.toml")
    r = cli("apply", "-f", f)
    assert r.exit_code == ExitCode.USAGE and "b.toml:3: policies[0] staging: rules[0] a: unknown tunnel 'nope'" in r.stderr
    assert dump_state(paths.state) == before
