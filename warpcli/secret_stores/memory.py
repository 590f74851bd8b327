"""Secrets kept in this process only: for library use, tests and throw-away controllers."""

from __future__ import annotations

from warpcli.core.secrets import SecretStore


class MemorySecretStore(SecretStore):
    """A dict: nothing is written anywhere, and everything is gone when the process ends."""

    description = "memory (this process only)"

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)

    def __repr__(self) -> str:  # never the values
        return f"MemorySecretStore({len(self._values)} secrets)"
