"""The embedded controller: a SQLite file, no account, no network."""

from warpcli.controllers.local.store import LocalController

__all__ = ["LocalController"]
