"""Enrollment through Cloudflare's own client, ``warp-cli``, for the cloudflare controller.

With Cloudflare the data plane to the edge is Cloudflare's WARP client; warpcli only
fetches the tunnel token, hands it to ``warp-cli connector new`` and connects, then
turns on IP forwarding as Cloudflare's WARP Connector guide requires.

``warp-cli`` takes the token only as a command-line argument, so it is briefly visible in
the process list while that command runs (README, "Cloudflare"). warpcli never prints,
logs or echoes it: warp-cli's own output is scrubbed of it before it is shown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from warpcli.host.errors import HostError

BINARY = "warp-cli"
INSTALL_HINT = (
    "install Cloudflare's WARP client (package cloudflare-warp from https://pkg.cloudflareclient.com/), "
    "then run this again"
)
#: warp-cli can wait on its daemon; never hang a pipeline
TIMEOUT = 120.0


class WarpClientMissing(HostError):
    """``warp-cli`` is not installed."""


class WarpClientFailed(HostError):
    """``warp-cli`` exited with an error."""


@dataclass(frozen=True)
class WarpClient:
    path: str

    @classmethod
    def find(cls, env_path: str | None = None) -> WarpClient:
        path = shutil.which(BINARY, path=env_path if env_path is not None else os.environ.get("PATH"))
        if path is None:
            raise WarpClientMissing(f"{BINARY} is not installed", hint=INSTALL_HINT)
        return cls(path)

    def _run(self, args: list[str], *, secret: str | None = None) -> str:
        argv = [self.path, "--accept-tos", *args]
        shown = " ".join([BINARY, "--accept-tos", *(a if a != secret else "<token>" for a in args)])
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False
            )
        except subprocess.TimeoutExpired:
            raise WarpClientFailed(f"`{shown}` did not finish within {TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise WarpClientFailed(f"cannot run {self.path}: {exc.strerror}") from None
        out = _scrub((proc.stdout or "") + (proc.stderr or ""), secret)
        if proc.returncode != 0:
            last = next((line.strip() for line in reversed(out.splitlines()) if line.strip()), "no output")
            raise WarpClientFailed(f"`{shown}` failed (exit {proc.returncode}): {last}")
        return out

    def connector_new(self, token: str) -> str:
        return self._run(["connector", "new", token], secret=token)

    def connect(self) -> str:
        return self._run(["connect"])


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "<token>") if secret else text


FORWARDING = {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1}


def enroll(ctrl, *, tunnel: str | None = None, token: str | None = None, client: WarpClient | None = None) -> dict:
    """Enroll this host in a Cloudflare tunnel with warp-cli; return what was done.

    Order matters for "bad input changes nothing": warp-cli is looked for, the tunnel
    and token checked, and root required before anything runs.
    """
    from warpcli.core import service
    from warpcli.core.errors import InvalidInput
    from warpcli.host.connector import require_root
    from warpcli.host.routing import sysctl

    client = client or WarpClient.find()
    if token is not None:
        t = ctrl.verify_tunnel_token(token)
    elif tunnel is not None:
        t = service.resolve_tunnel(ctrl, tunnel)
        token = ctrl.get_tunnel_token(t.id)
    else:
        raise InvalidInput("say which tunnel to enroll in", hint="--tunnel NAME, --token-file F, or the token on stdin")
    require_root()
    # forwarding first: it can be undone, a registration with Cloudflare cannot
    previous = sysctl.write_many(dict(FORWARDING))
    try:
        client.connector_new(token)
        client.connect()
    except BaseException:
        sysctl.write_many(dict(previous))
        raise
    return {
        "tunnel_id": t.id,
        "tunnel_name": t.name,
        "controller": ctrl.kind,
        "client": BINARY,
        "forwarding": {k: True for k in FORWARDING},
        "forwarding_was": {k: v == "1" for k, v in previous.items()},
    }
