"""Prometheus metrics (the ``prometheus-client`` library, imported only when metrics are asked for).

:mod:`warpcli.metrics.follow` serves what `up --follow` and `hub up --follow` know: each reconcile,
the routes desired and installed, and each WireGuard peer's handshake age and bytes; on a hub,
:mod:`warpcli.metrics.policy` adds its network policy's per-rule counters. Names follow
Prometheus conventions (``warpcli_`` prefix, ``_total`` counters, base units: seconds and bytes);
docs/metrics.md lists them.
"""
