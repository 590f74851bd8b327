"""Log lines in logfmt: ``time=... level=info logger=... key=value ...``, one line per record.

Readable in ``journalctl`` and parseable by logfmt tools (Loki, Vector, ``hl``, go-logfmt).
A value with a space, ``=``, ``"``, a control character or nothing at all is written as a
JSON string, so a request path with ``%0a`` in it cannot forge a second line. A record
carries its fields in ``record.fields`` (see :func:`log_fields`); any other record is
written as ``msg="..."``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any


def quote(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text and text.isprintable() and not any(ch in text for ch in ' ="\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


def line(fields: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={quote(value)}" for key, value in fields.items())


def log_fields(logger: logging.Logger, level: int, fields: Mapping[str, Any]) -> None:
    """Log one record whose fields the :class:`LogfmtFormatter` writes as they are."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", line(fields), extra={"fields": dict(fields)})


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        millis = int(record.msecs)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{millis:03d}Z"
        out: dict[str, Any] = {"time": stamp, "level": record.levelname.lower(), "logger": record.name}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return line(out)
