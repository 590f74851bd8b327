"""The follow loop: reconcile on every change of the version, never in between, stop at once."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core.errors import InvalidInput, Unavailable
from warpcli.core.follow import follow


class Script:
    """A version sequence played one value per poll; the last poll sets the stop event."""

    def __init__(self, versions: list[object], stop: threading.Event) -> None:
        self.versions = list(versions)
        self.stop = stop
        self.i = 0

    def __call__(self) -> object:
        v = self.versions[self.i]
        self.i += 1
        if self.i == len(self.versions):
            self.stop.set()
        if isinstance(v, Exception):
            raise v
        return v


@given(st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_reconciles_exactly_when_the_version_changes(versions: list[int]) -> None:
    stop = threading.Event()
    seen: list[int] = []
    script = Script(versions, stop)
    stats = follow(lambda: script.versions[script.i - 1], script, interval=1e-6, stop=stop, on_result=seen.append)
    expected = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert seen == expected
    assert stats.polls == len(versions) and stats.reconciles == len(expected)


def test_an_unreachable_controller_is_reported_and_retried() -> None:
    stop = threading.Event()
    errors: list[str] = []
    results: list[int] = []
    script = Script([1, Unavailable("down"), 1, 2], stop)
    follow(lambda: len(results) + 1, script, interval=1e-6, stop=stop, on_result=results.append,
           on_error=lambda e: errors.append(str(e)))
    assert errors == ["down"] and results == [1, 2]


def test_a_failed_reconcile_is_tried_again_at_the_same_version() -> None:
    stop = threading.Event()
    calls = []

    def reconcile() -> str:
        calls.append(1)
        if len(calls) == 2:
            raise InvalidInput("a bad route from the controller")
        return "ok"

    follow(reconcile, Script([7, 8, 8, 8], stop), interval=1e-6, stop=stop)
    assert len(calls) == 3  # ok at 7, failed at 8, ok at 8, then nothing to do


def test_an_error_that_waiting_cannot_fix_ends_the_first_round() -> None:
    stop = threading.Event()

    def reconcile() -> None:
        raise InvalidInput("this host is not enrolled")

    with pytest.raises(InvalidInput):
        follow(reconcile, lambda: 1, interval=1e-6, stop=stop)


def test_an_unreachable_controller_at_start_is_waited_out() -> None:
    stop = threading.Event()
    script = Script([Unavailable("down"), Unavailable("down"), 1], stop)
    stats = follow(lambda: "ok", script, interval=1e-6, stop=stop)
    assert stats.errors == 2 and stats.reconciles == 1


def test_stop_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    t = threading.Thread(target=follow, args=(lambda: None, lambda: 1), kwargs={"interval": 3600, "stop": stop})
    t.start()
    stop.set()
    t.join(timeout=10)
    assert not t.is_alive()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        follow(lambda: None, lambda: 1, interval=0, stop=threading.Event())


def test_the_state_version_moves_with_routes_connectors_and_the_hub(tmp_path) -> None:
    from warpcli.controllers.local import LocalController
    from warpcli.core.cidr import parse_network
    from warpcli.secret_stores import open_secret_store

    ctrl = LocalController(tmp_path, secrets=lambda: open_secret_store("file", tmp_path))
    try:
        staging = ctrl.create_virtual_network("staging").id
        versions = [ctrl.state_version(None)]
        t = ctrl.create_tunnel("office")
        assert ctrl.state_version(None) == versions[-1], "a tunnel without routes changes nothing to route"
        r = ctrl.create_route(parse_network("10.0.0.0/24"), t.id)
        versions.append(ctrl.state_version(None))
        other = ctrl.state_version(staging)
        ctrl.create_route(parse_network("10.9.0.0/24"), t.id, virtual_network_id=staging)
        assert ctrl.state_version(None) == versions[-1], "another vnet's route is not this vnet's business"
        assert ctrl.state_version(staging) != other
        ctrl.update_route(r.id, network=parse_network("10.0.1.0/24"))
        versions.append(ctrl.state_version(None))
        ctrl.register_connector(t.id, "A" * 43 + "=")
        versions.append(ctrl.state_version(None))
        ctrl.register_hub("B" * 43 + "=", "192.0.2.1:51820")
        versions.append(ctrl.state_version(None))
        ctrl.register_hub("B" * 43 + "=", "192.0.2.1:51821")
        versions.append(ctrl.state_version(None))
        ctrl.delete_route(r.id)
        versions.append(ctrl.state_version(None))
        assert len(set(versions)) == len(versions), versions
    finally:
        ctrl.close()
