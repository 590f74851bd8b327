"""Commands that change the kernel say plainly that they need root (exit 6) and change nothing."""

from __future__ import annotations

import pytest

from tests.conftest import dump_state


@pytest.mark.parametrize("args", [["up"], ["down"], ["hub", "up", "--endpoint", "192.0.2.1:51820"],
                                  ["hub", "down"], ["route", "add", "10.1.0.0/24", "--table", "local",
                                                    "--via", "10.2.0.1"],
                                  ["route", "delete", "10.1.0.0/24", "--table", "local"]])
def test_kernel_commands_need_root(cli, paths, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("enroll", "--tunnel", "office", "--interface", "wcroot0").exit_code == 0
    before = dump_state(paths.state), (paths.config / "secrets.json").read_bytes()
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    r = cli(*args)
    assert r.exit_code == 6, (args, r.stderr)
    assert r.stderr == "warpcli: error: this needs root (CAP_NET_ADMIN) to change interfaces and routes; run it with sudo\n"
    assert (dump_state(paths.state), (paths.config / "secrets.json").read_bytes()) == before
