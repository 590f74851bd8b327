"""docs/commands.md and docs/json.md describe the real command tree and the real JSON.

The command tree is walked from the Typer app itself, so a new command, option or exit
code that is not documented fails here; the JSON field tables are checked against what
the commands actually print.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from warpcli.cli.app import app
from warpcli.cli.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parent.parent
COMMANDS_MD = ROOT / "docs" / "commands.md"
JSON_MD = ROOT / "docs" / "json.md"
HEADING = re.compile(r"^### `(warpcli[^`]*)`\s*$")


# -- the command tree ---------------------------------------------------------------
def _walk(cmd: Any, path: str = "warpcli") -> Iterator[tuple[str, Any]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _walk(sub, f"{path} {name}")


TREE = dict(_walk(typer.main.get_command(app)))


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def _runs_something(cmd: Any) -> bool:
    """A leaf, or a group that does its own work when called alone (``warpcli routes``)."""
    return not _is_group(cmd) or bool(getattr(cmd, "invoke_without_command", False))


def _sections(text: str) -> dict[str, str]:
    """"warpcli ..." -> the text under its "### `warpcli ...`" heading (up to the next heading)."""
    out: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        m = HEADING.match(line)
        if m:
            current = m.group(1)
            assert current not in out, f"docs/commands.md documents `{current}` twice"
            out[current] = ""
        elif line.startswith("#"):
            current = None
        elif current is not None:
            out[current] += line + "\n"
    return out


SECTIONS = _sections(COMMANDS_MD.read_text(encoding="utf-8"))


def test_the_tree_is_what_we_think() -> None:
    # a sanity check of the walk itself, so the tests below cannot pass vacuously
    assert {"warpcli tunnel create", "warpcli routes import", "warpcli config set", "warpcli version"} <= set(TREE)
    assert len(TREE) >= 20


def test_every_command_has_a_heading() -> None:
    missing = sorted(set(TREE) - set(SECTIONS))
    assert not missing, "docs/commands.md lacks a heading \"### `...`\" for: " + ", ".join(missing)


def test_no_heading_for_a_command_that_does_not_exist() -> None:
    stale = sorted(set(SECTIONS) - set(TREE))
    assert not stale, f"docs/commands.md documents commands that do not exist: {', '.join(stale)}"


@pytest.mark.parametrize("path", sorted(p for p, c in TREE.items() if _runs_something(c)))
def test_every_command_takes_json(path: str) -> None:
    opts = {o for p in TREE[path].params for o in getattr(p, "opts", [])}
    assert "--json" in opts, f"`{path}` has no --json option"


@pytest.mark.parametrize("path", sorted(TREE))
def test_every_option_and_argument_is_documented(path: str) -> None:
    section = SECTIONS.get(path, "")
    assert section.strip(), f"`{path}` has an empty section in docs/commands.md"
    for param in TREE[path].params:
        if param.name == "help":
            continue
        if param.param_type_name == "argument":
            assert param.name.upper() in section, f"`{path}`: argument {param.name.upper()} is not documented"
        else:
            long = [o for o in param.opts if o.startswith("--")]
            assert any(f"`{o}" in section for o in long), f"`{path}`: option {long} is not documented"


def _exit_code_rows() -> dict[int, str]:
    text = COMMANDS_MD.read_text(encoding="utf-8")
    part = text.split("## Exit codes", 1)
    assert len(part) == 2, 'docs/commands.md has no "## Exit codes" section'
    table = part[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| `(\w+)` \|", table, re.M)}


def test_every_exit_code_is_documented() -> None:
    rows = _exit_code_rows()
    for code in ExitCode:
        assert rows.get(int(code)) == code.name, f"exit code {int(code)} ({code.name}) is not in the Exit codes table"
    assert set(rows) == {int(c) for c in ExitCode}, "the Exit codes table lists codes the program does not use"


def test_json_md_names_every_command_with_json() -> None:
    text = JSON_MD.read_text(encoding="utf-8")
    for path, cmd in TREE.items():
        if _runs_something(cmd):
            assert f"| `{path}` |" in text, f"docs/json.md does not say what `{path} --json` prints"


# -- the JSON shapes ----------------------------------------------------------------
NoneType = type(None)
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "string or null": (str, NoneType),
    "boolean": (bool,),
    "integer": (int,),
    "integer or null": (int, NoneType),
    "number": (int, float),
    "number or null": (int, float, NoneType),
    "array": (list,),
    "object": (dict,),
    "object or null": (dict, NoneType),
}


def _field_tables() -> dict[str, dict[str, str]]:
    """Heading of docs/json.md -> {field: type} from its field table."""
    tables: dict[str, dict[str, str]] = {}
    heading = None
    for line in JSON_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        m = re.match(r"^\| `([a-z_]+)` \| ([^|]+?) \|", line)
        if m and heading:
            assert m.group(2) in TYPES, f"docs/json.md, {heading}: unknown type {m.group(2)!r}"
            tables.setdefault(heading, {})[m.group(1)] = m.group(2)
    return tables


def _conforms(obj: Any, fields: dict[str, str], what: str) -> None:
    assert isinstance(obj, dict), f"{what}: not an object: {obj!r}"
    assert set(obj) == set(fields), (
        f"{what}: the output has fields {sorted(obj)}, docs/json.md documents {sorted(fields)}"
    )
    for name, kind in fields.items():
        value = obj[name]
        ok = isinstance(value, TYPES[kind]) and not (isinstance(value, bool) and bool not in TYPES[kind])
        assert ok, f"{what}.{name} = {value!r} is not a {kind} as docs/json.md says"


def _json(r: Any) -> Any:
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout)


def _runner(cli):
    def ok(*args: str, code: int = 0, input: str | None = None) -> Any:
        r = cli(*args, "--json", input=input)
        assert r.exit_code == code, (args, r.stdout, r.stderr)
        return r

    return ok


def _controller_samples(cli, tmp_path: Path) -> dict[str, list[Any]]:
    """Every tunnel, vnet, route and routes command with --json over a small route table."""
    ok = _runner(cli)
    s: dict[str, list[Any]] = {}
    add = lambda heading, *objs: s.setdefault(heading, []).extend(objs)  # noqa: E731
    office = _json(ok("tunnel", "create", "office"))
    lab = _json(ok("tunnel", "create", "lab"))
    gone = _json(ok("tunnel", "create", "gone"))
    add("Tunnel", office, lab, gone, _json(ok("tunnel", "create", "lab", "--if-not-exists")))
    add("Tunnel", *_json(ok("tunnel", "list")))
    add("Tunnel details", _json(ok("tunnel", "show", "office")))
    add("Tunnel", _json(ok("tunnel", "delete", "gone")), *_json(ok("tunnel", "list", "--deleted")))
    token = _json(ok("tunnel", "token", "office"))
    add("Tunnel token", token)

    staging = _json(ok("vnet", "add", "staging", "--comment", "lab copy of prod"))
    scratch = _json(ok("vnet", "add", "scratch"))
    add("Virtual network", staging, scratch, *_json(ok("vnet", "list")))
    add("Virtual network", _json(ok("vnet", "update", "scratch", "--comment", "tmp")))
    add("Virtual network", _json(ok("vnet", "delete", "scratch")))

    for args in (
        ("10.0.0.0/24", "--tunnel", "office"),
        ("10.0.0.0/16", "--tunnel", "lab", "--comment", "whole lab"),
        ("10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging"),
        ("2001:db8::/48", "--tunnel", "lab"),
        ("192.0.2.0/24", "--tunnel", "lab"),
    ):
        add("Route", _json(ok("route", "add", *args)))
    add("Route", _json(ok("route", "delete", "192.0.2.0/24")))
    add("Route", *_json(ok("routes")), *_json(ok("routes", "--contains", "10.0.0.7")))

    one = _json(ok("route", "get", "10.0.0.7"))
    every = _json(ok("route", "get", "10.0.0.7", "--vnet", "all"))
    miss = _json(ok("route", "get", "2001:db9::1", code=int(ExitCode.NOT_FOUND)))
    assert miss["route"] is None
    add("Lookup result", one, *every, miss)
    add("Route", *(x["route"] for x in [one, *every]))

    report = _json(ok("routes", "--overlaps"))
    add("Overlap report", report)
    add("Nested group", *report["nested"])
    add("Route reference", *(g["outer"] for g in report["nested"]))
    add("Inner route reference", *(i for g in report["nested"] for i in g["inner"]))
    add("Shared CIDR", *report["shared"])
    add("Shared route reference", *(r for x in report["shared"] for r in x["routes"]))

    good = tmp_path / "good.csv"
    good.write_text("network,tunnel,vnet,comment\n10.9.0.0/24,lab,,imported\n10.9.1.0/24,office,staging,\n")
    add("Import result", _json(ok("routes", "import", str(good))))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"network": "10.8.0.1/24", "tunnel": "lab"}\n[1, 2]\n{"network": "10.9.0.0/24", "tunnel": "x"}\n')
    report_bad = _json(ok("routes", "import", str(bad), code=int(ExitCode.USAGE)))
    clash = tmp_path / "clash.csv"
    clash.write_text("10.0.0.0/24,lab,,\n")
    report_clash = _json(ok("routes", "import", str(clash), code=int(ExitCode.CONFLICT)))
    add("Import error report", report_bad, report_clash)
    add("Import problem", *report_bad["problems"], *report_clash["problems"])
    assert None in [p["network"] for p in report_bad["problems"]], "want a row that could not be read"

    export = cli("routes", "export", "--json")
    assert export.exit_code == 0, export.stderr
    add("Export row", *(json.loads(line) for line in export.stdout.splitlines()))
    s["_token"] = [token["token"]]
    return s


@pytest.fixture
def samples(cli, paths, tmp_path: Path) -> dict[str, list[Any]]:
    """Run every command with --json on the embedded controller; heading -> printed objects."""
    s = _controller_samples(cli, tmp_path)
    ok = _runner(cli)
    add = lambda heading, *objs: s.setdefault(heading, []).extend(objs)  # noqa: E731
    add("Connector config", _json(ok("enroll", "--tunnel", "office", "--interface", "wcdoc0")))
    add("Connector config", _json(ok("enroll", "--tunnel", "office")))
    listed = _json(ok("connector", "list"))
    add("Connector", *listed)
    add("Connector", _json(ok("connector", "list", "--tunnel", "office")))  # the array itself is checked below
    s["Connector"] = [c for c in s["Connector"] if isinstance(c, dict)]
    root = tmp_path / "root"
    root.mkdir()
    add("Install result", _json(ok("install", "--root", str(root), "--no-start")),
        _json(ok("install", "--root", str(root))))
    add("Uninstall result", _json(ok("uninstall", "--root", str(root))), _json(ok("uninstall", "--root", str(root))))
    add("Migration result", _json(ok("controller", "migrate", "--json")))
    copied = tmp_path / "copied"
    add("Copy result", _json(ok("controller", "copy", "--from", f"sqlite:///{paths.state}/state.db",
                                "--to", f"sqlite:///{copied}", "--json")))

    add("Policy", _json(ok("policy", "default", "deny")))
    add("Policy rule", _json(ok("policy", "add", "web", "--from", "office", "--to", "10.0.0.5", "--proto", "tcp",
                                "--port", "443,8000-8080", "--action", "allow", "--log")),
        _json(ok("policy", "add", "all", "--action", "allow")), _json(ok("policy", "add", "icmp", "--proto", "icmp",
                                                                        "--action", "deny", "--before", "web")))
    add("Policy", _json(ok("policy", "move", "all", "--before", "icmp")))
    listing = _json(ok("policy", "list"))
    add("Policy listing", listing)
    add("Listed policy rule", *listing["rules"])
    add("Policy test result", _json(ok("policy", "test", "--from", "10.0.0.7", "--to", "10.0.0.5:443/tcp")),
        _json(ok("policy", "delete", "all") and ok("policy", "test", "--from", "10.1.0.7", "--to", "10.0.0.5/icmp",
                 code=int(ExitCode.POLICY_DENIED))))
    add("Policy lint finding", *_json(ok("policy", "add", "web-again", "--from", "office", "--to", "10.0.0.5",
                                         "--proto", "tcp", "--port", "443", "--action", "deny") and ok("policy", "lint")))
    add("Policy rule", _json(ok("policy", "delete", "web")))
    assert s["Policy lint finding"] and s["Policy rule"][-1]["name"] == "web"
    add("Settings", _json(ok("config", "show")))
    add("Version", _json(ok("version")))
    add("New API token", _json(ok("controller", "token", "create", "--name", "ci")))
    add("API token", *_json(ok("controller", "token", "list")), _json(ok("controller", "token", "revoke", "ci")),
        *_json(ok("controller", "token", "list", "--all")))
    s["_config_file"] = [_json(ok("config", "set", "lock_timeout", "30")), _json(ok("config", "unset", "lock_timeout"))]
    return s


@pytest.fixture
def cf_samples(cli, paths, tmp_path: Path, backend, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The same commands through the Cloudflare client, plus `auth`; heading -> printed objects."""
    assert backend.name == "cloudflare"
    s = _controller_samples(cli, tmp_path)
    ok = _runner(cli)
    add = lambda heading, *objs: s.setdefault(heading, []).extend(objs)  # noqa: E731
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    add("Auth status", _json(ok("auth", "status", code=int(ExitCode.AUTH))))
    add("Auth login result", _json(ok("auth", "login", input=backend.cf.token + "\n")))
    add("Auth status", _json(ok("auth", "status")))
    add("Auth logout result", _json(ok("auth", "logout")), _json(ok("auth", "logout")))
    s["_api_token"] = [backend.cf.token]
    return s


