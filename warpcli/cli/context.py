"""Per-run state shared by the commands: settings and the controller, opened lazily."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the modules load when a command first needs them: `--version` stays light
    from warpcli.core.controller import Controller
    from warpcli.core.settings import Settings


class Runtime:
    def __init__(
        self, state_dir: Path | None, config_dir: Path | None, overrides: dict[str, str | None] | None = None
    ) -> None:
        self._state_dir = state_dir
        self._config_dir = config_dir
        self._overrides = overrides or {}
        self.json = False  # set by the running command; the error handler reads it

    @cached_property
    def settings(self) -> Settings:
        from warpcli.core.settings import load_settings

        return load_settings(config_dir=self._config_dir, state_dir=self._state_dir, overrides=self._overrides)

    @property
    def config_dir(self) -> Path:
        """The config directory, found without reading config.toml (so `config` can repair a bad one)."""
        from warpcli.core.settings import resolve_config_dir

        return resolve_config_dir(self._config_dir)

    @cached_property
    def controller(self) -> Controller:
        from warpcli.controllers import open_controller

        return open_controller(self.settings)

    def controller_with_token(self, token: str) -> Controller:
        """The configured server, authenticated by a tunnel token instead of an API token."""
        from warpcli.controllers import open_controller

        return open_controller(self.settings, tunnel_token=token)

    @staticmethod
    def warp_enroll(ctrl: Controller, *, tunnel: str | None, token: str | None) -> dict:
        """Enroll with Cloudflare's warp-cli (Cloudflare's edge is the hub)."""
        from warpcli.host.warp_client import enroll

        return enroll(ctrl, tunnel=tunnel, token=token)

    def connector_controller(self, cfg, *, read_only: bool = False) -> Controller:
        """The controller a connector's ``up``/``status`` ask: the served controller it
        enrolled with (connector.toml's ``api_url``), else :attr:`controller` (``read_only``:
        :attr:`read_only`, which creates no store)."""
        if not cfg.api_url:
            return self.read_only if read_only else self.controller
        if "_connector_controller" not in self.__dict__:
            from warpcli.controllers import open_connector_controller

            self._connector_controller = open_connector_controller(self.settings, cfg, self.host_secrets)
        return self._connector_controller

    @cached_property
    def served_connector(self):
        """This host's connector config when it is enrolled with a served controller and no
        controller was named for this run (else None): read-only commands then ask that server."""
        from warpcli.core.settings import controller_chosen, enrolled_api_url

        if not enrolled_api_url(self.config_dir) or controller_chosen(self.config_dir, self._overrides):
            return None  # (the common case loads no enrollment module: it defines dataclasses)
        from warpcli.core.enrollment import load_connector_config

        cfg = load_connector_config(self.config_dir)
        return cfg if cfg is not None and cfg.api_url else None

    @property
    def reader(self) -> Controller:
        """The controller read-only commands ask: the one ``up`` asks (the served controller this
        connector enrolled with, see :attr:`served_connector`), else :attr:`controller` opened so
        that a read creates nothing (no local store is opened on such a host, none is created on
        a host with no state yet)."""
        cfg = self.served_connector
        return self.connector_controller(cfg) if cfg is not None else self.read_only

    @property
    def read_only(self) -> Controller:
        """:attr:`controller` for a command that only reads: an embedded store that does not exist
        yet reads as the empty state and is not created."""
        if "controller" in self.__dict__:
            return self.controller
        if "_read_controller" not in self.__dict__:
            from warpcli.controllers import open_controller

            self._read_controller = open_controller(self.settings, create=False)
        return self._read_controller

    @cached_property
    def host_secrets(self):
        """This host's own secrets (WireGuard keys): kept beside connector.toml, not in the state."""
        from warpcli.secret_stores import open_secret_store

        return open_secret_store(self.settings.secret_backend, self.settings.config_dir)

    def enrolled_tunnel_id(self) -> str | None:
        from warpcli.core.settings import enrolled_tunnel_id

        return enrolled_tunnel_id(self.settings.config_dir)

    def close(self) -> None:
        if "controller" in self.__dict__:
            self.controller.close()
        if "_connector_controller" in self.__dict__:
            self._connector_controller.close()
        if "_read_controller" in self.__dict__:
            self._read_controller.close()


def runtime(ctx: typer.Context, *, json: bool = False) -> Runtime:
    rt: Runtime = ctx.find_root().obj
    rt.json = rt.json or json
    return rt


def reading(ctx: typer.Context, *, json: bool = False) -> Controller:
    """The controller of a read-only command (:attr:`Runtime.reader`); on a connector enrolled with
    a served controller, a line on stderr says which server answers (stdout keeps its shape)."""
    rt = runtime(ctx, json=json)
    ctrl = rt.reader
    cfg = rt.served_connector
    if cfg is not None:
        from warpcli.cli import render

        render.message(f"controller: {cfg.api_url} (the served controller this connector enrolled with, "
                       "as `up` uses; connector.toml)")
    return ctrl
