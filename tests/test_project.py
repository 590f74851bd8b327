"""Project-level promises: the README's commands, CI calling them, start-up import budget."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pyroute2", "requests", "keyring", "pydantic", "cryptography", "urllib3")


def _readme_commands() -> tuple[str, str]:
    lines = (ROOT / "README.md").read_text().splitlines()[:6]
    cmds = [m.group(1) for line in lines if (m := re.search(r"`([^`]+)`\s*$", line))]
    assert len(cmds) >= 2, "the README's first lines must give the install-and-run and the test commands"
    return cmds[0], cmds[1]


def test_readme_starts_with_install_and_test_commands() -> None:
    install, test = _readme_commands()
    assert "pip install" in install and "warpcli" in install
    assert "pytest" in test


def test_the_install_command_installs_what_the_readme_then_uses() -> None:
    """The README documents `controller serve`, which needs the `server` extra: the first command
    installs it (a newcomer who follows the README top to bottom must not hit "needs the server extra")."""
    install, _ = _readme_commands()
    readme = (ROOT / "README.md").read_text()
    extras = re.search(r"-e '?\.\[([^\]]+)\]", install)
    named = extras.group(1).split(",") if extras else []
    if "controller serve" in readme:
        assert "server" in named, install
    if "WARPCLI_DATABASE_URL" in readme:  # the PostgreSQL control plane needs psycopg
        assert "postgres" in named, install


def test_no_readme_example_pipes_an_embedded_token_to_another_machine() -> None:
    """A tunnel token of this machine's embedded controller means nothing to another machine's
    embedded controller: every `tunnel token ... | ssh HOST warpcli enroll` names the served one."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if re.search(r"tunnel token .*\|\s*ssh .*warpcli .*enroll", line):
            assert "--controller cloudflare" in line and "--api-url" in line, line


def test_ci_runs_the_readme_test_command() -> None:
    _, test = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci, ".ci/run must call the test command the README gives"


def test_changelog_has_a_release_entry() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    from warpcli import __version__

    assert "## [Unreleased]" in text
    assert f"## [{__version__}]" in text


PROBE = """
import sys
sys.argv = ["warpcli", *{args!r}]
from warpcli.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
with open({out!r}, "w") as fh:
    fh.write(repr(heavy))
"""


@pytest.mark.parametrize("args", [["--version"], ["routes", "--json"], ["tunnel", "list", "--json"],
                                  ["route", "get", "10.0.0.1", "--json"]])
def test_read_only_commands_stay_light(args: list[str], tmp_path: Path) -> None:
    """An import budget, not a timing: read-only commands must not import the heavy libraries."""
    out = tmp_path / "heavy.txt"
    env = {**os.environ, "WARPCLI_STATE_DIR": str(tmp_path / "s"), "WARPCLI_CONFIG_DIR": str(tmp_path / "c")}
    code = PROBE.format(args=args, heavy=HEAVY, out=str(out))
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=True)
    assert out.read_text() == "[]"


@pytest.mark.parametrize("args", [["--version"], ["routes", "--json"]])
def test_the_start_up_path_builds_no_dataclass(args: list[str], tmp_path: Path) -> None:
    """Each dataclass costs ~0.8 ms to define on Python 3.11 (warpcli.core.records says why):
    the model and settings are records, and the listing path loads no ``dataclasses`` at all."""
    out = tmp_path / "heavy.txt"
    env = {**os.environ, "WARPCLI_STATE_DIR": str(tmp_path / "s"), "WARPCLI_CONFIG_DIR": str(tmp_path / "c")}
    code = PROBE.format(args=args, heavy=("dataclasses",), out=str(out))
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=True)
    assert out.read_text() == "[]"


def test_python_dash_m_runs(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "warpcli", "version", "--json"], capture_output=True, text=True,
                       timeout=60)
    from warpcli import __version__

    assert p.returncode == 0
    assert json.loads(p.stdout) == {"version": __version__}


def _imports(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_frameworks() -> None:
    """The layer rule: the core knows nothing of Typer, Rich, requests, pyroute2 or keyring."""
    banned = {"typer", "rich", "click", "requests", "pyroute2", "keyring", "urllib3"}
    for path in (ROOT / "warpcli" / "core").rglob("*.py"):
        assert not (_imports(path) & banned), f"{path.name} imports {_imports(path) & banned}"


def test_cli_is_the_only_user_of_typer_and_rich() -> None:
    for path in (ROOT / "warpcli").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "warpcli").parts:
            continue
        assert not (_imports(path) & {"typer", "rich", "click"}), f"{path} imports the CLI framework"


def _warpcli_imports(path: Path) -> set[str]:
    """The warpcli subpackages a module imports (``warpcli.core.x`` -> ``core``), at any depth."""
    import ast

    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
        for m in modules:
            parts = m.split(".")
            if parts[0] == "warpcli" and len(parts) > 1:
                out.add(parts[1])
    return out


#: which top-level subpackage may import which (the adapters never reach into each other)
ALLOWED = {
    "core": {"core"},
    "secret_stores": {"core", "secret_stores"},
    "metrics": {"core", "metrics"},
    "controllers": {"core", "controllers", "secret_stores"},
    "server": {"core", "server", "controllers", "secret_stores", "metrics"},
    "host": {"core", "host", "metrics"},
}


def test_layers_import_only_downwards() -> None:
    """core imports nothing above it; controllers, server and host are adapters that never import each
    other's internals (server -> controllers only to open the embedded store); validators live in core."""
    for path in (ROOT / "warpcli").rglob("*.py"):
        rel = path.relative_to(ROOT / "warpcli").parts
        if len(rel) < 2 or rel[0] not in ALLOWED:
            continue
        bad = _warpcli_imports(path) - ALLOWED[rel[0]]
        assert not bad, f"warpcli/{'/'.join(rel)} imports warpcli.{', warpcli.'.join(sorted(bad))}"


def test_core_imports_no_drivers_or_servers() -> None:
    banned = {"psycopg", "psycopg_pool", "sqlite3_driver", "flask", "cheroot", "waitress", "prometheus_client"}
    for path in (ROOT / "warpcli" / "core").rglob("*.py"):
        assert not (_imports(path) & banned), f"{path.name} imports {_imports(path) & banned}"


def _module_level_imports(path: Path, *, lazy: bool = False) -> set[str]:
    """The warpcli modules a module imports when it loads (top level only), or with ``lazy`` also
    inside functions."""
    import ast

    out: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in (ast.walk(tree) if lazy else tree.body):
        if isinstance(node, ast.If) and not lazy:  # `if TYPE_CHECKING:` imports do not load
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("warpcli.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("warpcli"):
            for a in node.names:  # `from warpcli.host import wg`: the module warpcli.host.wireguard.wg
                sub = f"{node.module}.{a.name}"
                is_module = (ROOT / (sub.replace(".", "/") + ".py")).exists() or (ROOT / sub.replace(".", "/")).is_dir()
                out.add(sub if is_module else node.module)
    return out


@pytest.mark.parametrize(("package", "lazy"), [("warpcli", False), ("warpcli/host", True)])
def test_no_import_cycles(package: str, lazy: bool) -> None:
    """Modules load in one order: no cycle among module-level imports anywhere; in the host layer
    not even through imports inside functions (netlink <-> rtnl_batch was one)."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {m for m in _module_level_imports(path, lazy=lazy) if m != name}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_two_classes_share_a_name() -> None:
    """One name per thing (a `Route` in the model and another in the host layer misled readers)."""
    import ast
    from collections import defaultdict

    where: dict[str, list[str]] = defaultdict(list)
    for path in (ROOT / "warpcli").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not shared, shared