#: shapes printed by commands that need root and namespaces: tests/host/test_site_to_site.py and
#: tests/host/test_warp_enroll.py check them
HOST_SHAPES = {"Local route", "Up result", "Down result", "Status report", "Hub result", "Hub down result", "Hub",
               "Warp enrollment", "HA report", "Handover result",  # these two: tests/host/test_ha.py
               "Hub view", "Hub peer"}  # tests/host/test_hub_ha.py
#: shapes only the cloudflare controller's commands print: checked by the test below on cf_samples
CF_SHAPES = {"Auth login result", "Auth logout result", "Auth status"}
#: what `controller serve --json` prints once listening: tests/test_controller_serve.py checks it
SERVE_SHAPES = {"Controller server"}
#: `export --json` and `apply --json`: tests/test_apply.py checks them on every controller
APPLY_SHAPES = {"Network file document", "Network file vnet", "Network file tunnel", "Network file route",
                "Network file policy", "Apply result", "Plan change", "Apply error report", "Apply problem", "Apply failure report"}


def test_json_shapes_match_docs(samples: dict[str, list[Any]]) -> None:
    tables = _field_tables()
    checked = {h for h in samples if not h.startswith("_")} | HOST_SHAPES | CF_SHAPES | SERVE_SHAPES | APPLY_SHAPES
    assert not sorted(set(tables) - checked), f"field tables not checked against output: {sorted(set(tables) - checked)}"
    for heading in sorted(checked - HOST_SHAPES - CF_SHAPES - SERVE_SHAPES - APPLY_SHAPES):
        assert heading in tables, f"docs/json.md has no field table under a heading {heading!r}"
        assert samples[heading], f"no sample of {heading!r} was produced"
        for i, obj in enumerate(samples[heading]):
            _conforms(obj, tables[heading], f"{heading}[{i}]")


