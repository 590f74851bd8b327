"""The one place that maps errors to HTTP statuses and Cloudflare-style error codes.

Every failure leaves the server as ``{"success": false, "errors": [{"code", "message"}],
"messages": [], "result": null}`` with one of these statuses and codes. Codes marked
"Cloudflare's" are ones Cloudflare's API v4 answers with: 7003 is the example of the
schema's own failure envelope, 10000 is its "Authentication error", 9106 appears in an
API answer quoted in cloudflared issue #1119; 9109 and 6007 are as commonly seen in
Cloudflare's answers but not checked against a Cloudflare document. The others are this
server's choice (Cloudflare documents no per-object codes for tunnels, routes and
virtual networks), kept stable because clients may match on them.

=====  ======  ===============================================================
HTTP   code    meaning
=====  ======  ===============================================================
400    1001    InvalidInput: a malformed field, CIDR, IP, filter or body shape
400    1009    NotSupported: valid, but this server cannot do it (rename a tunnel, ``ha``)
400    1004    BulkImportError (rows invalid); 409 when the rows conflict
400    6007    malformed JSON in the request body (Cloudflare's)
401    9106    no ``Authorization: Bearer`` header (Cloudflare's code for missing credentials)
401    10000   the token is not valid (Cloudflare's "Authentication error")
403    9109    the path names another account (Cloudflare's "Unauthorized to access requested resource")
404    1002    NotFound: no such tunnel, route or virtual network; no route covers the IP
404    7003    no route for the URI (Cloudflare's)
405    10405   the path exists but not with this method
409    1003    Conflict: the name or CIDR is taken, the object is still in use, the default vnet
413    1008    the request body is larger than the server accepts
500    1000    an unexpected error (logged; the response never carries a traceback)
500    1006    SecretStoreError: the server's secret store is unusable
500    1007    ConfigError: the server's configuration is invalid
502    1010    AuthError: the server's own upstream controller refused its credentials
503    1005    StateError: the state database is locked, corrupt or unreadable
503    1011    Unavailable: the server's own upstream controller could not be reached
=====  ======  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from warpcli.core import errors


@dataclass(frozen=True, slots=True)
class ApiFailure:
    status: int
    code: int
    message: str


class ApiError(Exception):
    """A failure decided by the HTTP layer itself (auth, routing, body parsing)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.failure = ApiFailure(status, code, message)


# HTTP-layer failures
MISSING_TOKEN = (401, 9106, "Missing Authorization header: send `Authorization: Bearer <API token>`")
INVALID_TOKEN = (401, 10000, "Authentication error")
WRONG_ACCOUNT = (403, 9109, "Unauthorized to access requested resource")
TUNNEL_TOKEN_NOT_ALLOWED = (403, 9109, "Unauthorized to access requested resource: a tunnel token may only "
                                       "enroll its own tunnel and read its own peers")
NO_ROUTE = (404, 7003, "No route for the URI")
WRONG_METHOD = (405, 10405, "Method not allowed for this path")
MALFORMED_JSON = (400, 6007, "Malformed JSON in request body")
TOO_DEEP = (400, 6007, "Malformed JSON in request body: nested too deeply")
TOO_LARGE = (413, 1008, "Request body too large")
INTERNAL = (500, 1000, "Internal server error")

#: WarpcliError subclass -> (HTTP status, code); the most specific class wins
_BY_CLASS: dict[type[errors.WarpcliError], tuple[int, int]] = {
    errors.NotSupported: (400, 1009),
    errors.InvalidInput: (400, 1001),
    errors.NotFound: (404, 1002),
    errors.Conflict: (409, 1003),
    errors.BulkImportError: (400, 1004),  # 409 when ``conflict``, below
    errors.StateError: (503, 1005),
    errors.SecretStoreError: (500, 1006),
    errors.ConfigError: (500, 1007),
    errors.AuthError: (502, 1010),
    errors.Unavailable: (503, 1011),
    errors.WarpcliError: (500, 1000),
}

#: what a remote client is told of a server-side failure; the details (a file path, an
#: environment variable, an upstream's answer) go to the server's log only
_GENERIC = {
    1005: "The server's state is unavailable; try again later",
    1006: "The server's secret store is unavailable",
    1007: "The server's configuration is invalid",
    1010: "The server's upstream controller refused its credentials",
    1011: "The server's upstream controller is unavailable; try again later",
    1000: "Internal server error",
}

#: statuses of errors werkzeug raises itself, by status
_HTTP_FALLBACK = {404: NO_ROUTE, 405: WRONG_METHOD, 413: TOO_LARGE}


def mapped_classes() -> frozenset[type[errors.WarpcliError]]:
    """The classes with an explicit mapping (a test checks every error class has one)."""
    return frozenset(_BY_CLASS)


def failure_for(exc: BaseException) -> ApiFailure:
    """The status, code and message an exception leaves the server as."""
    if isinstance(exc, ApiError):
        return exc.failure
    if isinstance(exc, errors.WarpcliError):
        for cls in type(exc).__mro__:
            if cls in _BY_CLASS:
                status, code = _BY_CLASS[cls]
                break
        if isinstance(exc, errors.BulkImportError) and exc.conflict:
            status = 409
        return ApiFailure(status, code, _GENERIC.get(code, str(exc)) if status >= 500 else str(exc))
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        status, code, message = _HTTP_FALLBACK.get(exc.code, (exc.code, 1001, exc.name))
        return ApiFailure(status, code, message)
    return ApiFailure(*INTERNAL)
