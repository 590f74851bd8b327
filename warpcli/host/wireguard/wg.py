"""Create, find, configure and remove a WireGuard interface in a network namespace.

Backends (the choice wg-quick makes): the kernel module through pyroute2 when
``ip link add type wireguard`` works, else the userspace ``wireguard-go`` started
in the foreground-safe mode (``WG_PROCESS_FOREGROUND=1``) under ``ip netns exec``
as a detached child whose PID is recorded in ``RUN_DIR/IFNAME.json``; it is
configured over its UAPI socket (:mod:`warpcli.host.wireguard.uapi`) and stopped by that PID.
wireguard-go's socket path does not depend on the namespace, so an interface
name must be unique on the machine.

Crash safety: the record is written *before* the interface is made (write-ahead), so a
kill at any instant leaves a record of everything that may exist. A userspace record
without a PID means "wireguard-go may have started": :func:`reclaim` finds it by its
command line and network namespace. Fault points (``WARPCLI_FAULT_KILL_AT``):
``wg-intent`` (record written, nothing made), ``wg-link`` (kernel link made),
``wg-spawned`` (wireguard-go started, its PID not yet recorded), ``wg-recorded``.
"""

from __future__ import annotations

import errno as E
import os
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from warpcli.core import faults
from warpcli.host.constants import WIREGUARD_SOCKET_DIR
from warpcli.host.errors import HostError, InterfaceInUse, NetlinkFailure, WireGuardMissing
from warpcli.host.routing import netns as ns
from warpcli.host.routing.netlink import Netlink
from warpcli.host.wireguard import uapi

USERSPACE = "userspace"
KERNEL = "kernel"
INSTALL_HINT = "install it: apt-get install wireguard-go"
_children: dict[int, subprocess.Popen] = {}  # wireguard-go processes this process started


@dataclass(frozen=True)
class WgInterface:
    ifname: str
    netns: str | None
    backend: str  #: "kernel" or "userspace"
    pid: int | None = None  #: wireguard-go's PID (userspace only)


def validate_ifname(ifname: str) -> str:
    from warpcli.core.names import validate_interface

    return validate_interface(ifname)


def find_wireguard_go(explicit: str | None = None) -> str:
    """The ``wireguard-go`` executable (``explicit``, ``$WARPCLI_WIREGUARD_GO`` or ``$PATH``)."""
    candidate = explicit or os.environ.get("WARPCLI_WIREGUARD_GO") or "wireguard-go"
    found = shutil.which(candidate)
    if not found:
        raise WireGuardMissing("wireguard-go is not installed and the kernel has no WireGuard module",
                               hint=INSTALL_HINT)
    return found


# --- the record of an interface warpcli created -----------------------------------------

