"""The hub's policy metrics without a kernel: what the collector exports from the counters it is
given, how often it reads them, and that docs/metrics.md lists each name. (The counters moving
with real traffic: tests/host/test_policy_edge.py.)"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from warpcli.host.policy_nft import RuleCounters
from warpcli.metrics.policy import PolicyCollector

ROOT = Path(__file__).resolve().parents[2]


def samples(collector: PolicyCollector) -> dict[str, dict[str, float]]:
    registry = CollectorRegistry()
    registry.register(collector)
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[s.labels.get("rule", "")] = s.value
    return out


def test_counters_per_rule_and_logged_connections_for_log_rules_only() -> None:
    reads = []

    def read() -> dict[str, RuleCounters]:
        reads.append(1)
        return {"web": RuleCounters(10, 1500, 3), "ssh": RuleCounters(4, 240), "(default)": RuleCounters(2, 80)}

    collector = PolicyCollector(read, "prod", interval=60)
    got = samples(collector)
    assert got["warpcli_policy_logged_connections_total"] == {"web": 3.0}
    assert got["warpcli_policy_packets_total"] == {"web": 10.0, "ssh": 4.0, "(default)": 2.0}
    assert got["warpcli_policy_bytes_total"] == {"web": 1500.0, "ssh": 240.0, "(default)": 80.0}
    assert got["warpcli_policy_scrape_ok"] == {"": 1.0}
    samples(collector)
    assert len(reads) == 1  # within the interval, the last read answers


def test_a_failed_read_answers_scrape_ok_zero_and_no_counters() -> None:
    def read() -> dict[str, RuleCounters]:
        raise OSError("nft is gone")

    got = samples(PolicyCollector(read, "prod", interval=0))
    assert got == {"warpcli_policy_scrape_ok": {"": 0.0}}


def test_docs_list_every_policy_metric() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    registry = CollectorRegistry()
    registry.register(PolicyCollector(lambda: {"web": RuleCounters(1, 2, 3)}, "prod"))
    for family in registry.collect():
        shown = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"`{shown}`" in text, f"docs/metrics.md does not list {shown}"
