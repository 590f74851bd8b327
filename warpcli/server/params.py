"""Reading query parameters and JSON bodies strictly, with one-line InvalidInput errors.

Unknown query parameters and body fields are ignored, as Cloudflare does; a known one
with the wrong type is refused, never guessed at. In a body, ``null`` means "not given".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, overload

from werkzeug.datastructures import MultiDict

from warpcli.core.errors import InvalidInput
from warpcli.server.errors import MALFORMED_JSON, TOO_DEEP, ApiError


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(*MALFORMED_JSON) from None
    except RecursionError:  # nesting deeper than the parser recurses: no body of this API is so
        raise ApiError(*TOO_DEEP) from None
    if not isinstance(obj, dict):
        raise InvalidInput("the request body must be a JSON object")
    return obj


@overload
def body_str(body: Mapping[str, Any], key: str, *, required: Literal[True]) -> str: ...
@overload
def body_str(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None: ...
def body_str(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string member of the body; with ``required``, absent is a 400 (so never None)."""
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"the body needs a {key!r} field")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    return value


def body_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidInput(f"{key!r} must be true or false")
    return value


class Query:
    """Typed access to the query string; a single-valued parameter given twice is refused."""

    def __init__(self, args: MultiDict) -> None:
        self._args = args

    def text(self, key: str) -> str | None:
        values = self._args.getlist(key)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidInput(f"query parameter {key!r} is given more than once")
        return values[0]

    def many(self, key: str) -> list[str] | None:
        """A list-valued parameter: repeated (``k=a&k=b``, what Cloudflare's SDKs send) or
        comma-separated (``k=a,b``, what its docs describe), or both; None when absent."""
        values = self._args.getlist(key)
        if not values:
            return None
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    def flag(self, key: str) -> bool | None:
        text = self.text(key)
        if text is None:
            return None
        if text not in ("true", "false"):
            raise InvalidInput(f"query parameter {key!r} must be true or false, not {text!r}")
        return text == "true"

    def count(self, key: str, *, default: int, maximum: int) -> int:
        """A whole number from 1 to ``maximum``, in ASCII digits only (no sign, point, space or
        other script's digits: what ``int()`` or ``float()`` would also take is refused)."""
        text = self.text(key)
        if text is None:
            return default
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)) or not 1 <= int(text):
            raise InvalidInput(f"query parameter {key!r} must be a whole number from 1 to {maximum}, "
                               f"in digits, not {text!r}")
        if int(text) > maximum:
            raise InvalidInput(f"query parameter {key!r} must be at most {maximum}")
        return int(text)

    def timestamp(self, key: str) -> datetime | None:
        text = self.text(key)
        return None if text is None else parse_timestamp(text, key)


def parse_timestamp(text: str, what: str = "timestamp") -> datetime:
    """An RFC 3339 date-time with an offset (``Z`` or ``+hh:mm``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidInput(f"{what} must be an RFC 3339 date-time with a time zone, not {text!r}")
    return value


def existed_at(created_at: str, deleted_at: str | None, when: datetime) -> bool:
    """True when an object was created at or before ``when`` and not deleted by then."""
    if parse_timestamp(created_at) > when:
        return False
    return deleted_at is None or parse_timestamp(deleted_at) > when
