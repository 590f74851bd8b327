"""Interface names: one rule for `enroll --interface`, `hub up --interface` and the WireGuard layer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core.errors import InvalidInput
from warpcli.core.names import validate_interface
from warpcli.host.wg import validate_ifname

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
