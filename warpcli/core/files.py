"""Writing a file so that readers never see half of it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temp path beside ``path`` (a leftover of a crashed writer with this pid removed first);
    renamed over ``path`` when the block ends, removed when it fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temp file beside ``path`` (created exclusively, already with
    ``mode``: a secret is never readable by others, even for a moment), fsync, rename.

    Raises OSError; callers turn it into their own one-line error.
    """
    with _replacing(path) as tmp:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        try:
            os.fchmod(fd, mode)  # the umask narrowed what os.open asked for
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomically(target: str, write: Callable[[TextIO], T]) -> T:
    """Stream text into ``target`` so that readers see the old file or the whole new one: ``write``
    fills a temp file beside it (UTF-8, ``\n`` kept as is), which is fsynced and renamed over it.
    ``target`` ``-`` is stdout. Returns what ``write`` returns; an OSError becomes one line
    (InvalidInput) and leaves no temp file."""
    import sys

    from warpcli.core.errors import InvalidInput

    if target == "-":
        return write(sys.stdout)
    try:
        with _replacing(Path(target)) as tmp, open(tmp, "x", encoding="utf-8", newline="") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        return result
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None


def create_private(path: Path) -> TextIO:
    """A new text file only the user can read (0600), opened for writing: never one that exists,
    and never through a symlink. Conflict when it exists; InvalidInput when it cannot be made."""
    from warpcli.core.errors import Conflict, InvalidInput

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise Conflict(f"{path} already exists", hint="choose another path, or remove it first") from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}") from None
    return os.fdopen(fd, "w", encoding="ascii")
