"""Retry hints on every answer, as Cloudflare's API sends them.

Cloudflare's SDKs retry 408, 409, 429 and 5xx answers (twice, with backoff) unless the
answer says ``x-should-retry: false``; they wait ``Retry-After`` seconds where given. A
name or CIDR conflict (409) cannot change by asking again, so without the header every
conflict cost three requests and over a second. Statuses a retry cannot change get
``x-should-retry: false``; 429 and 503 (a locked or unreadable state, an unreachable
upstream) get ``Retry-After`` unless the handler set one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Response

#: answers a retry cannot change: malformed input, credentials, not found, wrong method,
#: conflicts, a body too large, an unprocessable one
NO_RETRY = frozenset({400, 401, 403, 404, 405, 409, 413, 422})
#: answers worth retrying later, and after how many seconds
RETRY_AFTER = {429: "1", 503: "1"}


def retry_headers(response: Response) -> Response:
    """Flask ``after_request`` hook: add the retry hint the status calls for."""
    status = response.status_code
    if status in NO_RETRY:
        response.headers.setdefault("x-should-retry", "false")
    elif status in RETRY_AFTER:
        response.headers.setdefault("Retry-After", RETRY_AFTER[status])
    return response
