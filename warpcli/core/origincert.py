"""cloudflared's origin certificate (``cert.pem``) for this server's account and an API token.

cloudflared reads its account id and API token for ``cloudflared tunnel vnet ...`` and
``cloudflared tunnel route ip ...`` from an origin certificate (``--origincert``, by
default ``~/.cloudflared/cert.pem``), and its API base URL from ``--api-url``. The format
is that of ``EncodeOriginCert`` in cloudflared's ``credentials/origin_cert.go``: one PEM
block of type ``ARGO TUNNEL TOKEN`` whose bytes are the JSON
``{"zoneID": ..., "accountID": ..., "apiToken": ..., "endpoint": ...}`` (``endpoint``
left out when empty), base64 in lines of 64 characters, no PEM headers.

cloudflared's decoder refuses a certificate without ``zoneID`` or ``apiToken`` ("missing
token in the certificate") and one without ``accountID``. This server has no zones, so
the zone id defaults to the account id: cloudflared uses it only for its zone-level
(hostname) endpoints, which the vnet and route commands never call.

``endpoint`` is not a URL: cloudflared lower-cases it and, when it is ``fed``, sends
every request to Cloudflare's FedRAMP API instead of ``--api-url``. That would take a
client away from this server, so it is refused here.

The result holds the API token: write it to a file only the user can read (``0600``),
never to a log or to stdout unasked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

R = TypeVar("R")

PEM_TYPE = "ARGO TUNNEL TOKEN"
#: cloudflared's ``credentials.FedEndpoint``
FED_ENDPOINT = "fed"
_PEM_LINE = 64  # Go's encoding/pem writes 64 base64 characters a line


def _go_json(obj: dict[str, str]) -> bytes:
    """``json.Marshal``'s bytes for a struct of strings: compact, HTML characters escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def origin_cert_pem(account_id: str, api_token: str, endpoint: str | None = None, *,
                    zone_id: str | None = None) -> str:
    """The text of a ``cert.pem`` that makes cloudflared use ``account_id`` and ``api_token``.

    ``zone_id`` defaults to ``account_id`` (cloudflared requires a non-empty one).
    Raises ValueError for an empty account id or token, or ``endpoint="fed"``.
    """
    zone_id = account_id if zone_id is None else zone_id
    for what, value in (("account id", account_id), ("API token", api_token), ("zone id", zone_id)):
        if not value:
            raise ValueError(f"the origin certificate needs a non-empty {what}")
    if endpoint is not None and endpoint.lower() == FED_ENDPOINT:
        raise ValueError("endpoint 'fed' would send cloudflared to Cloudflare's FedRAMP API, not this server")
    fields = {"zoneID": zone_id, "accountID": account_id, "apiToken": api_token}
    if endpoint:
        fields["endpoint"] = endpoint
    encoded = base64.b64encode(_go_json(fields)).decode("ascii")
    lines = [encoded[i:i + _PEM_LINE] for i in range(0, len(encoded), _PEM_LINE)]
    return "".join([f"-----BEGIN {PEM_TYPE}-----\n", *(line + "\n" for line in lines),
                    f"-----END {PEM_TYPE}-----\n"])


def create_token_with_cert(path: Path, account_id: str, create_token: Callable[[], tuple[R, str]]) -> tuple[R, str]:
    """``create_token()`` -> ``(record, token)``, and the token also written as an origin
    certificate to ``path`` (a new 0600 file).

    The file is created first, so a path that cannot be written refuses the whole command
    before a token exists; a token that cannot be made removes the file again.
    """
    from warpcli.core.files import create_private

    cert = create_private(path)
    try:
        record, token = create_token()
    except BaseException:
        cert.close()
        path.unlink(missing_ok=True)
        raise
    with cert:
        cert.write(origin_cert_pem(account_id, token))
    return record, token