def test_config_file_shape(samples: dict[str, list[Any]]) -> None:
    after_set, after_unset = samples["_config_file"]
    assert after_set == {"lock_timeout": 30.0}
    assert after_unset == {}


def test_no_token_in_any_other_json(samples: dict[str, list[Any]]) -> None:
    token = samples["_token"][0]
    assert len(token) >= 16
    for heading, objs in samples.items():
        if heading in ("Tunnel token", "_token"):
            continue
        assert token not in json.dumps(objs), f"the tunnel token leaked into {heading}"


@pytest.mark.parametrize("backend", ["cloudflare"], indirect=True)
def test_cloudflare_json_shapes_match_docs(cf_samples: dict[str, list[Any]], backend) -> None:
    """The Cloudflare client prints the embedded controller's shapes, and the auth ones."""
    tables = _field_tables()
    assert CF_SHAPES <= set(cf_samples)
    for heading in sorted(h for h in cf_samples if not h.startswith("_")):
        assert cf_samples[heading], f"no sample of {heading!r} was produced"
        for i, obj in enumerate(cf_samples[heading]):
            _conforms(obj, tables[heading], f"cloudflare {heading}[{i}]")
    status = cf_samples["Auth status"]
    assert [x["token_status"] for x in status] == [None, "active"]
    assert [x["removed"] for x in cf_samples["Auth logout result"]] == [True, False]


