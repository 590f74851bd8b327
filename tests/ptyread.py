"""Reading everything a child wrote to a pseudo-terminal (shared by the terminal-output tests)."""

from __future__ import annotations

import errno
import os


def drain(master: int) -> bytes:
    """Read ``master`` until every writer has closed the terminal (EIO), then close it."""
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: every writer closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return b"".join(chunks)
