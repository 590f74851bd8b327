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


def run(
    reconcile: Callable[[], Any],
    version: Callable[[], Hashable],
    *,
    interval: float,
    show: Callable[[Any], None],
) -> None:
    """Follow until SIGTERM/SIGINT; each reconcile is shown with ``show``, errors as warnings."""
    from warpcli.core.follow import follow

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    render.follow_message(f"following the controller (every {interval:g} s); stop with SIGTERM or Ctrl-C")
    try:
        follow(reconcile, version, interval=interval, stop=stop, on_result=show,
               on_error=lambda exc: render.follow_message(f"warning: {exc}; trying again in {interval:g} s"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    render.follow_message("stopped following; the interface and routes stay as they are (`warpcli down` removes them)")
