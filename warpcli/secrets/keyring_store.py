"""The OS keyring, through the ``keyring`` package."""

from __future__ import annotations

from typing import Any

from warpcli.core.errors import SecretStoreError
from warpcli.core.secrets import SecretStore


def usable_keyring(min_priority: float = 0.0) -> Any | None:
    """The active keyring backend, or None when only the fail/null backends exist."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except Exception:  # pragma: no cover - keyring is a dependency
        return None
    try:
        kr = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(kr, fail.Keyring) or type(kr).__module__.startswith("keyring.backends.null"):
        return None
    if isinstance(kr, chainer.ChainerBackend) and not kr.backends:
        return None
    try:
        if kr.priority <= 0 or kr.priority < min_priority:
            return None
    except Exception:
        return None
    return kr


class KeyringStore(SecretStore):
    def __init__(self, backend: Any, service: str) -> None:
        self._kr = backend
        self._service = service
        self.description = f"the OS keyring ({type(backend).__name__})"

    def get(self, key: str) -> str | None:
        try:
            return self._kr.get_password(self._service, key)
        except Exception as exc:
            raise SecretStoreError(f"cannot read from {self.description}: {type(exc).__name__}") from None

    def set(self, key: str, value: str) -> None:
        try:
            self._kr.set_password(self._service, key, value)
        except Exception as exc:
            raise SecretStoreError(f"cannot write to {self.description}: {type(exc).__name__}") from None

    def delete(self, key: str) -> None:
        try:
            if self._kr.get_password(self._service, key) is not None:
                self._kr.delete_password(self._service, key)
        except Exception as exc:
            raise SecretStoreError(f"cannot delete from {self.description}: {type(exc).__name__}") from None
