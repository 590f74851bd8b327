"""`install` / `uninstall`: the persistent form of `up` / `down`.

``install`` writes three files under a root prefix (``/`` for the live system):

- ``etc/systemd/system/warpcli.service``: a oneshot unit whose ExecStart is ``warpcli up``
  and ExecStop ``warpcli down``, started after ``network-online.target``;
- ``etc/sysctl.d/60-warpcli.conf``: IPv4 and IPv6 forwarding on at boot;
- ``etc/iproute2/rt_protos.d/warpcli.conf``: names protocol 245, so ``ip route`` prints
  ``proto warpcli``.

Every write is atomic (temp file + rename). What was written is recorded in a manifest
(``var/lib/warpcli/install-manifest.json`` under the same root): the sha256 of each file and
the directories install created, so ``uninstall`` removes exactly those, refuses to delete a
file edited since (unless forced), and leaves the root as it found it.

The manifest is written *before* the files (with the hashes they are about to get), so an
install interrupted at any point can still be undone or re-run.

A host may run connectors of several virtual networks, one per config directory. Each is
installed on its own (``warpcli --config-dir DIR install``), as a unit and a manifest of its own:

- the default config directory (``/etc/warpcli``, or the one warpcli uses when no
  ``--config-dir`` is given) keeps ``warpcli.service`` and ``install-manifest.json``;
- another one is ``warpcli-NAME.service`` with ``install-manifest-NAME.json``, NAME from the
  directory (:func:`connector_name`): its last component for ``/etc/warpcli/NAME`` when that is a
  plain lower-case name, else that component made safe plus ``-`` and 8 hex digits of the sha256
  of the whole path; so two directories never share a unit. Such a unit starts after
  ``warpcli.service`` (the first connector takes slot 0 at boot).

The sysctl.d and rt_protos.d files are shared: every manifest that needs one records it, and
``uninstall`` of one connector leaves a file (or a directory) that another manifest still
records; a later install inherits the ``created`` flag and the created directories of the
manifests already there, so the last ``uninstall`` leaves the root as before the first install.
``install`` refuses to re-point an installed unit at another config directory.

Pure file work; ``systemctl`` is run only through a :class:`Systemctl` the caller passes,
which the CLI does only for the live root with systemd running.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from warpcli.core import files
from warpcli.core.errors import ConfigError, Conflict, InvalidInput
from warpcli.host.constants import ROUTE_PROTO, ROUTE_PROTO_NAME
from warpcli.host.errors import HostError, NotRoot

UNIT_NAME = "warpcli.service"
UNIT_PATH = f"etc/systemd/system/{UNIT_NAME}"
SYSCTL_PATH = "etc/sysctl.d/60-warpcli.conf"
RT_PROTOS_PATH = "etc/iproute2/rt_protos.d/warpcli.conf"
MANIFEST_PATH = "var/lib/warpcli/install-manifest.json"
MANAGED = (UNIT_PATH, SYSCTL_PATH, RT_PROTOS_PATH)
SHARED = (SYSCTL_PATH, RT_PROTOS_PATH)  #: files every connector's install writes (the same bytes)
MANIFEST_DIR = "var/lib/warpcli"
#: a manifest's file name: install-manifest.json (the default connector), install-manifest-NAME.json
MANIFEST_FILE_RE = re.compile(r"install-manifest(?:-([a-z0-9][a-z0-9_-]*))?\.json")
_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")  #: used as is for /etc/warpcli/NAME
_LOOKS_HASHED = re.compile(r"(?:.*-)?[0-9a-f]{8}")  #: could be mistaken for a hashed name: hashed too
FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")

#: what a systemd service (root, empty environment) would use when nothing says otherwise
SERVICE_DEFAULTS: dict[str, str] = {
    "state_dir": "/var/lib/warpcli",
    "run_dir": "/run/warpcli",
    "controller": "local",
    "secret_backend": "auto",
    "lock_timeout": "10.0",
    "api_url": "https://api.cloudflare.com/client/v4",
    "api_timeout": "30.0",
}
SERVICE_CONFIG_DIR = "/etc/warpcli"
SYSTEMD_RUNNING_MARKER = "/run/systemd/system"  #: sd_booted(3): exists iff systemd is PID 1


# -- the live system -------------------------------------------------------------------
def is_live_root(root: Path) -> bool:
    return Path(os.path.abspath(root)) == Path("/")


def require_root_for_live_system(root: Path, what: str = "install") -> None:
    """Changing the live system needs root; a ``--root`` prefix elsewhere does not."""
    if is_live_root(root) and os.geteuid() != 0:
        raise NotRoot(f"`warpcli {what}` changes files in /etc and needs root",
                      hint="run it with sudo, or pass --root DIR")


def systemd_running() -> bool:
    """systemd is PID 1 on the real machine (not under --root) and ``systemctl`` is on PATH."""
    return os.path.isdir(SYSTEMD_RUNNING_MARKER) and shutil.which("systemctl") is not None


def entry_point() -> str:
    """The absolute path of the ``warpcli`` executable this process runs as."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "warpcli" and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    beside = Path(sys.executable).with_name("warpcli")  # the console script of this interpreter's env
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("warpcli")
    if found:
        return os.path.abspath(found)
    raise HostError("cannot find the `warpcli` executable to put in the unit", hint="install warpcli with pip")


