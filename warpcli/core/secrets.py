"""Where secrets live: the interface. Adapters are in ``warpcli.secret_stores``."""

from __future__ import annotations

from abc import ABC, abstractmethod


class SecretStore(ABC):
    """A small key/value store for secrets (tunnel tokens, API tokens, private keys)."""

    #: a phrase for messages, e.g. "the OS keyring (SecretService)" or "/var/lib/warpcli/secret_stores.json"
    description: str = ""

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is absent."""
