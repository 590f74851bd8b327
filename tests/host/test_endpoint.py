"""The hub endpoint may be a host name: the no-lockout check resolves it (via /etc/hosts here)."""

from __future__ import annotations

import pytest

from warpcli.host.connector import endpoint_addresses
from warpcli.host.errors import HostError
from warpcli.host.routing.plan import find_shadowing


def test_literal_and_named_endpoints() -> None:
    assert endpoint_addresses("192.0.2.1:51820") == ["192.0.2.1"]
    assert endpoint_addresses("[2001:db8::1]:51820") == ["2001:db8::1"]
    named = endpoint_addresses("localhost:51820")
    assert "127.0.0.1" in named
    assert [s.reason for s in find_shadowing(["127.0.0.0/8"], endpoints=named)] == ["endpoint"] * len(
        [a for a in named if a.startswith("127.")])


def test_an_unresolvable_name_is_one_clear_error() -> None:
    with pytest.raises(HostError, match="cannot resolve the hub endpoint"):
        endpoint_addresses("no-such-host.invalid:51820")
