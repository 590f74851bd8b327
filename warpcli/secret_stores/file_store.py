"""The headless fallback: a JSON object in a 0600 file, written atomically under a lock."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warpcli.core.errors import SecretStoreError
from warpcli.core.files import atomic_write
from warpcli.core.secrets import SecretStore


class FileStore(SecretStore):
    def __init__(self, path: Path, *, description: str | None = None) -> None:
        self.path = path
        self.description = description or f"{path} (0600; no OS keyring backend)"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise SecretStoreError(f"cannot open secret file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, str]:
        try:
            data = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(f"cannot read secret file {self.path}: {exc.strerror}") from None
        try:
            obj = json.loads(data) if data.strip() else {}
        except ValueError:
            raise SecretStoreError(
                f"secret file {self.path} is corrupt", hint="restore it or move it aside"
            ) from None
        if not isinstance(obj, dict):
            raise SecretStoreError(f"secret file {self.path} is corrupt", hint="restore it or move it aside")
        return obj

    def _write(self, obj: dict[str, str]) -> None:
        try:
            atomic_write(self.path, json.dumps(obj, indent=1, sort_keys=True).encode(), 0o600)
        except OSError as exc:
            raise SecretStoreError(f"cannot write secret file {self.path}: {exc.strerror}") from None

    def get(self, key: str) -> str | None:
        with self._locked():
            return self._read().get(key)

    def set(self, key: str, value: str) -> None:
        with self._locked():
            obj = self._read()
            obj[key] = value
            self._write(obj)

    def delete(self, key: str) -> None:
        with self._locked():
            obj = self._read()
            if obj.pop(key, None) is not None:
                self._write(obj)
