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


#: keyring backends that keep secrets in a readable file (keyrings.alt): no better than
#: warpcli's own 0600 file, and reported as "the OS keyring" they would mislead
PLAINTEXT_BACKENDS = frozenset({
    "keyrings.alt.file.PlaintextKeyring",
    "keyrings.alt.pyfs.PlaintextKeyring",
    "keyrings.alt.file_base.Keyring",
})


def _name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def plaintext_backend(kr: Any) -> str | None:
    """The class name of a backend of ``kr`` that stores secrets unencrypted, or None.

    A chain (``ChainerBackend``) counts as plaintext when any member is: it writes to its
    highest-priority member and reads from all of them. Matched by known classes, by
    "Plaintext" in the class name, and by keyrings.alt's file backends that do not encrypt.
    """
    from keyring.backends import chainer

    members = list(kr.backends) if isinstance(kr, chainer.ChainerBackend) else [kr]
    for b in members:
        name = _name(b)
        if name in PLAINTEXT_BACKENDS or "plaintext" in type(b).__name__.lower():
            return type(b).__name__
        if name.startswith("keyrings.alt.") and "Encrypted" not in name and getattr(b, "filename", None):
            return type(b).__name__
    return None


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