def _state_path(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"{ifname}.json"


def _log_path(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"{ifname}.log"


def _write_state(run_dir: Path, iface: WgInterface) -> None:
    from warpcli.host.runstate import write_json

    write_json(_state_path(run_dir, iface.ifname), asdict(iface))


def _read_state(run_dir: Path, ifname: str) -> WgInterface | None:
    from warpcli.host.runstate import read_json

    data = read_json(_state_path(run_dir, ifname))
    if data is None:
        return None
    try:
        return WgInterface(data["ifname"], data["netns"], data["backend"], data.get("pid"))
    except (KeyError, TypeError):
        return None


def _forget(run_dir: Path, ifname: str) -> None:
    for p in (_state_path(run_dir, ifname), _log_path(run_dir, ifname)):
        p.unlink(missing_ok=True)


# --- processes ---------------------------------------------------------------------------

def process_alive(pid: int) -> bool:
    """True while ``pid`` runs. For a child of this process the answer is its exit status
    (collected here); for another process a zombie counts as gone. (A multi-threaded process's
    leader can show as a zombie while its other threads still run: only ``wait`` is sure.)"""
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    if state in ("Z", "X"):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def is_wireguard_go(pid: int, ifname: str) -> bool:
    """True when ``pid`` is a live ``wireguard-go IFNAME`` (guards against PID reuse)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    argv = [a.decode(errors="replace") for a in raw if a]
    return (process_alive(pid) and len(argv) >= 2 and os.path.basename(argv[0]).startswith("wireguard-go")
            and argv[-1] == ifname)


def _socket_answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _log_tail(run_dir: Path, ifname: str) -> str:
    try:
        lines = [line.strip() for line in _log_path(run_dir, ifname).read_text(errors="replace").splitlines()]
    except FileNotFoundError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


def _signal_and_wait(pid: int, ifname: str, timeout: float) -> None:
    from warpcli.host.processes import terminate

    if not terminate(pid, timeout, alive=process_alive, still_ours=lambda: is_wireguard_go(pid, ifname)):
        raise HostError(f"wireguard-go (pid {pid}) for {ifname} did not exit")


def _netns_inode(netns: str | None) -> int | None:
    try:
        return os.stat(ns.path(netns) if netns else "/proc/thread-self/ns/net").st_ino
    except OSError:
        return None


def wireguard_go_pids(ifname: str, netns: str | None) -> list[int]:
    """Every live ``wireguard-go IFNAME`` whose network namespace is ``netns``."""
    want = _netns_inode(netns)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino != want:
                continue
        except OSError:
            continue
        if is_wireguard_go(pid, ifname):
            found.append(pid)
    return found


def remove_stale_socket(ifname: str, socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> bool:
    """Remove IFNAME's UAPI socket file when no process listens on it (its wireguard-go was
    killed). A socket that answers belongs to a running wireguard-go and is left alone."""
    sock = uapi.socket_path(ifname, socket_dir)
    if not sock.exists() or _socket_answers(sock):
        return False
    try:
        sock.unlink()
    except OSError:
        return False
    return True


def has_record(ifname: str, *, netns: str | None, run_dir: Path) -> bool:
    """A record of this interface in this namespace exists (complete or written ahead)."""
    state = _read_state(Path(run_dir), ifname)
    return state is not None and state.netns == netns


def reclaim(ifname: str, *, netns: str | None, run_dir: Path, timeout: float = 10.0,
            socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> bool:
    """Remove what a killed run left of the interface it recorded (write-ahead) but did not
    finish: a wireguard-go whose PID never made it into the record, a kernel link made just
    before the kill, a dead wireguard-go's socket. Returns True when a record was cleared.

    Only acts on a record of this name and namespace whose interface is not usable
    (:func:`find_interface` is None): those things are provably warpcli's."""
    run_dir = Path(run_dir)
    state = _read_state(run_dir, ifname)
    if state is None or state.netns != netns or find_interface(ifname, netns=netns, run_dir=run_dir) is not None:
        return False
    with Netlink(netns) as nl:
        if state.backend == USERSPACE:
            for pid in wireguard_go_pids(ifname, netns):
                _signal_and_wait(pid, ifname, timeout)
                _children.pop(pid, None)
            if nl.link(ifname) is not None and not nl.wait_link(ifname, timeout, present=False):
                raise HostError(f"{ifname} still exists after its wireguard-go exited")
        elif nl.link(ifname) is not None:
            nl.delete_link(ifname)
    remove_stale_socket(ifname, socket_dir)
    _forget(run_dir, ifname)
    return True


# --- the interface -------------------------------------------------------------------

def find_interface(ifname: str, *, netns: str | None, run_dir: Path) -> WgInterface | None:
    """The interface warpcli created under this name, if it is still there (and running)."""
    state = _read_state(run_dir, ifname)
    if state is None or state.netns != netns:
        return None
    with Netlink(netns) as nl:
        if nl.link(ifname) is None:
            return None
    if state.backend == USERSPACE and not (state.pid and is_wireguard_go(state.pid, ifname)):
        return None
    return state


def create_interface(
    ifname: str,
    *,
    netns: str | None = None,
    run_dir: Path,
    backend: str = "auto",
    timeout: float = 10.0,
    wireguard_go: str | None = None,
    socket_dir: str | Path = WIREGUARD_SOCKET_DIR,
) -> WgInterface:
    """Create the interface, or return it when warpcli already created it (idempotent).

    Raises :class:`InterfaceInUse` when the name belongs to something else, and
    :class:`WireGuardMissing` when no backend is available.
    """
    validate_ifname(ifname)
    if backend not in ("auto", KERNEL, USERSPACE):
        raise ValueError(f"unknown WireGuard backend {backend!r}")
    ns.require(netns)
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise HostError(f"cannot use the run directory {run_dir} ({exc.strerror})",
                        hint="check WARPCLI_RUN_DIR / run_dir") from None
    existing = find_interface(ifname, netns=netns, run_dir=run_dir)
    if existing is not None:
        return existing
    with Netlink(netns) as nl:
        if nl.link(ifname) is not None:
            raise InterfaceInUse(f"an interface named {ifname} already exists"
                                 + (f" in namespace {netns}" if netns else ""),
                                 hint="choose another interface name")
        if _socket_answers(uapi.socket_path(ifname, socket_dir)):
            raise InterfaceInUse(f"a wireguard-go interface named {ifname} runs in another namespace",
                                 hint="interface names must be unique on this machine")
        remove_stale_socket(ifname, socket_dir)
        if backend in ("auto", KERNEL):
            iface = WgInterface(ifname, netns, KERNEL)
            _write_state(run_dir, iface)  # write-ahead: a kill from here on leaves the record
            faults.point("wg-intent")
            try:
                nl.add_link(ifname, "wireguard")
            except NetlinkFailure as exc:
                _forget(run_dir, ifname)
                if exc.errno not in (E.EOPNOTSUPP, E.ENODEV, E.EINVAL) or backend == KERNEL:
                    raise
            else:
                faults.point("wg-link")
                return iface
    return _start_userspace(ifname, netns, run_dir, timeout, find_wireguard_go(wireguard_go), socket_dir)


def _start_userspace(ifname: str, netns: str | None, run_dir: Path, timeout: float, exe: str,
                     socket_dir: str | Path) -> WgInterface:
    env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="error")
    _write_state(run_dir, WgInterface(ifname, netns, USERSPACE))  # write-ahead: no PID yet
    faults.point("wg-intent")
    with open(_log_path(run_dir, ifname), "wb") as log:
        proc = subprocess.Popen(
            ns.exec_argv(netns, [exe, ifname]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, close_fds=True,
        )
    _children[proc.pid] = proc
    faults.point("wg-spawned")
    iface = WgInterface(ifname, netns, USERSPACE, proc.pid)
    _write_state(run_dir, iface)  # before waiting: a crash from here on leaves a PID to stop
    faults.point("wg-recorded")
    sock = uapi.socket_path(ifname, socket_dir)
    deadline = time.monotonic() + timeout
    with Netlink(netns) as nl:
        while True:
            if proc.poll() is not None:
                tail = _log_tail(run_dir, ifname)
                _children.pop(proc.pid, None)
                _forget(run_dir, ifname)
                raise HostError(f"wireguard-go exited with status {proc.returncode} while creating {ifname}"
                                + (f": {tail}" if tail else ""))
            if _socket_answers(sock) and nl.wait_link(ifname, 0):
                return iface
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                _children.pop(proc.pid, None)
                _forget(run_dir, ifname)
                raise HostError(f"wireguard-go did not bring up {ifname} within {timeout:g}s")
            time.sleep(0.02)


def delete_interface(ifname: str, *, netns: str | None, run_dir: Path, timeout: float = 10.0) -> bool:
    """Remove the interface warpcli created (stop its wireguard-go by PID, or delete the kernel
    link). Returns False when there was nothing of warpcli's to remove. Never touches an
    interface of that name that warpcli did not create."""
    run_dir = Path(run_dir)
    state = _read_state(run_dir, ifname)
    if state is None or state.netns != netns:
        return False
    with Netlink(netns) as nl:
        if state.backend == USERSPACE:
            # the recorded PID, and any wireguard-go of this name here (a kill before its PID was
            # recorded: the record was written ahead, so it is ours)
            pids = {state.pid} if state.pid else set()
            pids.update(wireguard_go_pids(ifname, netns))
            for pid in sorted(pids):
                _signal_and_wait(pid, ifname, timeout)
                _children.pop(pid, None)
            # wireguard-go removes its TUN device as it exits
            if not nl.wait_link(ifname, timeout, present=False):
                raise HostError(f"{ifname} still exists after wireguard-go exited")
        elif state.backend == KERNEL and nl.link(ifname) is not None:
            nl.delete_link(ifname)
    faults.point("wg-deleted")
    remove_stale_socket(ifname)
    _forget(run_dir, ifname)
    return True


def configure(iface: WgInterface, private_key: str | None = None, listen_port: int | None = None,
              peers=(), *, replace_peers: bool = True, fwmark: int | None = None,
              socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> None:
    """Set keys, port and peers (:class:`~warpcli.host.wireguard.uapi.PeerConfig`) on either backend."""
    if iface.backend == KERNEL:
        from warpcli.host.wireguard import wg_kernel

        wg_kernel.set_device(iface.ifname, iface.netns, private_key=private_key, listen_port=listen_port,
                             peers=tuple(peers), replace_peers=replace_peers, fwmark=fwmark)
    else:
        uapi.UapiClient(iface.ifname, socket_dir=socket_dir).set_device(
            private_key, listen_port, tuple(peers), replace_peers=replace_peers, fwmark=fwmark)


def sync_peers(iface: WgInterface, private_key: str | None = None, listen_port: int | None = None,
               peers=(), *, fwmark: int | None = None, socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> None:
    """Make the peers exactly ``peers``, updating in place: peers that stay keep their session
    and their learned endpoint. (A hub learns its connectors' endpoints only from their
    handshakes: replacing all peers would leave it unable to reach them until each one
    sends again.)"""
    current = {p.public_key for p in show(iface, socket_dir=socket_dir).peers}
    wanted = {p.public_key for p in peers}
    removals = tuple(uapi.PeerConfig(key, remove=True) for key in sorted(current - wanted))
    configure(iface, private_key, listen_port, tuple(peers) + removals, replace_peers=False, fwmark=fwmark,
              socket_dir=socket_dir)


def show(iface: WgInterface, *, socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> uapi.DeviceStatus:
    if iface.backend == KERNEL:
        from warpcli.host.wireguard import wg_kernel

        return wg_kernel.get_device(iface.ifname, iface.netns)
    return uapi.UapiClient(iface.ifname, socket_dir=socket_dir).get_device()
