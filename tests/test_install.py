"""warpcli install / uninstall: the files' content, idempotence, and an uninstall that leaves nothing.

Every command here writes under a temporary ``--root`` (CI runs as root: never the real /etc).
A fake ``systemctl`` is first on PATH for the whole module; it records each call, and with a
``--root`` other than / it must never be called.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from warpcli.host import install as inst

UNIT = "etc/systemd/system/warpcli.service"
SYSCTL = "etc/sysctl.d/60-warpcli.conf"
PROTOS = "etc/iproute2/rt_protos.d/warpcli.conf"
MANIFEST = "var/lib/warpcli/install-manifest.json"
REAL = [Path("/") / p for p in (UNIT, SYSCTL, PROTOS, MANIFEST)]

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> {log}
case "$1" in
  is-enabled) [ -e {state}/enabled ]; exit $? ;;
  is-active) [ -e {state}/active ]; exit $? ;;
esac
if [ -e {state}/fail ]; then echo "Failed to $1 unit: simulated failure" >&2; exit 1; fi
case "$1" in
  enable) touch {state}/enabled; [ "$2" = "--now" ] && touch {state}/active ;;
  disable) rm -f {state}/enabled {state}/active ;;
esac
exit 0
"""


class FakeSystemctl:
    def __init__(self, base: Path) -> None:
        self.bin = base / "bin"
        self.state = base / "state"
        self.log = base / "calls.log"
        self.bin.mkdir(parents=True)
        self.state.mkdir()
        self.path = self.bin / "systemctl"
        self.path.write_text(FAKE_SYSTEMCTL.format(log=self.log, state=self.state))
        self.path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture(autouse=True)
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A recording ``systemctl`` first on PATH; the real /etc must not change either."""
    fake = FakeSystemctl(tmp_path / "fake-systemctl")
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{os.environ['PATH']}")
    real_before = [p.exists() for p in REAL]
    yield fake
    assert [p.exists() for p in REAL] == real_before, "a test touched the real /etc or /var/lib"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def enrolled(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    r = cli("enroll", "--tunnel", "office")
    assert r.exit_code == 0, r.stderr


def listing(root: Path) -> list[tuple[str, str, int, bytes]]:
    """Everything under root, directories included: (path, kind, mode, content)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            out.append((str(p.relative_to(root)), kind, stat.S_IMODE(st.st_mode),
                        p.read_bytes() if kind == "file" else b""))
    return sorted(out)


