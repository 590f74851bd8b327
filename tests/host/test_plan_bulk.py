"""Routes in bulk through ``plan.apply`` (``execute_routes``), and the cost of ``diff``.

The batching stand-in behaves like the kernel with a batch of netlink requests: every
request of the batch is handled, in order, whatever became of the ones before it; a
route to delete that is already gone is "nothing to do". Rollback must then undo what
the batch did after the refused route too.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.host.test_plan import MemoryKernel, same, states
from warpcli.host.errors import ApplyError, HostError
from warpcli.host.model import HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing.plan import Action, KernelOutcome, KernelPlan, apply, diff, rollback


class BatchingKernel(MemoryKernel):
    """``MemoryKernel`` with ``execute_routes``: one call per run of route actions."""

    def __init__(self, state: HostState, fail_on=lambda action: False) -> None:
        super().__init__(state, fail_on)
        self.batches: list[tuple[str, int]] = []

    def execute_routes(self, actions: list[Action]) -> list[KernelOutcome]:
        assert actions and all(isinstance(a.obj, KernelRoute) and a.op == actions[0].op for a in actions)
        self.batches.append((actions[0].op, len(actions)))
        out = []
        for a in actions:
            if a.op == "delete" and a.obj not in self.routes and not self.fail_on(a):
                out.append(KernelOutcome(a, changed=False))  # already gone (ESRCH)
                continue
            try:
                self.execute(a)
            except HostError as exc:
                out.append(KernelOutcome(a, exc))
            else:
                out.append(KernelOutcome(a))
        return out


def _routes(n: int, table: int = 24500, ifname: str = "wg0") -> list[KernelRoute]:
    return [KernelRoute(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32", table=table, ifname=ifname)
            for i in range(n)]


@given(states(observed=False), states(observed=True))
def test_batched_apply_converges_like_one_by_one(desired, observed):
    one, bulk = MemoryKernel(observed), BatchingKernel(observed)
    plan = diff(desired, observed)
    apply(plan, one)
    apply(plan, bulk)
    assert same(one.state(), bulk.state())
    assert diff(desired, bulk.state()).empty
    assert sum(n for _, n in bulk.batches) == sum(1 for a in plan if isinstance(a.obj, KernelRoute))


@given(states(observed=False), states(observed=True), st.integers(min_value=0, max_value=40))
def test_a_refused_action_in_or_out_of_a_batch_restores_the_initial_state(desired, observed, k):
    plan = diff(desired, observed)
    if plan.empty:
        return
    failing = plan.actions[k % len(plan)]
    kernel = BatchingKernel(observed, fail_on=lambda a: a is failing)
    with pytest.raises(ApplyError) as err:
        apply(plan, kernel)
    assert err.value.failed is failing
    assert err.value.rollback_errors == []
    assert "Network is unreachable" in str(err.value)
    assert same(kernel.state(), MemoryKernel(observed).state())


def test_one_call_per_run_of_routes_and_the_routes_after_a_refusal_are_undone():
    observed = HostState(links=[LinkState("wg0", 1280, True)], routes=_routes(5, table=24501))
    desired = HostState(links=[LinkState("wg0", 1280, True)], routes=_routes(100),
                        rules=[KernelRule(24510, 24500)])
    plan = diff(desired, observed)
    ok = BatchingKernel(observed)
    apply(plan, ok)
    assert ok.batches == [("delete", 5), ("add", 100)]

    bad = plan.actions[5 + 40]  # the 41st route added
    kernel = BatchingKernel(observed, fail_on=lambda a: a is bad)
    with pytest.raises(ApplyError) as err:
        apply(plan, kernel)
    # the batch went on past the refusal: its 99 other routes are undone, as are the 5 deletions
    assert len(err.value.rolled_back) == 99 + 5
    assert str(err.value).startswith(f"{bad.describe()} failed: Network is unreachable; rolled back 104")
    assert kernel.batches == [("delete", 5), ("add", 100), ("delete", 99), ("add", 5)]
    assert same(kernel.state(), MemoryKernel(observed).state())


def test_a_route_already_gone_is_nothing_to_do_and_not_undone():
    gone = KernelRoute("10.9.0.0/24", table=24500, ifname="wg0")
    kernel = BatchingKernel(HostState())
    applied = apply(KernelPlan((Action("delete", gone), Action("add", _routes(1)[0]))), kernel)
    assert applied == [Action("add", _routes(1)[0])]
    undone, errors = rollback(applied, kernel)
    assert errors == [] and len(undone) == 1 and kernel.state().routes == []


class _Counting:
    """Counts reads of ``KernelRoute.key``: the work of a route diff, independent of the clock."""

    def __init__(self, monkeypatch) -> None:
        self.reads = 0
        original = KernelRoute.key.fget

        def key(route):
            self.reads += 1
            return original(route)

        monkeypatch.setattr(KernelRoute, "key", property(key))


@pytest.mark.parametrize("kind", ["same", "disjoint", "half"])
def test_diff_is_linear_in_the_number_of_routes(monkeypatch, kind):
    """The plan for 50k desired vs 50k observed routes reads each route's key a bounded
    number of times: 10x the routes costs at most ~10x (a nested scan would cost 100x)."""
    def build(n):
        desired = _routes(n)
        if kind == "same":
            observed = list(desired)
        elif kind == "disjoint":
            observed = _routes(n, table=24501)
        else:
            observed = desired[: n // 2] + _routes(n // 2, table=24501)
        return (HostState(routes=desired, sysctls=[Sysctl("net.ipv4.ip_forward", "1")]),
                HostState(routes=observed, sysctls=[Sysctl("net.ipv4.ip_forward", "1")]))

    small, big = build(5_000), build(50_000)
    counter = _Counting(monkeypatch)
    plan_small = diff(*small)
    reads_small = counter.reads
    counter.reads = 0
    plan_big = diff(*big)
    reads_big = counter.reads
    assert reads_small >= 5_000  # the counter sees the work
    assert reads_big <= 12 * reads_small, (reads_small, reads_big)
    if kind == "same":
        assert plan_small.empty and plan_big.empty
    else:
        assert len(plan_big) == {"disjoint": 100_000, "half": 50_000}[kind]


@given(st.integers(min_value=0, max_value=(1 << 128) - 1), st.integers(min_value=0, max_value=128),
       st.booleans(), st.one_of(st.none(), st.integers(min_value=0, max_value=(1 << 32) - 1)),
       st.one_of(st.none(), st.integers(min_value=0, max_value=(1 << 128) - 1)))
def test_a_route_from_a_dump_equals_the_parsed_one(value, plen, v4, metric, gw):
    """``KernelRoute.from_kernel`` skips the parse for text ``inet_ntop`` wrote; the value must be the
    one the constructor makes (the oracle), also for IPv4-mapped and IPv4-compatible text."""
    import socket

    af, bits = (socket.AF_INET, 32) if v4 else (socket.AF_INET6, 128)
    plen = min(plen, bits)
    value &= (1 << bits) - 1
    value &= ~((1 << (bits - plen)) - 1)
    dst = f"{socket.inet_ntop(af, value.to_bytes(bits // 8, 'big'))}/{plen}"
    gateway = None if gw is None else socket.inet_ntop(af, (gw & ((1 << bits) - 1)).to_bytes(bits // 8, "big"))
    args = (dst, 24500, "wg0", gateway, metric, 245, "unicast", None)
    fast, slow = KernelRoute.from_kernel(*args), KernelRoute(*args)
    assert fast == slow and hash(fast) == hash(slow) and fast.key == slow.key


@pytest.mark.parametrize("dst", ["::ffff:1.2.3.4/128", "::10.0.0.11/128", "::ffff:0.0.0.0/96", "::/0",
                                 "fd00:0:0:1::/64", "0.0.0.0/0"])
def test_dotted_ipv6_text_from_a_dump_is_canonicalised(dst):
    args = (dst, 24500, None, None, None, 245, "unicast", None)
    assert KernelRoute.from_kernel(*args) == KernelRoute(*args)


@given(states(observed=False), states(observed=True))
def test_progress_is_told_after_each_batch_up_to_the_whole_plan(desired, observed):
    """What `up` / `hub up` draw their bar from (issue 18, item 9): one report per batch, rising,
    the last one the whole plan; one by one, one report per action."""
    plan = diff(desired, observed)
    for kernel in (BatchingKernel(observed), MemoryKernel(observed)):
        told: list[tuple[int, int]] = []

        def report(done: int, total: int, told: list = told) -> None:
            told.append((done, total))

        apply(plan, kernel, report)
        if plan.empty:
            assert told == []
            continue
        assert told[-1] == (len(plan), len(plan))
        assert all(total == len(plan) for _, total in told)
        assert all(a < b for (a, _), (b, _) in itertools.pairwise(told))
        if isinstance(kernel, BatchingKernel):
            others = sum(1 for a in plan if not isinstance(a.obj, KernelRoute))
            assert len(told) == len(kernel.batches) + others
        else:
            assert len(told) == len(plan)
