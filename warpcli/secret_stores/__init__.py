"""Secret-store adapters: the OS keyring through ``keyring``, or a 0600 file.

``open_secret_store("auto", dir)`` uses the keyring when a real backend exists and
falls back to ``dir/secrets.json`` (0600) on headless machines. ``keyring`` is
imported only here, and only when a secret is actually needed.
"""

from __future__ import annotations

from pathlib import Path

from warpcli.core.errors import SecretStoreError
from warpcli.core.secrets import SecretStore
from warpcli.core.settings import SECRET_BACKENDS as BACKENDS

SERVICE = "warpcli"


def open_secret_store(backend: str, fallback_dir: Path) -> SecretStore:
    if backend not in BACKENDS:
        raise SecretStoreError(
            f"unknown secret backend {backend!r}", hint=f"use one of: {', '.join(BACKENDS)}"
        )
    from warpcli.secret_stores.file_store import FileStore

    if backend in ("auto", "keyring"):
        from warpcli.secret_stores.keyring_store import KeyringStore, plaintext_backend, usable_keyring

        # "auto" wants a real OS keyring (priority >= 1). A backend that keeps secrets in a
        # plaintext file (keyrings.alt) is never used, even when asked for: our 0600 file is
        # no worse, and it is not called "the OS keyring".
        kr = usable_keyring(min_priority=1.0 if backend == "auto" else 0.0)
        if kr is not None:
            plain = plaintext_backend(kr)
            if plain is None:
                return KeyringStore(kr, SERVICE)
            path = fallback_dir / "secrets.json"
            return FileStore(path, description=(
                f"{path} (0600; the keyring backend {plain} stores secrets unencrypted, so warpcli does not use it)"
            ))
        if backend == "keyring":
            raise SecretStoreError(
                "no usable OS keyring backend on this machine",
                hint="install one (e.g. gnome-keyring) or set WARPCLI_SECRET_BACKEND=file",
            )
    return FileStore(fallback_dir / "secrets.json")
