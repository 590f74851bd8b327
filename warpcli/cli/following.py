"""`--follow` for `up` and `hub up`: run the reconcile loop until SIGTERM or Ctrl-C."""

import signal
import threading
from collections.abc import Callable, Hashable
from typing import Annotated, Any

import typer

from warpcli.cli import render

Follow = Annotated[
    bool,
    typer.Option("--follow", help="Keep running: reconcile again whenever the controller's routes or peers change."),
]
Interval = Annotated[
    float,
    typer.Option("--interval", min=0.1, help="With --follow: seconds between two polls of the controller."),
]
MetricsListen = Annotated[
    str | None,
    typer.Option("--metrics-listen", metavar="ADDR:PORT",
                 help="With --follow: serve Prometheus metrics on ADDR:PORT (PORT alone: loopback)."),
]


class Metrics:
    """What a follow loop measures, when --metrics-listen asks for it: the role, the interfaces
    whose peers it reports, and how to count the routes after a reconcile."""

    def __init__(self, listen: str, role: str, peers: Callable[[], Any],
                 routes: Callable[[Any], tuple[int | None, int | None]],
                 ha: Callable[[], dict | None] | None = None) -> None:
        from warpcli.metrics.follow import FollowMetrics

        self.listen = listen
        self.routes = routes
        self.registry = FollowMetrics(role, peers, ha)

    def wrap(self, reconcile: Callable[[], Any]) -> Callable[[], Any]:
        import time

        def measured() -> Any:
            start = time.monotonic()
            try:
                result = reconcile()
            except BaseException:
                self.registry.reconciled(time.monotonic() - start, ok=False)
                raise
            try:
                desired, installed = self.routes(result)
            except Exception:  # counting is best effort: the reconcile itself succeeded
                desired = installed = None
            self.registry.reconciled(time.monotonic() - start, ok=True, desired=desired, installed=installed)
            return result

        return measured


def run(
    reconcile: Callable[[], Any],
    version: Callable[[], Hashable],
    *,
    interval: float,
    show: Callable[[Any], None],
    metrics: Metrics | None = None,
) -> None:
    """Follow until SIGTERM/SIGINT; each reconcile is shown with ``show``, errors as warnings."""
    from warpcli.core.follow import follow

    if metrics is not None:
        reconcile = metrics.wrap(reconcile)
        host, port = metrics.registry.serve(metrics.listen)
        render.follow_message(f"metrics on http://{host}:{port}/metrics")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    render.follow_message(f"following the controller (every {interval:g} s); stop with SIGTERM or Ctrl-C")
    try:
        follow(reconcile, version, interval=interval, stop=stop, on_result=show,
               on_error=lambda exc: render.follow_message(f"warning: {exc}; trying again in {interval:g} s"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics is not None:
            metrics.registry.close()
    render.follow_message("stopped following; the interface and routes stay as they are (`warpcli down` removes them)")