# -- one unit per config directory ----------------------------------------------------
def _abspath(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def connector_name(config_dir: str | Path, *, default: str | Path | None = None) -> str:
    """The install name of the connector of ``config_dir``: "" for the default connector
    (``/etc/warpcli``, or ``default``: the config directory warpcli uses without
    ``--config-dir``), which keeps ``warpcli.service``; else NAME of ``warpcli-NAME.service``.

    ``/etc/warpcli/NAME`` with a plain NAME (lower-case letters, digits, ``-``, ``_``; at most
    48) gives NAME; anything else gives its last component made safe and ``-`` plus 8 hex digits
    of the sha256 of the absolute path (``/srv/b/staging`` -> ``staging-570a7ef3``). A plain
    name that looks like one with such a suffix gets one too, so no two directories share a name.
    """
    path = _abspath(config_dir)
    if path == SERVICE_CONFIG_DIR or (default is not None and path == _abspath(default)):
        return ""
    parent, base = os.path.split(path)
    if parent == SERVICE_CONFIG_DIR and _PLAIN_NAME.fullmatch(base) and not _LOOKS_HASHED.fullmatch(base):
        return base
    slug = re.sub(r"[^a-z0-9_]+", "-", base.lower()).strip("-_")[:32].strip("-_")
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


def unit_name(name: str = "") -> str:
    return f"warpcli-{name}.service" if name else UNIT_NAME


def unit_path(name: str = "") -> str:
    return f"etc/systemd/system/{unit_name(name)}"


def manifest_path(name: str = "") -> str:
    return f"{MANIFEST_DIR}/install-manifest-{name}.json" if name else MANIFEST_PATH


def managed(name: str = "") -> tuple[str, ...]:
    """The root-relative files the install of connector ``name`` writes."""
    return (unit_path(name), *SHARED)


# -- file contents (pure) --------------------------------------------------------------
def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise InvalidInput(f"{value!r} cannot go into a unit file (it has a line break)")
    return value


def _quoted(value: str) -> str:
    """A double-quoted unit-file word: C escapes for backslash and quote, %% for a literal %."""
    text = _one_line(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"'


def _exec_word(path: str) -> str:
    """The program of an Exec*= line: also $ is special there (variable expansion)."""
    if re.fullmatch(r"[A-Za-z0-9_./+:@,=-]+", path):
        return path
    return _quoted(path).replace("$", "$$")


def _environment_line(name: str, value: str) -> str:
    return f"Environment={_quoted(f'{name}={value}')}"


def service_environment(settings: Any, config_file: Mapping[str, Any]) -> dict[str, str]:
    """``WARPCLI_*`` variables that make the service see the same settings as this run.

    The service runs as root with an empty environment, so it would use ``/etc/warpcli``,
    then config.toml there, then the root defaults. A variable is emitted only where this
    run's value differs from that: a ``--config-dir``/``--state-dir`` flag, a ``WARPCLI_*``
    variable, or a non-root default.
    """
    from warpcli.core.settings import KEYS

    env: dict[str, str] = {}
    config_dir = str(Path(settings.config_dir).absolute())
    if config_dir != SERVICE_CONFIG_DIR:
        env["WARPCLI_CONFIG_DIR"] = config_dir
    for key, (var, kind) in KEYS.items():
        value = getattr(settings, key, None)
        if value is None:
            continue
        here = str(Path(value).absolute()) if key.endswith("_dir") else str(kind(value))
        there = config_file.get(key, SERVICE_DEFAULTS.get(key))
        there = None if there is None else (str(Path(there).expanduser().absolute()) if key.endswith("_dir")
                                            else str(kind(there)))
        if here != there:
            env[var] = here
    return env


def unit_text(exe: str, environment: Mapping[str, str], name: str = "") -> str:
    """The unit of connector ``name`` ("" the default one; another starts after it, so the
    default connector takes slot 0 at boot)."""
    env_lines = "".join(_environment_line(k, v) + "\n" for k, v in environment.items())
    word = _exec_word(exe)
    of = f" of {name}" if name else ""
    after = f"network-online.target {UNIT_NAME}" if name else "network-online.target"
    return (
        "# Written by `warpcli install`; `warpcli uninstall` removes it.\n"
        f"# For local changes use a drop-in (`systemctl edit {unit_name(name)}`), not this file.\n"
        "[Unit]\n"
        f"Description=warpcli connector{of}: WireGuard tunnel and routes to the hub\n"
        "Wants=network-online.target\n"
        f"After={after}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"{env_lines}"
        f"ExecStart={word} up\n"
        f"ExecReload={word} up\n"
        f"ExecStop={word} down\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def sysctl_text() -> str:
    return (
        "# Written by `warpcli install`: a connector forwards packets between its LAN and the tunnel.\n"
        "# `warpcli uninstall` removes this file.\n"
        + "".join(f"{key} = 1\n" for key in FORWARDING)
    )


def rt_protos_text() -> str:
    return (
        "# Written by `warpcli install`: names the protocol of warpcli's routes and rules in `ip route`.\n"
        f"{ROUTE_PROTO} {ROUTE_PROTO_NAME}\n"
    )


def contents(exe: str, environment: Mapping[str, str], name: str = "") -> dict[str, bytes]:
    """Root-relative path -> bytes, for every file the install of connector ``name`` manages."""
    return {
        unit_path(name): unit_text(exe, environment, name).encode(),
        SYSCTL_PATH: sysctl_text().encode(),
        RT_PROTOS_PATH: rt_protos_text().encode(),
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the manifest ----------------------------------------------------------------------
@dataclass
class InstallEntry:
    path: str  #: relative to the root
    sha256: str
    created: bool  #: install wrote it; False: an identical file was there before (kept by uninstall)


@dataclass
class Manifest:
    files: list[InstallEntry] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  #: created by install, relative to the root

    def entry(self, path: str) -> InstallEntry | None:
        return next((e for e in self.files if e.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        from warpcli import __version__

        return {
            "version": 1,
            "written_by": f"warpcli {__version__}",
            "files": [{"path": e.path, "sha256": e.sha256, "created": e.created} for e in self.files],
            "directories": sorted(self.directories),
        }


def _ancestors(relpaths: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for p in relpaths:
        out.update(str(a) for a in PurePosixPath(p).parents if str(a) != ".")
    return out


def _allowed_dirs(name: str = "") -> set[str]:
    return _ancestors([*managed(name), manifest_path(name)])


def load_manifest(root: Path, name: str = "") -> Manifest | None:
    """The manifest of connector ``name`` under ``root``; None when it is not installed there.

    Only the paths that install itself writes are accepted, so a tampered manifest can never
    make uninstall delete anything else.
    """
    path = root / manifest_path(name)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HostError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        data = None
    try:
        files = [InstallEntry(str(f["path"]), str(f["sha256"]), bool(f["created"])) for f in data["files"]]
        dirs = [str(d) for d in data["directories"]]
        if not all(e.path in managed(name) for e in files) or not set(dirs) <= _allowed_dirs(name):
            raise ValueError
    except (TypeError, KeyError, ValueError):
        raise ConfigError(
            f"{path} is not a valid install manifest", hint="remove the files listed in it by hand, and the manifest"
        ) from None
    return Manifest(files, dirs)


def load_manifests(root: Path) -> dict[str, Manifest]:
    """Every connector's manifest under ``root``, by name ("" the default connector's)."""
    try:
        names = sorted(os.listdir(root / MANIFEST_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise HostError(f"cannot read {root / MANIFEST_DIR}: {exc.strerror}") from None
    out: dict[str, Manifest] = {}
    for file_name in names:
        m = MANIFEST_FILE_RE.fullmatch(file_name)
        if m is None:
            continue
        manifest = load_manifest(root, m.group(1) or "")
        if manifest is not None:
            out[m.group(1) or ""] = manifest
    return out


def _unquote(word: str) -> str:
    """The inverse of :func:`_quoted`."""
    out, i, text = [], 0, word[1:-1]
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == "%" and text[i + 1:i + 2] == "%":
            out.append("%")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def unit_config_dir(text: str) -> str:
    """The config directory a unit install wrote runs its connector of."""
    prefix = 'Environment="WARPCLI_CONFIG_DIR='
    for line in text.splitlines():
        if line.startswith(prefix) and line.endswith('"'):
            return _unquote('"' + line[len(prefix):])
    return SERVICE_CONFIG_DIR


# -- writing ---------------------------------------------------------------------------
def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as exc:
        raise HostError(f"cannot read {path}: {exc.strerror}") from None


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    try:
        files.atomic_write(path, data, mode)
    except OSError as exc:
        raise HostError(f"cannot write {path}: {exc.strerror}") from None


def _missing_dirs(root: Path, relpaths: Sequence[str]) -> list[str]:
    """Ancestors of the given files that do not exist yet, parents first."""
    missing: list[str] = []
    for rel in relpaths:
        for anc in reversed(PurePosixPath(rel).parents):
            a = str(anc)
            if a != "." and a not in missing and not (root / a).exists():
                missing.append(a)
    return sorted(missing, key=lambda d: (d.count("/"), d))


def _mkdirs(root: Path, dirs: Sequence[str]) -> None:
    for d in sorted(dirs, key=lambda d: d.count("/")):
        try:
            os.mkdir(root / d, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise HostError(f"cannot create {root / d}: {exc.strerror}") from None


# -- systemctl -------------------------------------------------------------------------
class Systemctl:
    """Runs ``systemctl`` (the one on PATH). Only ever handed over for the live root."""

    def __init__(self, argv0: str = "systemctl") -> None:
        self.argv0 = argv0

    def run(self, *args: str, check: bool = True) -> bool:
        argv = [self.argv0, *args]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except OSError as exc:
            raise HostError(f"cannot run systemctl: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise HostError(f"`{' '.join(argv)}` did not finish in 900 s") from None
        if check and p.returncode != 0:
            why = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
            unit = next((a for a in reversed(args) if a.endswith(".service")), UNIT_NAME)
            raise HostError(f"`systemctl {' '.join(args)}` failed: {why}",
                            hint=f"see `journalctl -u {unit}`")
        return p.returncode == 0


# -- install ---------------------------------------------------------------------------
@dataclass
class InstallResult:
    root: Path
    changed: bool
    files: list[str]  #: absolute paths of every managed file
    written: list[str]  #: absolute paths written by this run
    replaced_edited: list[str]  #: written over a managed file that had been edited since
    manifest: str
    unit: str = UNIT_NAME  #: the systemd unit's name
    systemd: bool = False
    enabled: bool = False
    started: bool = False
    lines: list[str] = field(default_factory=list)  #: what happened, in order, for people

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "unit": self.unit, "changed": self.changed, "files": self.files,
                "written": self.written, "manifest": self.manifest, "systemd": self.systemd,
                "enabled": self.enabled, "started": self.started}


def _check_root_dir(root: Path) -> Path:
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory", hint="--root must name an existing directory")
    return root


def install(
    root: Path,
    files: Mapping[str, bytes],
    *,
    systemctl: Systemctl | None = None,
    start: bool = True,
    name: str = "",
) -> InstallResult:
    """Write ``files`` (root-relative path -> bytes) under ``root`` and record them in the
    manifest of connector ``name`` ("" the default connector).

    A file already there that no manifest records is refused unless identical (then it is
    adopted, and uninstall keeps it). A shared file another connector's manifest records is
    recorded here too, with the same ``created``, and so are the directories those manifests
    created that this one's files live in: whichever uninstall comes last removes them. With
    ``systemctl``: daemon-reload, enable (``--now``) the unit.
    """
    root = _check_root_dir(root)
    if not set(files) <= set(managed(name)):
        raise ValueError(f"not files of {unit_name(name)}: {sorted(set(files) - set(managed(name)))}")
    mpath = manifest_path(name)
    others = load_manifests(root)
    prev = others.pop(name, None)
    mine = [prev] if prev is not None else []

    def recorded(rel: str, manifests: Sequence[Manifest]) -> list[InstallEntry]:
        return [e for m in manifests if (e := m.entry(rel)) is not None]

    current = {rel: _read(root / rel) for rel in files}
    foreign = [
        str(root / rel) for rel, data in files.items()
        if current[rel] is not None and current[rel] != data and not recorded(rel, [*mine, *others.values()])
    ]
    if foreign:
        raise Conflict(f"{', '.join(foreign)} exists and was not written by warpcli",
                       hint="move it away and run install again")
    to_write = [rel for rel, data in files.items() if current[rel] != data]
    entries = []
    for rel, data in files.items():
        old = prev.entry(rel) if prev else None
        theirs = recorded(rel, list(others.values()))
        if old is not None:
            created = old.created
        elif theirs and current[rel] is not None:  # another connector's install wrote (or adopted) it
            created = any(e.created for e in theirs)
        else:
            created = current[rel] is None
        entries.append(InstallEntry(rel, sha256(data), created))
    edited = []  # managed files changed by someone since an install wrote them: replaced, with a warning
    for rel in to_write:
        known = {e.sha256 for e in recorded(rel, [*mine, *others.values()])}
        current_data = current[rel]
        if known and current_data is not None and sha256(current_data) not in known:
            edited.append(str(root / rel))
    new_dirs = _missing_dirs(root, [*files, mpath])
    inherited = {d for m in others.values() for d in m.directories} & _ancestors([*files, mpath])
    manifest = Manifest(entries, sorted(set(prev.directories if prev else []) | set(new_dirs) | inherited))
    manifest_bytes = (json.dumps(manifest.to_dict(), indent=2) + "\n").encode()
    changed = bool(to_write) or _read(root / mpath) != manifest_bytes
    if changed:
        # the manifest first: whatever happens next, uninstall knows what may be there
        _mkdirs(root, [d for d in new_dirs if mpath.startswith(d + "/")])
        atomic_write(root / mpath, manifest_bytes)
        _mkdirs(root, new_dirs)
        for rel in to_write:
            atomic_write(root / rel, files[rel])
    result = InstallResult(
        root=root, changed=changed, files=[str(root / rel) for rel in files],
        written=[str(root / rel) for rel in to_write], replaced_edited=edited, manifest=str(root / mpath),
        unit=unit_name(name),
    )
    result.lines = [f"wrote {p}" for p in result.written]
    if systemctl is not None:
        result.systemd = True
        _enable(systemctl, result, start=start)
    return result


def _enable(systemctl: Systemctl, result: InstallResult, *, start: bool) -> None:
    def run(*args: str) -> None:
        systemctl.run(*args)
        result.lines.append("systemctl " + " ".join(args))

    if result.changed:
        run("daemon-reload")
    enabled = not result.changed and systemctl.run("is-enabled", "--quiet", result.unit, check=False)
    active = not result.changed and systemctl.run("is-active", "--quiet", result.unit, check=False)
    if not enabled or (start and not active):
        run("enable", *(["--now"] if start else []), result.unit)
        result.changed = True
    result.enabled = True
    result.started = start or active


# -- uninstall -------------------------------------------------------------------------
@dataclass
class UninstallResult:
    root: Path
    changed: bool
    unit: str = UNIT_NAME  #: the systemd unit's name
    removed: list[str] = field(default_factory=list)  #: files and directories removed
    kept: list[str] = field(default_factory=list)  #: files there before install, directories not empty
    shared: list[str] = field(default_factory=list)  #: files left for another connector's install
    systemd: bool = False
    lines: list[str] = field(default_factory=list)  #: what happened, in order, for people

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "unit": self.unit, "changed": self.changed, "removed": self.removed,
                "kept": self.kept, "shared": self.shared, "systemd": self.systemd}


def edited_files(root: Path, manifest: Manifest, skip: Collection[str] = ()) -> list[str]:
    """Files install wrote whose content has changed since (missing ones, and ``skip``, do not count)."""
    out = []
    for e in manifest.files:
        if e.path in skip:
            continue
        data = _read(root / e.path)
        if e.created and data is not None and sha256(data) != e.sha256:
            out.append(str(root / e.path))
    return out


def uninstall(root: Path, *, systemctl: Systemctl | None = None, force: bool = False,
              name: str = "") -> UninstallResult:
    """Remove what the install of connector ``name`` wrote (and the directories it created,
    when empty), except what another connector's manifest still records.

    Refuses (Conflict, nothing removed) when a file was edited since, unless ``force``.
    With ``systemctl``: ``disable --now`` the unit first, ``daemon-reload`` last.
    """
    root = _check_root_dir(root)
    others = load_manifests(root)
    manifest = others.pop(name, None)
    result = UninstallResult(root=root, changed=False, unit=unit_name(name), systemd=systemctl is not None)
    if manifest is None:
        return result
    shared_files = {e.path for m in others.values() for e in m.files}
    shared_dirs = {d for m in others.values() for d in m.directories}
    edited = edited_files(root, manifest, skip=shared_files)
    if edited and not force:
        raise Conflict(f"edited since `warpcli install` wrote it: {', '.join(edited)}; nothing was removed",
                       hint="pass --force to remove it anyway")
    unit = unit_path(name)
    if systemctl is not None and manifest.entry(unit) is not None and (root / unit).exists():
        systemctl.run("disable", "--now", result.unit)
        result.lines.append(f"systemctl disable --now {result.unit}")
    for e in manifest.files:
        path = root / e.path
        if e.path in shared_files:  # another connector's install needs it: the last uninstall removes it
            if path.exists():
                result.shared.append(str(path))
            continue
        if not e.created:
            if path.exists():
                result.kept.append(str(path))
            continue
        if _unlink(path):
            result.removed.append(str(path))
    if _unlink(root / manifest_path(name)):
        result.removed.append(str(root / manifest_path(name)))
    for d in sorted(set(manifest.directories) - shared_dirs, key=lambda d: (-d.count("/"), d)):
        try:
            os.rmdir(root / d)
            result.removed.append(str(root / d) + "/")
        except FileNotFoundError:
            pass
        except OSError:  # not empty: something else lives there now
            result.kept.append(str(root / d) + "/")
    result.lines.extend(f"removed {p}" for p in result.removed)
    if systemctl is not None:
        systemctl.run("daemon-reload")
        result.lines.append("systemctl daemon-reload")
    result.changed = True
    return result


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HostError(f"cannot remove {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class InstallOutcome:
    """What `install`/`uninstall` did, and on what kind of system (for the closing note)."""

    result: Any  #: an InstallResult or UninstallResult
    live: bool  #: ROOT is the running system
    systemd: bool  #: systemctl was used


def _own_unit(root: Path, name: str, config_dir: Path, what: str) -> None:
    """Refuse to re-point (or remove) an installed unit that runs another config directory's
    connector: ``warpcli.service`` is both ``/etc/warpcli``'s and that of the config directory
    warpcli uses without ``--config-dir`` (``WARPCLI_CONFIG_DIR``), which may differ."""
    if load_manifest(root, name) is None:
        return
    data = _read(root / unit_path(name))
    if data is None:
        return
    there, here = _abspath(unit_config_dir(data.decode(errors="replace"))), _abspath(config_dir)
    if there != here:
        raise Conflict(f"{root / unit_path(name)} runs the connector of {there}, not of {here}; nothing was {what}",
                       hint=f"pass that connector's config directory with --config-dir, or "
                            f"`warpcli --config-dir {shlex.quote(there)} uninstall` it first")


def install_connector(root: Path, settings: Any, *, start: bool = True) -> InstallOutcome:
    """`warpcli install`: check root and enrollment, then write the unit of this config
    directory's connector, the sysctl.d and rt_protos.d files (with the environment the
    settings need), enable and start the service where systemd runs."""
    from warpcli.core import enrollment
    from warpcli.core.errors import NotFound
    from warpcli.core.settings import CONFIG_FILE, read_toml, resolve_config_dir

    require_root_for_live_system(root)  # before anything is read: the one line a non-root user needs
    if enrollment.load_connector_config(settings.config_dir) is None:
        raise NotFound("this host is not enrolled", hint="run `warpcli enroll` first")
    name = connector_name(settings.config_dir, default=resolve_config_dir())
    environment = service_environment(settings, read_toml(settings.config_dir / CONFIG_FILE))
    files = contents(entry_point(), environment, name)
    root = _check_root_dir(root)
    _own_unit(root, name, settings.config_dir, "written")
    live = is_live_root(root)
    systemd = live and systemd_running()
    result = install(root, files, systemctl=Systemctl() if systemd else None, start=start, name=name)
    return InstallOutcome(result, live, systemd)


def uninstall_connector(root: Path, config_dir: Path | None = None, *, force: bool = False) -> InstallOutcome:
    """`warpcli uninstall`: stop and disable the service of this config directory's connector,
    remove what its `install` wrote (a shared file only when no other connector's install records it)."""
    from warpcli.core.settings import resolve_config_dir

    require_root_for_live_system(root, "uninstall")
    config_dir = resolve_config_dir(config_dir)
    name = connector_name(config_dir, default=resolve_config_dir())
    root = _check_root_dir(root)
    _own_unit(root, name, config_dir, "removed")
    live = is_live_root(root)
    systemd = live and systemd_running()
    return InstallOutcome(uninstall(root, systemctl=Systemctl() if systemd else None, force=force, name=name),
                          live, systemd)
