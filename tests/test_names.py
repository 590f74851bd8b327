"""Interface names: one rule for `enroll --interface`, `hub up --interface` and the WireGuard layer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import assert_one_line_error, dump_state
from warpcli.core.errors import InvalidInput
from warpcli.core.names import validate_interface
from warpcli.host.wireguard.wg import validate_ifname

ORACLE = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=20) | st.from_regex(ORACLE, fullmatch=True))
def test_both_layers_apply_the_same_rule(name: str) -> None:
    ok = bool(ORACLE.fullmatch(name)) and name not in (".", "..")
    for check in (validate_interface, validate_ifname):
        if ok:
            assert check(name) == name
        else:
            with pytest.raises(InvalidInput):
                check(name)


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 16, "eth 0", "wg/0", "wg0\n", "wğ0"])
def test_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="interface name"):
        validate_interface(name)


def test_names_and_comments_that_would_break_scripts_or_terminals(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    for args in (["vnet", "add", "all"], ["route", "add", "10.0.0.0/24", "--comment", "\x1b[31mred\x1b[0m"],
                 ["vnet", "add", "ok", "--comment", "bell\x07"]):
        r = cli(*args)
        assert_one_line_error(r, 2)
    assert dump_state(paths.state) == before
