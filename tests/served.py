"""``ServedController``: a real ``warpcli controller serve`` subprocess on 127.0.0.1, for tests.

    with ServedController(state_dir) as served:   # token created, server listening
        requests.get(served.url + "/user/tokens/verify", headers=served.headers)
    served.log_lines()                             # the server's stderr, parsed (logfmt)

An API token is made first with ``warpcli controller token create --json``; the server
listens on a free port (``--listen 127.0.0.1:0``) and says where on stdout (``--json``).
Leaving the block sends SIGTERM and requires a clean exit (status 0) within a bound.
The server's stderr goes to a file (an unread pipe could fill up and block the server).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import WARPCLI

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """One logfmt line as a dict; raises ValueError if anything but ``key=value`` pairs is in it."""
    out: dict[str, str] = {}
    pos = 0
    for m in _PAIR.finditer(line):
        if line[pos:m.start()].strip():
            raise ValueError(f"not logfmt at {pos}: {line!r}")
        key, value = m.group(1), m.group(2)
        out[key] = json.loads(value) if value.startswith('"') else value
        pos = m.end()
    if line[pos:].strip() or not out:
        raise ValueError(f"not logfmt: {line!r}")
    return out


def create_token(state_dir: Path, name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``warpcli controller token create --name NAME --json`` as a real process."""
    p = subprocess.run(
        [WARPCLI, "controller", "token", "create", "--name", name, "--state-dir", str(state_dir), "--json"],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _read_json_object(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    """The first JSON document on the process's stdout, waiting at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    text = ""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            try:
                return json.loads(text)
            except ValueError:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError(f"controller serve did not say where it listens within {timeout} s")
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            if not chunk:
                raise AssertionError(f"controller serve exited early ({proc.wait(5)})")
            text += chunk


class ServedController:
    def __init__(self, state_dir: Path, *, log_file: Path | None = None, token_name: str = "tests",
                 extra_args: tuple[str, ...] = (), verify: str | bool = True) -> None:
        self.state_dir = Path(state_dir)
        self.log_file = log_file or self.state_dir.with_name(self.state_dir.name + "-serve.log")
        self.token_name = token_name
        self.extra_args = extra_args
        self.verify = verify  # for HTTPS: the CA file that vouches for the server's certificate
        self.proc: subprocess.Popen | None = None
        self.token = ""
        self.token_id = ""
        self.account_id = ""
        self.url = ""
        self.info: dict[str, Any] = {}
        self.returncode: int | None = None

    def start(self) -> ServedController:
        made = create_token(self.state_dir, self.token_name)
        self.token, self.token_id, self.account_id = made["token"], made["id"], made["account_id"]
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                [WARPCLI, "controller", "serve", "--listen", "127.0.0.1:0", "--state-dir", str(self.state_dir),
                 "--json", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=dict(os.environ),
            )
        try:
            info = _read_json_object(self.proc, START_TIMEOUT)
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{exc}; its stderr:\n{self.log_text()}") from None
        except BaseException:
            self.kill()
            raise
        assert info["account_id"] == self.account_id, info
        self.info = info  # what `serve --json` printed
        self.url = info["url"]
        self._check_token()
        return self

    def _check_token(self) -> None:
        """One verified request: the token works, and its ``last_used_at`` is noted now, before
        any test snapshots the state (the server writes it at most once an hour)."""
        import requests

        resp = requests.get(f"{self.url}/user/tokens/verify", headers=self.headers, timeout=30, verify=self.verify)
        assert resp.status_code == 200, resp.text

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it; the exit status (0 is a clean shutdown)."""
        if self.proc is None:
            return self.returncode if self.returncode is not None else 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"controller serve did not stop within {STOP_TIMEOUT} s of {sig}") from None
        self.proc.stdout.close()
        self.proc = None
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> ServedController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        code = self.stop()
        if exc[0] is None:
            assert code == 0, f"controller serve exited {code}:\n{self.log_text()}"

    # -- what tests use -----------------------------------------------------------
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def account_url(self, path: str = "") -> str:
        return f"{self.url}/accounts/{self.account_id}{path}"

    @property
    def env(self) -> dict[str, str]:
        """The environment that points warpcli's cloudflare controller at this server."""
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": self.url,
                "CLOUDFLARE_ACCOUNT_ID": self.account_id, "CLOUDFLARE_API_TOKEN": self.token}

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def log_lines(self) -> list[dict[str, str]]:
        """Every stderr line of the server, parsed (ValueError if one is not logfmt)."""
        return [parse_logfmt(line) for line in self.log_text().splitlines() if line.strip()]

    def access_log(self) -> list[dict[str, str]]:
        return [x for x in self.log_lines() if x.get("logger") == "warpcli.server.access"]

    def problems(self) -> list[str]:
        """What the shared suites check after every served test: a clean log, no 5xx, no token."""
        out = []
        text = self.log_text()
        if self.token and self.token in text:
            out.append("the API token is in the server's log")
        try:
            lines = self.log_lines()
        except ValueError as exc:
            return [*out, str(exc)]
        for x in lines:
            if x.get("logger") == "warpcli.server.access" and x.get("status", "").startswith("5"):
                out.append(f"5xx answer: {x}")
            elif x.get("level") in ("error", "critical"):
                out.append(f"error in the server's log: {x}")
        return out
