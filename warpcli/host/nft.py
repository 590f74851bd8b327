"""Running ``nft`` (nftables) in a network namespace: one place for how it is found, run and how
its failure reads (the MSS clamp and the network policies both use it)."""

from __future__ import annotations

import shutil
import subprocess

from warpcli.host.errors import HostError
from warpcli.host.routing.netns import exec_argv


def run_nft(netns: str | None, args: list[str], stdin: str | None = None, *, needed_for: str,
            check: bool = True, timeout: float = 30) -> str | None:
    """``nft ARGS`` (with ``stdin`` as its script); its stdout. A failure is one HostError line
    (its first stderr line), or None with ``check=False``. ``needed_for`` names what needs nftables
    when it is not installed (``"network policies need nftables"``)."""
    exe = shutil.which("nft")
    if exe is None:
        raise HostError(f"nft is not installed: {needed_for}", hint="apt-get install nftables")
    try:
        p = subprocess.run(exec_argv(netns, [exe, *args]), input=stdin, capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostError(f"nft failed: {exc}") from None
    if p.returncode != 0:
        if not check:
            return None
        reason = (p.stderr.strip().splitlines() or ["failed"])[0]
        raise HostError(f"nft: {reason}")
    return p.stdout
