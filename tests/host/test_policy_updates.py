"""The hub's policy updates in a real nftables table: a change applied as a delta leaves the same
table as a full load of the new policy, and every way the record and the kernel can disagree (a
crash between the transaction and the record, a table someone else loaded, an element deleted by
hand) ends in a full load, never in a wrong table.

Two namespaces: in one the policy is updated through :func:`policy_nft.plan` with a run directory
(the hub's path), in the other the new policy is loaded whole; their tables are compared as
``nft -j list table`` prints them, without handles, counters and the generation chain. No traffic,
no links: the table names its interface but needs none to be loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.host.conftest import Lab
from tests.test_policy_incremental import changed
from warpcli.core.policy import Policy
from warpcli.host import policy_nft
from warpcli.host.policy_nft import Spec
from warpcli.host.policy_nft.layout import read_record, record_path
from warpcli.host.policy_nft.ruleset import GEN_CHAIN_PREFIX

pytestmark = pytest.mark.slow

IFNAME = "wgpol0"


def listing(lab: Lab, ns: str) -> list:
    """The table as nft prints it, without what differs between two loads of the same policy."""
    out = lab.sh(ns, "nft", "-j", "list", "table", "inet", policy_nft.table(IFNAME)).stdout
    items = []
    for item in json.loads(out)["nftables"]:
        kind, body = next(iter(item.items()))
        if kind == "metainfo" or (kind == "chain" and body["name"].startswith(GEN_CHAIN_PREFIX)):
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        if kind == "rule":
            body["expr"] = [{"counter": None} if "counter" in e else e for e in body["expr"]]
        if kind == "map":
            elems = []
            for elem, verdict in body.get("elem", []):
                e = dict(elem["elem"], counter=None)
                elems.append(json.dumps([e, verdict], sort_keys=True))
            body["elem"] = sorted(elems)
        items.append((kind, json.dumps(body, sort_keys=True)))
    chains: dict[str, list] = {}  # the rules of each chain, in order; the chains in any order
    for kind, body in items:
        if kind == "rule":
            chains.setdefault(json.loads(body)["chain"], []).append(body)
    return sorted(x for x in items if x[0] != "rule") + sorted(chains.items())


def plan(policy: Policy, ns: str, run_dir: Path) -> list[str]:
    lines, apply = policy_nft.plan(Spec.of_policy(policy), IFNAME, netns=ns, run_dir=run_dir)
    if apply is not None:
        apply()
    return lines


@pytest.fixture
def pair(lab: Lab, tmp_path: Path) -> tuple[Lab, str, str, Path]:
    run = tmp_path / "run"
    run.mkdir()
    return lab, lab.netns("upd"), lab.netns("full"), run


@settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=changed())
def test_a_delta_leaves_the_table_a_full_load_makes(pair, change: tuple[Policy, Policy]) -> None:
    lab, updated, full, run = pair
    a, b = change
    plan(a, updated, run)
    if policy_nft.wanted(a):
        record = read_record(run, IFNAME)
        assert record is not None and record.gen == policy_nft.loaded_gen(IFNAME, updated)
    plan(b, updated, run)
    if not policy_nft.wanted(b):  # default allow, no rule: no table
        assert policy_nft.loaded_gen(IFNAME, updated) is None
        assert not record_path(run, IFNAME).exists()
        return
    policy_nft.load(b, IFNAME, full)
    assert listing(lab, updated) == listing(lab, full)
    again = read_record(run, IFNAME)
    assert again is not None and again.fingerprint == Spec.of_policy(b).fingerprint(IFNAME)
    assert plan(b, updated, run) == []  # nothing left to do
    for ns in (updated, full):
        assert policy_nft.remove(IFNAME, ns, run)


def _rules(n: int, extra: str = "") -> Policy:
    from warpcli.core.policy import Rule, networks

    rules = [Rule(f"r{i}", "allow" if i % 2 else "deny", networks([f"10.0.{i}.0/24"]), networks(["10.9.0.1"]), "tcp",
                  ((443, 443),), log=i % 3 == 0) for i in range(n)]
    if extra:
        rules.append(Rule(extra, "deny", networks(["10.1.0.0/16"]), (), "any", ()))
    return Policy("deny", tuple(rules))


def test_a_crash_before_the_record_is_written_ends_in_a_full_load(pair, monkeypatch: pytest.MonkeyPatch) -> None:
    lab, updated, full, run = pair
    plan(_rules(20), updated, run)
    gen = policy_nft.loaded_gen(IFNAME, updated)

    def crash(*_args) -> None:
        raise KeyboardInterrupt  # SIGINT, or a kill, between the transaction and the record

    with monkeypatch.context() as m:
        m.setattr("warpcli.host.policy_nft.enforce.write_record", crash)
        with pytest.raises(KeyboardInterrupt):
            plan(_rules(20, extra="wide"), updated, run)
    assert read_record(run, IFNAME) is None  # removed before the transaction
    assert policy_nft.loaded_gen(IFNAME, updated) == gen  # the delta went in
    assert plan(_rules(19), updated, run) == [f"~ {policy_nft.describe(19, 'deny', IFNAME)}"]
    assert policy_nft.loaded_gen(IFNAME, updated) != gen  # loaded whole
    policy_nft.load(_rules(19), IFNAME, full)
    assert listing(lab, updated) == listing(lab, full)


def test_a_table_loaded_by_someone_else_is_loaded_whole(pair) -> None:
    lab, updated, full, run = pair
    plan(_rules(20), updated, run)
    policy_nft.load(_rules(5), IFNAME, updated)  # not through the record: another generation
    plan(_rules(21), updated, run)
    policy_nft.load(_rules(21), IFNAME, full)
    assert listing(lab, updated) == listing(lab, full)


def test_an_element_deleted_by_hand_makes_the_delta_fail_and_the_load_whole(pair) -> None:
    lab, updated, full, run = pair
    plan(_rules(20), updated, run)
    lab.sh(updated, "nft", "delete", "element", "inet", policy_nft.table(IFNAME), "p4",
           "{ 10.0.7.0/24 . 10.9.0.1 . 6 . 443 }")
    gen = policy_nft.loaded_gen(IFNAME, updated)
    smaller = Policy("deny", tuple(r for r in _rules(20).rules if r.name != "r7"))  # deletes that element
    plan(smaller, updated, run)
    assert policy_nft.loaded_gen(IFNAME, updated) != gen
    policy_nft.load(smaller, IFNAME, full)
    assert listing(lab, updated) == listing(lab, full)


def test_remove_leaves_no_table_and_no_record(pair) -> None:
    lab, updated, _, run = pair
    plan(_rules(3), updated, run)
    assert record_path(run, IFNAME).exists()
    assert plan(Policy("allow", ()), updated, run) == [f"- {policy_nft.describe(0, 'allow', IFNAME)}"]
    assert policy_nft.loaded_gen(IFNAME, updated) is None
    assert not record_path(run, IFNAME).exists()
    assert lab.sh(updated, "nft", "list", "ruleset").stdout == ""


def test_two_writers_planning_from_the_same_record_leave_the_last_ones_table(pair) -> None:
    """`hub up --follow` and a `hub up` by hand: both plan from one record; the second to apply
    finds the record changed under its plan and loads its policy whole."""
    lab, updated, full, run = pair
    plan(_rules(10), updated, run)
    first = policy_nft.plan(Spec.of_policy(_rules(10, extra="one")), IFNAME, netns=updated, run_dir=run)[1]
    second = policy_nft.plan(Spec.of_policy(_rules(10, extra="two")), IFNAME, netns=updated, run_dir=run)[1]
    assert first is not None and second is not None
    first()
    second()
    policy_nft.load(_rules(10, extra="two"), IFNAME, full)
    assert listing(lab, updated) == listing(lab, full)
    assert plan(_rules(10, extra="two"), updated, run) == []
