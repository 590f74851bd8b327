"""A keyring backend that encrypts, for tests on machines without an OS keyring.

Headless test machines have no Secret Service; keyrings.alt's backends either store
plaintext (which warpcli refuses: issue 17, item 11) or prompt for a password. This
one is a real backend (it stores and reads through ``keyring``'s API) that keeps
every secret Fernet-encrypted in ``$XDG_DATA_HOME/warpcli-test-keyring.json``, with
the key in ``WARPCLI_TEST_KEYRING_KEY``. Selected with
``PYTHON_KEYRING_BACKEND=tests.keyring_backends.FernetFileKeyring`` (and the repo on
``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FernetFileKeyring(KeyringBackend):
    priority = 1.0  # type: ignore[assignment]

    def _path(self) -> Path:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
        return Path(base) / "warpcli-test-keyring.json"

    def _fernet(self):
        from cryptography.fernet import Fernet

        return Fernet(os.environ["WARPCLI_TEST_KEYRING_KEY"].encode())

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        token = self._load().get(f"{service}\0{username}")
        return None if token is None else self._fernet().decrypt(token.encode()).decode()

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = self._fernet().encrypt(password.encode()).decode()
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\0{username}", None)
        self._save(data)