@pytest.mark.parametrize("backend", ["cloudflare"], indirect=True)
def test_no_secret_in_any_cloudflare_json(cf_samples: dict[str, list[Any]], backend) -> None:
    tunnel_token, api_token = cf_samples["_token"][0], cf_samples["_api_token"][0]
    for heading, objs in cf_samples.items():
        if heading.startswith("_"):
            continue
        text = json.dumps(objs)
        assert api_token not in text, f"the API token leaked into {heading}"
        if heading != "Tunnel token":
            assert tunnel_token not in text, f"the tunnel token leaked into {heading}"


def test_every_config_key_and_controller_is_documented() -> None:
    """docs/commands.md names every config.toml key (in `config set`/`unset`/`show` and the
    environment table) and every controller; a key added to the code and not the docs fails here."""
    from warpcli.core.settings import CONTROLLERS, KEYS

    text = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    for heading in ("### `warpcli config set`", "### `warpcli config unset`", "### `warpcli config show`"):
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        missing = [k for k in KEYS if f"`{k}`" not in section]
        assert not missing, f"{heading} does not name {missing}"
    env_table = text.split("## Environment and files", 1)[1].split("\n## ", 1)[0]
    for key, (var, _) in KEYS.items():
        assert f"| `{var}` | `{key}` |" in env_table, f"the environment table lacks {var} / {key}"
    set_section = text.split("### `warpcli config set`", 1)[1].split("\n### ", 1)[0]
    for controller in CONTROLLERS:
        assert f"`{controller}`" in set_section, f"`config set controller` does not name {controller!r}"