def unit_values(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value, in order (Environment= repeats, which configparser cannot hold)."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key), []).append(value)
    return out


def unquote(word: str) -> str:
    """systemd's reading of one double-quoted word: C escapes, then %% -> %."""
    assert word.startswith('"') and word.endswith('"'), word
    text = re.sub(r'\\(.)', lambda m: m.group(1), word[1:-1])
    return text.replace("%%", "%")


# -- the files ----------------------------------------------------------------------
def test_install_writes_unit_sysctl_and_protocol_name(sh, paths, enrolled, root, systemctl, tmp_path) -> None:
    r = sh("install", "--root", str(root))
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == [f"{root} is not the live system: wrote the files only; systemctl is not called"]
    assert r.stdout.splitlines() == [f"wrote {root / p}" for p in (UNIT, SYSCTL, PROTOS)]

    text = (root / UNIT).read_text()
    ini = configparser.ConfigParser(strict=False, interpolation=None)
    ini.optionxform = str  # type: ignore[assignment,method-assign]
    ini.read_string(text)
    assert ini.sections() == ["Unit", "Service", "Install"]
    assert ini["Unit"]["After"] == ini["Unit"]["Wants"] == "network-online.target"
    assert ini["Service"]["Type"] == "oneshot" and ini["Service"]["RemainAfterExit"] == "yes"
    assert ini["Service"]["ExecStart"] == f"{WARPCLI} up"
    assert ini["Service"]["ExecStop"] == f"{WARPCLI} down"
    assert ini["Install"]["WantedBy"] == "multi-user.target"
    env = dict(unquote(v).split("=", 1) for v in unit_values(text)[("Service", "Environment")])
    assert env == {
        "WARPCLI_CONFIG_DIR": str(paths.config),
        "WARPCLI_STATE_DIR": str(paths.state),
        "WARPCLI_RUN_DIR": str(tmp_path / "run"),
        "WARPCLI_SECRET_BACKEND": "file",
    }
    # ExecStart names a warpcli that, with only that environment, sees the settings this run saw
    probe = subprocess.run([ini["Service"]["ExecStart"].split()[0], "config", "show", "--json"],
                           env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == json.loads(sh("config", "show", "--json").stdout)

    sysctls = dict(
        (k.strip(), v.strip()) for line in (root / SYSCTL).read_text().splitlines()
        if line.strip() and not line.startswith("#") for k, _, v in [line.partition("=")]
    )
    assert sysctls == {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
    protos = [line.split() for line in (root / PROTOS).read_text().splitlines() if not line.startswith("#")]
    assert protos == [["245", "warpcli"]]

    manifest = json.loads((root / MANIFEST).read_text())
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in (UNIT, SYSCTL, PROTOS)
    }
    for p in (UNIT, SYSCTL, PROTOS):
        assert stat.S_IMODE((root / p).stat().st_mode) == 0o644
    assert not [e for e in listing(root) if ".tmp" in e[0]], "a temp file was left behind"
    assert systemctl.calls() == []


def test_in_process_run_names_the_same_entry_point(cli, enrolled, root) -> None:
    assert cli("install", "--root", str(root)).exit_code == 0
    start = unit_values((root / UNIT).read_text())[("Service", "ExecStart")]
    assert start == [f"{WARPCLI} up"]


def test_unit_escapes_odd_paths(cli, paths, enrolled, root, monkeypatch, tmp_path) -> None:
    odd = tmp_path / 'con fig %h $HOME "q" \\b'
    shutil.copytree(paths.config, odd)
    monkeypatch.setenv("WARPCLI_CONFIG_DIR", str(odd))
    r = cli("install", "--root", str(root))
    assert r.exit_code == 0, r.stderr
    text = (root / UNIT).read_text()
    env = dict(unquote(v).split("=", 1) for v in unit_values(text)[("Service", "Environment")])
    assert env["WARPCLI_CONFIG_DIR"] == str(odd)
    analyze = shutil.which("systemd-analyze")
    if analyze:  # systemd's own parser: no "Invalid syntax" or similar complaint about our unit
        v = subprocess.run([analyze, "verify", str(root / UNIT)], capture_output=True, text=True, timeout=60)
        assert "warpcli.service" not in v.stderr, v.stderr


def test_service_environment_only_says_what_differs_from_the_service_defaults() -> None:
    from warpcli.core.settings import Settings

    live = Settings(config_dir=Path("/etc/warpcli"), state_dir=Path("/var/lib/warpcli"), run_dir=Path("/run/warpcli"))
    assert inst.service_environment(live, {}) == {}
    moved = Settings(config_dir=Path("/etc/warpcli"), state_dir=Path("/srv/warpcli"), run_dir=Path("/run/warpcli"),
                     lock_timeout=30.0)
    # from config.toml, which the service reads too: nothing to add
    assert inst.service_environment(moved, {"state_dir": "/srv/warpcli", "lock_timeout": 30}) == {}
    # from a flag or a variable: the service must be told
    assert inst.service_environment(moved, {}) == {"WARPCLI_STATE_DIR": "/srv/warpcli", "WARPCLI_LOCK_TIMEOUT": "30.0"}
    other = Settings(config_dir=Path("/opt/wc"), state_dir=Path("/var/lib/warpcli"), run_dir=Path("/run/warpcli"))
    assert inst.service_environment(other, {}) == {"WARPCLI_CONFIG_DIR": "/opt/wc"}


# -- idempotence and uninstall ------------------------------------------------------
def test_install_twice_changes_nothing(sh, enrolled, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    before = listing(root)
    again = sh("install", "--root", str(root), "--json")
    assert again.exit_code == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["changed"] is False and out["written"] == []
    assert listing(root) == before
    plain = sh("install", "--root", str(root))
    assert plain.stdout == "no changes\n"
    assert listing(root) == before


def test_uninstall_leaves_the_root_exactly_as_before(sh, enrolled, root, systemctl) -> None:
    # directories that exist already (and hold other software's files) must stay
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/other.service").write_text("[Service]\nExecStart=/bin/true\n")
    (root / "etc/sysctl.d").mkdir()
    (root / "var").mkdir()
    (root / "var").chmod(0o750)
    before = listing(root)
    assert sh("install", "--root", str(root)).exit_code == 0
    assert listing(root) != before
    r = sh("uninstall", "--root", str(root))
    assert r.exit_code == 0, r.stderr
    assert f"removed {root / UNIT}" in r.stdout.splitlines()
    assert listing(root) == before
    assert r.stderr.splitlines() == [
        f"{root} is not the live system: removed the files only; systemctl is not called"]
    again = sh("uninstall", "--root", str(root))
    assert again.exit_code == 0 and again.stdout == "nothing to remove\n"
    assert listing(root) == before
    assert systemctl.calls() == []


def test_uninstall_of_an_empty_root_leaves_it_empty(cli, enrolled, root) -> None:
    assert cli("install", "--root", str(root)).exit_code == 0
    assert cli("uninstall", "--root", str(root)).exit_code == 0
    assert listing(root) == []


def test_an_edited_file_is_kept_unless_forced(sh, enrolled, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    with open(root / SYSCTL, "a") as fh:
        fh.write("net.ipv4.conf.all.rp_filter = 2\n")
    edited = listing(root)
    r = sh("uninstall", "--root", str(root), "--json")
    assert r.exit_code == 4
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and str(root / SYSCTL) in r.stderr and "--force" in r.stderr
    assert str(root / UNIT) not in r.stderr
    assert listing(root) == edited, "nothing may be removed when uninstall refuses"
    forced = sh("uninstall", "--root", str(root), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert listing(root) == []


def test_install_over_an_edited_unit_replaces_it_with_a_warning(sh, enrolled, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    pristine = listing(root)
    (root / UNIT).write_text((root / UNIT).read_text() + "Nice=5\n")
    r = sh("install", "--root", str(root))
    assert r.exit_code == 0
    assert f"warning: {root / UNIT} had been edited" in r.stderr
    assert listing(root) == pristine
    assert sh("uninstall", "--root", str(root)).exit_code == 0
    assert listing(root) == []


def test_a_foreign_file_is_not_overwritten(sh, enrolled, root) -> None:
    (root / "etc/iproute2/rt_protos.d").mkdir(parents=True)
    (root / PROTOS).write_text("245 someone-else\n")
    before = listing(root)
    r = sh("install", "--root", str(root))
    assert r.exit_code == 4
    assert len(r.stderr.splitlines()) == 1 and str(root / PROTOS) in r.stderr
    assert listing(root) == before


def test_an_identical_file_that_was_there_is_kept_by_uninstall(sh, enrolled, root) -> None:
    (root / "etc/iproute2/rt_protos.d").mkdir(parents=True)
    (root / PROTOS).write_bytes(inst.rt_protos_text().encode())
    before = listing(root)
    assert sh("install", "--root", str(root)).exit_code == 0
    r = sh("uninstall", "--root", str(root), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["kept"] == [str(root / PROTOS)]
    assert listing(root) == before


def test_a_tampered_manifest_cannot_make_uninstall_delete_other_files(sh, enrolled, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["files"].append({"path": "etc/hosts", "sha256": hashlib.sha256(b"127.0.0.1 localhost\n").hexdigest(),
                              "created": True})
    (root / MANIFEST).write_text(json.dumps(manifest))
    before = listing(root)
    r = sh("uninstall", "--root", str(root))
    assert r.exit_code == 2
    assert "not a valid install manifest" in r.stderr and len(r.stderr.splitlines()) == 1
    assert listing(root) == before


# -- bad input ----------------------------------------------------------------------
def test_not_enrolled_exits_3_and_writes_nothing(sh, paths, root) -> None:
    r = sh("install", "--root", str(root))
    assert r.exit_code == 3
    assert r.stderr == "warpcli: error: this host is not enrolled; run `warpcli enroll` first\n"
    assert listing(root) == []


def test_a_missing_root_directory_is_refused(sh, enrolled, tmp_path) -> None:
    r = sh("install", "--root", str(tmp_path / "nope"))
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_the_live_root_needs_root(command: str, sh, paths) -> None:
    argv = [WARPCLI, command, "--json"]
    if os.geteuid() == 0:  # CI is root: drop to nobody (who could not write /etc anyway)
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("needs setpriv to run as a non-root user")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/",
                       env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert p.returncode == 6, p.stderr
    assert p.stdout == ""
    assert p.stderr == (f"warpcli: error: `warpcli {command}` changes files in /etc and needs root; "
                        "run it with sudo, or pass --root DIR\n")


# -- systemctl ----------------------------------------------------------------------
def test_json_shapes(cli, enrolled, root, systemctl) -> None:
    first = cli("install", "--root", str(root), "--no-start", "--json")
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    assert out == {
        "root": str(root), "unit": "warpcli.service", "changed": True,
        "files": [str(root / p) for p in (UNIT, SYSCTL, PROTOS)],
        "written": [str(root / p) for p in (UNIT, SYSCTL, PROTOS)], "manifest": str(root / MANIFEST),
        "systemd": False, "enabled": False, "started": False,
    }
    gone = cli("uninstall", "--root", str(root), "--json")
    assert gone.exit_code == 0
    removed = json.loads(gone.stdout)
    assert removed["changed"] is True and removed["systemd"] is False and removed["kept"] == []
    assert set(removed["removed"]) == {str(root / p) for p in (UNIT, SYSCTL, PROTOS, MANIFEST)} | {
        f"{root / d}/" for d in ("etc", "etc/systemd", "etc/systemd/system", "etc/sysctl.d", "etc/iproute2",
                                 "etc/iproute2/rt_protos.d", "var", "var/lib", "var/lib/warpcli")}
    assert systemctl.calls() == []


def test_systemctl_sequence_for_the_live_system(root, systemctl) -> None:
    """The host layer with a systemctl (the CLI hands one over only for / with systemd running)."""
    files = inst.contents("/usr/bin/warpcli", {})
    ctl = inst.Systemctl(str(systemctl.path))
    r = inst.install(root, files, systemctl=ctl)
    assert systemctl.calls() == ["daemon-reload", "enable --now warpcli.service"]
    assert (r.changed, r.systemd, r.enabled, r.started) == (True, True, True, True)
    again = inst.install(root, files, systemctl=ctl)
    assert again.changed is False and again.lines == []
    assert systemctl.calls()[2:] == ["is-enabled --quiet warpcli.service", "is-active --quiet warpcli.service"]
    gone = inst.uninstall(root, systemctl=ctl)
    assert systemctl.calls()[4:] == ["disable --now warpcli.service", "daemon-reload"]
    assert gone.lines[0] == "systemctl disable --now warpcli.service" and gone.lines[-1] == "systemctl daemon-reload"
    assert listing(root) == []


def test_no_start_only_enables(root, systemctl) -> None:
    inst.install(root, inst.contents("/usr/bin/warpcli", {}), systemctl=inst.Systemctl(str(systemctl.path)),
                 start=False)
    assert systemctl.calls() == ["daemon-reload", "enable warpcli.service"]


def test_a_systemctl_failure_is_one_line_and_uninstall_still_cleans_up(root, systemctl) -> None:
    from warpcli.host.errors import HostError

    ctl = inst.Systemctl(str(systemctl.path))
    (systemctl.state / "fail").touch()
    with pytest.raises(HostError) as err:
        inst.install(root, inst.contents("/usr/bin/warpcli", {}), systemctl=ctl)
    assert str(err.value).startswith("`systemctl daemon-reload` failed: Failed to daemon-reload unit: simulated")
    (systemctl.state / "fail").unlink()
    inst.uninstall(root, systemctl=ctl)
    assert listing(root) == []


# -- a second connector (another vnet's config directory) on the same host ----------
def _enroll(cli, config_dir: Path, vnet: str, interface: str) -> Path:
    assert cli("vnet", "add", vnet).exit_code == 0
    assert cli("tunnel", "create", f"site-{vnet}").exit_code == 0
    r = cli("--config-dir", str(config_dir), "enroll", "--tunnel", f"site-{vnet}", "--vnet", vnet,
            "--interface", interface)
    assert r.exit_code == 0, r.stderr
    return config_dir


@pytest.fixture
def second(cli, enrolled, tmp_path) -> Path:
    """The config directory of a second connector (vnet staging, wg1), beside the default one."""
    return _enroll(cli, tmp_path / "etc-a" / "staging", "staging", "wg1")


def _unit_of(config_dir: Path) -> tuple[str, str, str]:
    """(unit name, unit path, manifest path) install gives the connector of config_dir."""
    name = inst.connector_name(config_dir)
    assert name, config_dir
    return f"warpcli-{name}.service", f"etc/systemd/system/warpcli-{name}.service", \
        f"var/lib/warpcli/install-manifest-{name}.json"


def _env(text: str) -> dict[str, str]:
    return dict(unquote(v).split("=", 1) for v in unit_values(text).get(("Service", "Environment"), []))


def test_connector_names() -> None:
    name = inst.connector_name
    assert name("/etc/warpcli") == name("/etc/warpcli/") == name("/etc/warpcli/x/..") == ""
    assert name("/opt/wc", default="/opt/wc") == name("/etc/warpcli", default="/opt/wc") == ""
    assert name("/etc/warpcli/staging") == name("/etc/warpcli/a/../staging") == "staging"
    assert inst.unit_name("staging") == "warpcli-staging.service"
    assert inst.unit_path("staging") == "etc/systemd/system/warpcli-staging.service"
    assert inst.manifest_path("staging") == "var/lib/warpcli/install-manifest-staging.json"
    assert (inst.unit_name(""), inst.unit_path(""), inst.manifest_path("")) == ("warpcli.service", UNIT, MANIFEST)
    # elsewhere, or not a plain name: the last component made safe, and 8 hex digits of the path's sha256
    assert re.fullmatch(r"staging-[0-9a-f]{8}", name("/srv/b/staging"))
    assert name("/srv/b/staging") != name("/srv/c/staging")
    assert name("/srv/b/staging") == "staging-570a7ef3"  # stable: a new version must find the installed unit
    assert re.fullmatch(r"staging-lab-[0-9a-f]{8}", name("/etc/warpcli/Staging Lab"))
    assert re.fullmatch(r"[0-9a-f]{8}", name("/"))
    tricky = ["/etc/warpcli/staging", "/srv/staging", "/etc/warpcli/ab12cd34", "/etc/warpcli/staging-ab12cd34",
              "/etc/warpcli/ab12cd34-x", "/etc/warpcli/a.b", "/etc/warpcli/a-b", "/etc/warpcli/a\nb", "/srv/a b",
              "/etc/warpcli/%h", "/etc/warpcli/@", "/etc/warpcli/" + "x" * 300, "/etc/warpcli/" + "x" * 301, "/"]
    names = [name(p) for p in tricky]
    assert len(set(names)) == len(names), names
    assert names[2] != "ab12cd34" and names[3] != "staging-ab12cd34"  # look hashed: hashed too
    for n in names:  # systemd-safe: no escaping, no template '@', short
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", n) and len(inst.unit_name(n)) <= 64, n


def test_two_connectors_installed_side_by_side(sh, paths, enrolled, second, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    first = {p: (root / p).read_bytes() for p in (UNIT, SYSCTL, PROTOS, MANIFEST)}
    r = sh("--config-dir", str(second), "install", "--root", str(root), "--json")
    assert r.exit_code == 0, r.stderr
    name, unit, manifest = _unit_of(second)
    assert re.fullmatch(r"warpcli-staging-[0-9a-f]{8}\.service", name)
    out = json.loads(r.stdout)
    assert out["unit"] == name and out["manifest"] == str(root / manifest)
    assert out["files"] == [str(root / p) for p in (unit, SYSCTL, PROTOS)]
    assert out["written"] == [str(root / unit)]  # the shared files are there already, the same bytes
    assert {p: (root / p).read_bytes() for p in first} == first, "the second install changed the first's files"

    assert _env((root / UNIT).read_text())["WARPCLI_CONFIG_DIR"] == str(paths.config)
    text = (root / unit).read_text()
    assert _env(text)["WARPCLI_CONFIG_DIR"] == str(second)
    values = unit_values(text)
    assert values[("Unit", "After")] == ["network-online.target warpcli.service"]
    assert values[("Unit", "Wants")] == ["network-online.target"]
    assert values[("Service", "ExecStart")] == [f"{WARPCLI} up"]
    assert values[("Service", "ExecStop")] == [f"{WARPCLI} down"]
    assert f"systemctl edit {name}" in text
    recorded = json.loads((root / manifest).read_text())
    assert {f["path"]: f["sha256"] for f in recorded["files"]} == {
        p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in (unit, SYSCTL, PROTOS)}
    assert all(f["created"] for f in recorded["files"])  # the shared ones: as the first install recorded them

    both = listing(root)
    again = sh("--config-dir", str(second), "install", "--root", str(root))
    assert again.exit_code == 0 and again.stdout == "no changes\n"
    assert sh("install", "--root", str(root)).stdout == "no changes\n"
    assert listing(root) == both


@pytest.mark.parametrize("second_first", [False, True], ids=["default-installed-first", "second-installed-first"])
@pytest.mark.parametrize("remove_second_first", [True, False], ids=["remove-second-first", "remove-default-first"])
def test_uninstall_one_connector_leaves_the_other(sh, paths, enrolled, second, root, second_first,
                                                 remove_second_first) -> None:
    (root / "etc/systemd/system").mkdir(parents=True)  # as on a real system: directories that stay
    (root / "etc/systemd/system/other.service").write_text("[Service]\nExecStart=/bin/true\n")
    before = listing(root)
    default_args: list[str] = []
    second_args = ["--config-dir", str(second)]
    order = [second_args, default_args] if second_first else [default_args, second_args]
    assert sh(*order[0], "install", "--root", str(root)).exit_code == 0
    one = listing(root)
    assert sh(*order[1], "install", "--root", str(root)).exit_code == 0
    _, unit, manifest = _unit_of(second)
    assert (root / UNIT).exists() and (root / unit).exists() and (root / MANIFEST).exists()
    both = listing(root)

    gone, stays = (second_args, default_args) if remove_second_first else (default_args, second_args)
    their_files = (UNIT, MANIFEST) if remove_second_first else (unit, manifest)
    kept = {p: (root / p).read_bytes() for p in (*their_files, SYSCTL, PROTOS)}
    r = sh(*gone, "uninstall", "--root", str(root), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["unit"] == (_unit_of(second)[0] if remove_second_first else "warpcli.service")
    assert out["shared"] == [str(root / SYSCTL), str(root / PROTOS)] and out["kept"] == []
    assert {p: (root / p).read_bytes() for p in kept} == kept, "uninstall changed the other connector's files"
    removed_unit = unit if remove_second_first else UNIT
    assert not (root / removed_unit).exists()
    if remove_second_first != second_first:  # the one installed first is left: as it was then
        assert listing(root) == one
    assert sh(*gone, "uninstall", "--root", str(root)).stdout == "nothing to remove\n"

    last = sh(*stays, "uninstall", "--root", str(root))
    assert last.exit_code == 0, last.stderr
    assert listing(root) == before
    assert both != before


def test_plain_uninstall_says_what_it_keeps_for_the_other_connector(sh, enrolled, second, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    assert sh("--config-dir", str(second), "install", "--root", str(root)).exit_code == 0
    _, unit, manifest = _unit_of(second)
    r = sh("--config-dir", str(second), "uninstall", "--root", str(root))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [f"removed {root / unit}", f"removed {root / manifest}"]
    assert r.stderr.splitlines() == [
        f"kept {root / SYSCTL} (another connector's install uses it)",
        f"kept {root / PROTOS} (another connector's install uses it)",
        f"{root} is not the live system: removed the files only; systemctl is not called",
    ]


def test_a_third_config_dir_with_the_same_last_component_gets_another_unit(cli, paths, enrolled, second, root,
                                                                            tmp_path) -> None:
    third = _enroll(cli, tmp_path / "etc-b" / "staging", "qa", "wg2")
    assert third.name == second.name
    names = []
    for config_dir in (second, third):
        r = cli("--config-dir", str(config_dir), "install", "--root", str(root), "--json")
        assert r.exit_code == 0, r.stderr
        names.append(json.loads(r.stdout)["unit"])
    assert names[0] != names[1] and all(re.fullmatch(r"warpcli-staging-[0-9a-f]{8}\.service", n) for n in names)
    for config_dir, name in zip((second, third), names, strict=True):
        assert _env((root / "etc/systemd/system" / name).read_text())["WARPCLI_CONFIG_DIR"] == str(config_dir)
    assert cli("install", "--root", str(root)).exit_code == 0
    for config_dir in (third, second, paths.config):
        assert cli("--config-dir", str(config_dir), "uninstall", "--root", str(root)).exit_code == 0
    assert listing(root) == []


def test_systemctl_sequence_for_a_second_unit(root, systemctl) -> None:
    ctl = inst.Systemctl(str(systemctl.path))
    inst.install(root, inst.contents("/usr/bin/warpcli", {}), systemctl=ctl)
    first = listing(root)
    staging = inst.contents("/usr/bin/warpcli", {"WARPCLI_CONFIG_DIR": "/etc/warpcli/staging"}, "staging")
    assert sorted(staging) == sorted(["etc/systemd/system/warpcli-staging.service", SYSCTL, PROTOS])
    (systemctl.state / "enabled").unlink()  # the fake keeps one state for all units: the new one is not enabled
    (systemctl.state / "active").unlink()
    r = inst.install(root, staging, systemctl=ctl, name="staging")
    assert r.unit == "warpcli-staging.service"
    assert systemctl.calls()[2:] == ["daemon-reload", "enable --now warpcli-staging.service"]
    assert inst.install(root, staging, systemctl=ctl, name="staging").lines == []
    assert systemctl.calls()[4:] == ["is-enabled --quiet warpcli-staging.service",
                                     "is-active --quiet warpcli-staging.service"]
    gone = inst.uninstall(root, systemctl=ctl, name="staging")
    assert systemctl.calls()[6:] == ["disable --now warpcli-staging.service", "daemon-reload"]
    assert gone.unit == "warpcli-staging.service" and gone.lines[0] == "systemctl disable --now warpcli-staging.service"
    assert listing(root) == first
    inst.install(root, staging, systemctl=ctl, start=False, name="staging")
    assert systemctl.calls()[8:] == ["daemon-reload", "enable warpcli-staging.service"]
    inst.uninstall(root, systemctl=ctl, name="staging")
    inst.uninstall(root, systemctl=ctl)
    assert systemctl.calls()[-2:] == ["disable --now warpcli.service", "daemon-reload"]
    assert listing(root) == []


def test_an_installed_unit_is_not_re_pointed_at_another_config_dir(sh, paths, enrolled, second, root) -> None:
    """warpcli.service is also the unit of the config dir warpcli uses without --config-dir: a
    WARPCLI_CONFIG_DIR that names another one must not take it over (nor remove it)."""
    assert sh("install", "--root", str(root)).exit_code == 0
    before = listing(root)
    for command in ("install", "uninstall"):
        r = sh(command, "--root", str(root), env={"WARPCLI_CONFIG_DIR": str(second)})
        assert r.exit_code == 4, r.stderr
        assert len(r.stderr.splitlines()) == 1 and f"runs the connector of {paths.config}" in r.stderr
        assert "--config-dir" in r.stderr
        assert listing(root) == before


def test_a_config_dir_with_a_line_break_changes_nothing(sh, paths, enrolled, second, root, tmp_path) -> None:
    bad = tmp_path / "bad\nname"
    shutil.copytree(paths.config, bad)
    assert sh("--config-dir", str(second), "install", "--root", str(root)).exit_code == 0
    before = listing(root)
    r = sh("--config-dir", str(bad), "install", "--root", str(root))
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1 and "line break" in r.stderr
    assert listing(root) == before
    gone = sh("--config-dir", str(bad), "uninstall", "--root", str(root))
    assert gone.exit_code == 0 and gone.stdout == "nothing to remove\n"
    assert listing(root) == before


def test_a_tampered_second_manifest_cannot_name_the_first_unit(sh, enrolled, second, root) -> None:
    assert sh("install", "--root", str(root)).exit_code == 0
    assert sh("--config-dir", str(second), "install", "--root", str(root)).exit_code == 0
    _, _, manifest = _unit_of(second)
    data = json.loads((root / manifest).read_text())
    data["files"].append({"path": UNIT, "sha256": hashlib.sha256((root / UNIT).read_bytes()).hexdigest(),
                          "created": True})
    (root / manifest).write_text(json.dumps(data))
    before = listing(root)
    for args in ([], ["--config-dir", str(second)]):
        r = sh(*args, "uninstall", "--root", str(root))
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
        assert f"{root / manifest} is not a valid install manifest" in r.stderr
        assert listing(root) == before
