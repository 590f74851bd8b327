"""HTTP for the Cloudflare API v4 dialect: one session, retries, pagination, the error envelope.

What is retried, and why (urllib3's ``Retry`` does the waiting):

- connection failures, for every method: nothing reached the server;
- 429, for every method: the server did nothing; ``Retry-After`` is honoured (capped);
- 5xx and read timeouts, only for idempotent methods (GET, PUT, PATCH, DELETE). A POST
  that fails this way may have been carried out; the controller reconciles creates by
  looking the object up before it tries again (``CloudflareController._create``).

Every failure becomes one :class:`~warpcli.core.errors.WarpcliError` with a one-line
message: Cloudflare's ``errors[].code`` and ``message`` when the body is the JSON
envelope, a description of the body when it is not (a proxy's HTML page, broken JSON).
The API token travels only in the ``Authorization`` header: never in a URL, a message or
a log line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from warpcli import __version__
from warpcli.core.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    Unavailable,
)

log = logging.getLogger("warpcli.cloudflare")

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
#: the largest page the API serves (``tunnel_per_page``: maximum 1000)
PER_PAGE = 1000
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
#: wait at most this long for one ``Retry-After``; a longer one fails with a clear message
RETRY_AFTER_MAX = 60


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Backoff is exponential with jitter, capped by ``backoff_max``."""

    total: int = 4
    backoff_factor: float = 0.25  #: waits 0, 0.5, 1, 2 s (+ jitter) between tries
    backoff_jitter: float = 0.25
    backoff_max: float = 10.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0


def _retry_class():
    from urllib3.util.retry import Retry

    class ApiRetry(Retry):
        """Retry 429 for any method (nothing was done); 5xx only for idempotent ones."""

        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if status_code == 429:
                return bool(self.total)
            return super().is_retry(method, status_code, has_retry_after)

    return ApiRetry


