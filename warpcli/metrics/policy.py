"""Metrics of the hub's network policy: per-rule counters of its nftables table, for `hub up --follow`.

The counters live in the kernel (one per map element, one per ordered-suffix rule, one on each
``--log`` rule's log statement); they are read at scrape time, at most once per
:data:`READ_INTERVAL` seconds (a scrape in between answers the last read), since reading a large
policy's table costs about 20 ms per thousand rules. Label values are the vnet's name and
the policy's rule names (``(default)`` for the default action): bounded by the policy, never taken
from traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

#: the table is read again after this many seconds (a scrape in between answers the last read)
READ_INTERVAL = 2.0


class RuleSample(Protocol):
    """One rule's counters as the host layer reads them (``policy_nft.RuleCounters``)."""

    packets: int
    bytes: int
    logged: int | None  #: None: the rule does not log


class PolicyCollector:
    """``warpcli_policy_packets_total``, ``_bytes_total`` and ``_logged_connections_total`` by
    ``vnet`` and ``rule``, plus ``warpcli_policy_scrape_ok``."""

    def __init__(self, read: Callable[[], Mapping[str, RuleSample]], vnet: str,
                 interval: float = READ_INTERVAL) -> None:
        self._read = read
        self._vnet = vnet
        self._interval = interval
        self._lock = threading.Lock()
        self._taken = -interval
        self._rules: Mapping[str, RuleSample] | None = None

    def describe(self) -> list:
        return []  # the series depend on the policy of the moment: collected, not declared

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:  # concurrent scrapes: one reads, the others wait and answer its read
            now = time.monotonic()
            if self._rules is None or now - self._taken >= self._interval:
                try:
                    self._rules = dict(self._read())
                except Exception:  # nft missing or failing: the scrape still answers, without counters
                    self._rules = None
                self._taken = now
            rules = self._rules
        ok = GaugeMetricFamily("warpcli_policy_scrape_ok",
                               "1 when the hub's policy table could be read at the last read, else 0.")
        ok.add_metric([], 0 if rules is None else 1)
        yield ok
        if rules is None:
            return
        labels = ["vnet", "rule"]
        packets = CounterMetricFamily("warpcli_policy_packets",
                                      "Packets a policy rule decided (original direction; replies pass "
                                      "uncounted).", labels=labels)
        size = CounterMetricFamily("warpcli_policy_bytes", "Bytes of the packets a policy rule decided.",
                                   labels=labels)
        logged = CounterMetricFamily("warpcli_policy_logged_connections",
                                     "New connections a --log rule logged (each first packet it let "
                                     "through or dropped).", labels=labels)
        for name in sorted(rules):
            r = rules[name]
            key = [self._vnet, name]
            packets.add_metric(key, r.packets)
            size.add_metric(key, r.bytes)
            if r.logged is not None:
                logged.add_metric(key, r.logged)
        yield from (packets, size, logged)
