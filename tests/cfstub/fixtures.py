"""``cf_server(tmp_path)`` and the pytest fixture ``cf_api``: a started, checked stand-in.

Use the fixture in a test module with ``from tests.cfstub.fixtures import cf_api  # noqa: F401``.
At teardown the test fails if the contract was violated or a queued fault was never
consumed; a test that provokes violations on purpose takes them with
``cf_api.take_violations()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cfstub.server import CloudflareStandIn


@contextmanager
def cf_server(tmp_path: Path, *, check: bool = True) -> Iterator[CloudflareStandIn]:
    """A started stand-in with its state under ``tmp_path/cf-state``; stopped on exit.

    With ``check`` (the default), leaving the block raises AssertionError listing
    every contract violation and unconsumed fault (not when the block itself raised).
    """
    stand_in = CloudflareStandIn(tmp_path / "cf-state")
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
    if check:
        problems = stand_in.problems()
        assert not problems, "the Cloudflare stand-in saw problems:\n  " + "\n  ".join(problems)


@pytest.fixture
def cf_api(tmp_path: Path) -> Iterator[CloudflareStandIn]:
    """A contract-checked Cloudflare API stand-in on 127.0.0.1 (see tests/cfstub/server.py)."""
    with cf_server(tmp_path) as stand_in:
        yield stand_in
