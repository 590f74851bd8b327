"""Compact JSON text of plain values (dicts, lists, strings, numbers, None), fast.

``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` builds a new encoder
on every call, which at a hundred thousand small objects costs more than encoding
them; :func:`compact_encoder` builds the C encoder once and calls it directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def compact_encoder() -> Callable[[Any], str]:
    """A function giving what ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` gives."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    basestring = getattr(encoder, "c_encode_basestring", None)
    if make is None or basestring is None:  # no C accelerator (another Python)
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    # markers None: no check for reference cycles (plain values have none)
    iterencode = make(None, None, basestring, None, ":", ",", False, False, True)

    def encode(obj: Any) -> str:
        return "".join(iterencode(obj, 0))

    return encode
