"""Control-plane backends behind :class:`warpcli.core.controller.Controller`."""

from __future__ import annotations

from warpcli.core.controller import Controller
from warpcli.core.settings import Settings


def open_controller(settings: Settings) -> Controller:
    """The controller the settings name. Backends are imported only when chosen."""
    if settings.controller == "local":
        from warpcli.controllers.local import LocalController
        from warpcli.secrets import open_secret_store

        return LocalController(
            settings.state_dir,
            secrets=lambda: open_secret_store(settings.secret_backend, settings.state_dir),
            lock_timeout=settings.lock_timeout,
        )
    raise ValueError(f"unknown controller {settings.controller!r}")  # load_settings validated it
