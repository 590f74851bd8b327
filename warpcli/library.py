"""The library's front door: open a controller without the CLI.

    import warpcli

    with warpcli.connect("/tmp/state", secrets=warpcli.MemorySecretStore()) as ctrl:
        office = warpcli.service.create_tunnel(ctrl, "office").obj
        ctrl.create_route("10.1.0.0/24", office.id)
        print(warpcli.service.lookup(ctrl, "10.1.0.7", None)[0].route)

Everything the CLI does is a call on a :class:`~warpcli.core.controller.Controller` (ids and
parsed or textual networks) or a function of :mod:`warpcli.core.service` (names, ids and text,
as typed on a command line). Errors are :class:`~warpcli.core.errors.WarpcliError` subclasses.
"""

from __future__ import annotations

from pathlib import Path

from warpcli.core.controller import Controller
from warpcli.core.secrets import SecretStore


def connect(
    state_dir: str | Path | None = None,
    *,
    controller: str = "local",
    secrets: SecretStore | None = None,
    account_id: str | None = None,
    api_url: str | None = None,
    lock_timeout: float | None = None,
) -> Controller:
    """A controller, opened as the CLI would open it (settings from the environment and
    ``config.toml``), with the given values taking precedence.

    ``secrets``: where tunnel tokens go (the embedded controller): by default the store the
    settings name (OS keyring or a 0600 file); :class:`~warpcli.secret_stores.memory.MemorySecretStore`
    keeps them in the process. For ``controller="cloudflare"`` the API token comes from
    ``CLOUDFLARE_API_TOKEN`` or ``warpcli auth login``, as for the CLI.
    """
    from warpcli.controllers import open_controller
    from warpcli.core.settings import load_settings

    overrides: dict[str, str | None] = {"controller": controller, "account_id": account_id, "api_url": api_url}
    if lock_timeout is not None:
        overrides["lock_timeout"] = str(lock_timeout)
    settings = load_settings(state_dir=Path(state_dir) if state_dir is not None else None, overrides=overrides)
    if secrets is not None and settings.controller == "local":
        from warpcli.controllers.local import LocalController

        return LocalController(settings.state_dir, secrets=lambda: secrets, lock_timeout=settings.lock_timeout)
    return open_controller(settings)
