"""`routes import` streamed: rows staged in SQL, checked in SQL, reported as before.

The oracle for the report is ``bulk.refuse_bad_rows``, the Python check the other
controllers use: for any mix of rejected rows, duplicates and clashes with existing
routes, the local store's SQL check lists the same problems.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warpcli.controllers.local import LocalController
from warpcli.core import bulk
from warpcli.core.cidr import parse_network
from warpcli.core.controller import RouteSpec
from warpcli.core.errors import BulkImportError
from warpcli.secret_stores import open_secret_store


def _store(state: Path, **kw) -> LocalController:
    return LocalController(state, secrets=lambda: open_secret_store("file", state), **kw)


def test_other_writers_are_not_held_up_while_the_rows_stream(tmp_path: Path) -> None:
    """The rows go to a temporary table with no lock on the state: a write by another
    connection in the middle of the stream goes through at once (lock timeout 0)."""
    state = tmp_path / "s"
    with _store(state) as c, _store(state, lock_timeout=0) as other:
        t = c.create_tunnel("t")
        vnet = c.list_virtual_networks()[0].id
        done = []

        def specs():
            for i in range(200):
                if i == 100:
                    done.append(other.create_tunnel("other").id)
                yield RouteSpec(parse_network(f"10.0.{i}.0/24"), t.id, vnet, "", i + 1)

        assert c.import_routes(specs()) == 200
        assert done and len(list(c.list_routes())) == 200
        assert len({r.id for r in c.list_routes()}) == 200


NETS = [f"10.0.{i}.0/24" for i in range(6)] + ["2001:db8::/64", "2001:db8:1::/64"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("imp") / "s"
    with _store(state) as c:
        t = c.create_tunnel("t")
        other = c.create_virtual_network("other")
        default = c.list_virtual_networks(is_default=True)[0]
        c.create_route(parse_network(NETS[0]), t.id)
        c.create_route(parse_network(NETS[6]), t.id, virtual_network_id=other.id)
        gone = c.create_route(parse_network(NETS[1]), t.id, virtual_network_id=default.id)
        c.delete_route(gone.id)  # a deleted route clashes with nothing
    return state


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(NETS), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_the_sql_check_reports_what_the_python_check_does(base: Path, rows) -> None:
    with _store(base) as c:
        tid = c.list_tunnels()[0].id
        vnets = [v.id for v in c.list_virtual_networks()]
        specs, rejected = [], []
        for n, (net, in_other, bad) in enumerate(rows, 1):
            if bad and n % 3 == 0:
                rejected.append({"row": n, "network": "x", "reason": "not a CIDR"})
                continue
            specs.append(RouteSpec(parse_network(net), tid, vnets[int(in_other)], "", n))
        try:
            bulk.refuse_bad_rows(c, specs, rejected)
            want = None
        except BulkImportError as exc:
            want = exc.problems
        before = [r.id for r in c.list_routes(_all())]
        try:
            c.import_routes(iter(specs), rejected=list(rejected))
            got = None
        except BulkImportError as exc:
            got = exc.problems
            assert not exc.conflict or not rejected
        if want is not None:
            assert got == want
            assert [r.id for r in c.list_routes(_all())] == before
        else:  # good rows (but maybe clashes): the store's own verdict, and nothing half done
            now = [r.id for r in c.list_routes(_all())]
            assert now == before if got is not None else len(now) == len(before) + len(specs)
            if got is None:  # undo, so that the next example starts from the same state
                for r in c.list_routes():
                    if r.id not in before:
                        c.conn.execute("DELETE FROM routes WHERE id = ?", (r.id,))


def _all():
    from warpcli.core.model import RouteFilter

    return RouteFilter(is_deleted=None)