class ApiClient:
    """A client of one API base URL with one bearer token."""

    def __init__(
        self, base_url: str, token: str, *, policy: RetryPolicy = RetryPolicy(), tunnel_token: bool = False
    ) -> None:
        """``tunnel_token``: the bearer is a tunnel's token (a connector host of a served
        controller), not an API token; only error messages differ. A token with a character
        no token has (a control character, a space, non-ASCII) is refused here, before any
        request: the HTTP stack would echo it in its error."""
        check_bearer(token, tunnel_token=tunnel_token)
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.policy = policy
        self.tunnel_token = tunnel_token
        self._session: Any = None
        self._lock = threading.Lock()  # one request at a time: pages() fetches ahead in a thread

    def __repr__(self) -> str:  # never the token
        return f"ApiClient({self.base_url!r})"

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            p = self.policy
            retry = _retry_class()(
                total=p.total,
                connect=p.total,
                read=p.total,
                status=p.total,
                other=0,
                allowed_methods=IDEMPOTENT,
                status_forcelist=frozenset({500, 502, 503, 504}),
                backoff_factor=p.backoff_factor,
                backoff_jitter=p.backoff_jitter,
                backoff_max=p.backoff_max,
                respect_retry_after_header=True,
                retry_after_max=RETRY_AFTER_MAX,
                raise_on_status=False,
            )
            s = requests.Session()
            s.mount("https://", HTTPAdapter(max_retries=retry))
            s.mount("http://", HTTPAdapter(max_retries=retry))
            s.headers.update({
                "Authorization": f"Bearer {self._token}",
                "User-Agent": f"warpcli/{__version__}",
                "Accept": "application/json",
            })
            s.trust_env = True  # proxies from the environment, as curl does
            self._session = s
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- one call ---------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        authenticated: bool = True,
    ) -> dict[str, Any]:
        """Send one request; return the success envelope or raise a WarpcliError.

        ``authenticated=False`` sends no ``Authorization`` header (the health check).
        """
        import requests

        what = f"{method} {path}"
        headers: dict[str, str | None] = {}
        kwargs: dict[str, Any] = {
            "params": _query(params),
            "timeout": (self.policy.connect_timeout, self.policy.read_timeout),
            "headers": headers,
        }
        if body is not None:
            kwargs["data"] = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if not authenticated:
            headers["Authorization"] = None  # requests drops a session header set to None
        # `from None`: no chained exception whose request object carries the Authorization header
        try:
            with self._lock:
                resp = self.session.request(method, self.base_url + path, **kwargs)
        except requests.exceptions.Timeout:
            raise ApiTimeout(f"{what}: no answer from {self._host()} within the timeout") from None
        except requests.exceptions.RetryError as exc:
            raise Unavailable(f"{what}: {self._host()} kept failing: {self._scrub(_reason(exc))}") from None
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise Unavailable(f"{what}: cannot reach {self._host()}: {self._scrub(_reason(exc))}") from None
        return self._envelope(what, resp)

    def _scrub(self, text: str) -> str:
        """``text`` without the token, in any form an exception may quote it."""
        for form in {self._token, repr(self._token)[1:-1], self._token.strip()}:
            if form:
                text = text.replace(form, "***")
        return _BEARER.sub("Bearer ***", text)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _envelope(self, what: str, resp: Any) -> dict[str, Any]:
        status = resp.status_code
        try:
            data = resp.json()
            ok_shape = isinstance(data, dict) and isinstance(data.get("success"), bool)
        except ValueError:
            data, ok_shape = None, False
        if 200 <= status < 300:
            if not ok_shape or not data["success"]:
                raise Unavailable(f"{what}: {self._host()} answered {status} with {_describe(resp)}")
            return data
        log.debug("%s -> HTTP %s", what, status)
        detail = _errors_text(data) if ok_shape else _describe(resp)
        if status == 429:
            after = resp.headers.get("Retry-After")
            hint = f"retry after {after} s" if after else "retry later"
            raise Unavailable(f"{what}: rate limited by {self._host()} ({detail})", hint=hint)
        if status >= 500:
            raise ServerError(f"{what}: {self._host()} failed with HTTP {status} ({detail})")
        if status == 401 and self.tunnel_token:
            raise AuthError(
                f"{what}: the tunnel token was refused (HTTP 401: {detail})",
                hint="the tunnel may have been deleted; enroll again with a fresh `warpcli tunnel token`",
            )
        if status == 401:
            raise AuthError(
                f"{what}: the API token was refused (HTTP 401: {detail})",
                hint="check CLOUDFLARE_API_TOKEN or run `warpcli auth login`",
            )
        if status == 403:
            hint = ("a tunnel token only enrolls its own tunnel and reads its peers; this needs an API token"
                    if self.tunnel_token else _permission_hint(what))
            raise AuthError(f"{what}: permission denied (HTTP 403: {detail})", hint=hint)
        if status == 404:
            raise NotFound(f"{what}: not found ({detail})")
        if status == 409:
            raise Conflict(f"{what}: conflict ({detail})")
        raise InvalidInput(f"{what}: refused with HTTP {status} ({detail})")

    # -- lists --------------------------------------------------------------------
    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, page by page (``per_page`` = 1000).

        Stops at a short page, an empty page, or when ``result_info.total_count`` is
        reached; a server that repeats a page (ignores ``page``) is an error, not a loop.
        While the caller works through one page, the next is already being fetched (one
        request ahead, in a thread), so the server's time and ours overlap.
        """
        def fetch(page: int) -> dict[str, Any]:
            return self.call("GET", path, params={**(params or {}), "page": page, "per_page": PER_PAGE})

        page, seen = 1, 0
        first_ids: set[str] = set()
        pool: Any = None
        try:
            data = fetch(page)
            while True:
                items = data.get("result") or []
                if not isinstance(items, list):
                    raise Unavailable(f"GET {path}: the result is not a list")
                if items:
                    head = items[0].get("id") if isinstance(items[0], dict) else None
                    if head is not None:
                        if head in first_ids:
                            raise Unavailable(f"GET {path}: the server returned page {page} twice (it ignores `page`)")
                        first_ids.add(head)
                seen += len(items)
                info = data.get("result_info") or {}
                total = info.get("total_count")
                last = len(items) < PER_PAGE or (isinstance(total, (int, float)) and seen >= total)
                if not last:
                    if pool is None:
                        from concurrent.futures import ThreadPoolExecutor

                        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warpcli-pages")
                    ahead = pool.submit(fetch, page + 1)
                yield from items
                if last:
                    return
                page += 1
                data = ahead.result()
        finally:
            if pool is not None:  # an early stop waits for the request in flight, then drops it
                pool.shutdown(wait=True, cancel_futures=True)


class ApiTimeout(Unavailable):
    """No answer in time: the request may or may not have been carried out."""


class ServerError(Unavailable):
    """A 5xx answer: for a POST, the object may have been created all the same."""


def path_segment(value: str) -> str:
    """One path segment, percent-encoded (an IPv6 address or a name can hold ``:`` or ``/``)."""
    return quote(value, safe="")


def _query(params: dict[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _errors_text(data: dict[str, Any]) -> str:
    errs = data.get("errors") or []
    parts = []
    for e in errs if isinstance(errs, list) else []:
        if isinstance(e, dict):
            code, msg = e.get("code"), str(e.get("message", "")).strip()
            parts.append(f"error {code}: {msg}" if code is not None else msg)
    return "; ".join(p for p in parts if p) or "no error details"


def _describe(resp: Any) -> str:
    """What came back instead of the JSON envelope, in a few words."""
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip() or "no content type"
    if not resp.content:
        return "an empty body"
    if "html" in ctype:
        return f"an HTML page ({ctype}), not the API's JSON: a proxy or gateway error?"
    if "json" in ctype:
        return "malformed JSON"
    return f"a {ctype} body, not the API's JSON"


#: the permission each family of paths needs, as Cloudflare's dashboard names it
_PERMISSIONS = (
    ("/warp_connector", "Cloudflare One Connector: WARP Write"),
    ("/teamnet/", "Cloudflare One Connectors Write"),
    ("/gateway/", "Zero Trust Write"),
)


def _permission_hint(what: str) -> str:
    for fragment, name in _PERMISSIONS:
        if fragment in what:
            return f"the token needs the '{name}' permission on this account"
    return "check the token's permissions and the account id"


_BEARER = re.compile(r"Bearer\s+[^\s'\",)]+", re.IGNORECASE)


def check_bearer(token: str, *, tunnel_token: bool = False) -> str:
    """``token`` when it can be a bearer token (printable ASCII, no space); AuthError otherwise,
    a message that never quotes it."""
    if token and all(33 <= ord(c) < 127 for c in token):
        return token
    what = "tunnel token" if tunnel_token else "API token"
    hint = ("get a fresh one with `warpcli tunnel token`" if tunnel_token
            else "check CLOUDFLARE_API_TOKEN (or the stored token: `warpcli auth login`)")
    raise AuthError(f"the {what} contains characters a token cannot have (control characters, spaces or "
                    "non-ASCII)" if token else f"the {what} is empty", hint=hint)


def _reason(exc: BaseException) -> str:
    """The innermost cause in a few words (urllib3 nests them deeply)."""
    text = str(getattr(exc, "args", [exc])[0] if getattr(exc, "args", None) else exc)
    for marker in ("Caused by ", "Max retries exceeded"):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.strip(" :()'\"")
    if "too many 429" in text:
        return "too many 429 (rate limited) responses"
    for code in ("500", "502", "503", "504"):
        if f"too many {code}" in text:
            return f"too many {code} responses"
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "the host name does not resolve"
    return text[:200] or type(exc).__name__