def test_every_metric_is_documented() -> None:
    """docs/metrics.md lists every metric name the follow loop registers (a renamed metric fails here)."""
    from warpcli.metrics.follow import FollowMetrics, PeerSample

    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    m = FollowMetrics("connector", lambda: [PeerSample("wg0", "k", None, 1.0, 1, 2)],
                      ha=lambda: {"role": "active", "effective_priority": 200, "role_changes": {"active": 1}})
    names = {family.name for family in m.registry.collect()}
    counters = {family.name for family in m.registry.collect() if family.type == "counter"}
    for name in names:
        shown = f"{name}_total" if name in counters else name
        assert f"`{shown}`" in text, f"docs/metrics.md does not list {shown}"


def test_the_readmes_usage_table_names_every_command() -> None:
    """Each command (`warpcli GROUP SUB`) appears in the README's Usage table: the group's row names
    the subcommand, or a row names the top-level command."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    usage = text.split("## Usage", 1)[1]
    table = usage[usage.index("| group |"):].split("\n\n", 1)[0]
    rows = [line.replace("\\|", "/").split("|")[1:3] for line in table.splitlines() if line.startswith("| ")]
    missing = []
    for path in sorted(TREE):
        words = path.split()[1:]
        if not words:
            continue
        if len(words) == 1:
            found = any(f"`warpcli {words[0]}`" in group or re.search(rf"`{words[0]}\b", cmds) for group, cmds in rows)
        else:
            found = any(f"`warpcli {words[0]}`" in group and re.search(rf"\b{words[-1]}\b", cmds) for group, cmds in rows)
        if not found:
            missing.append(path)
    assert not missing, f"README's Usage table does not name: {', '.join(missing)}"
