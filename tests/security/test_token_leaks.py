"""A token is never part of a message, whatever it contains (issue 17, item 2).

A token with a control character (or a space, or non-ASCII) is refused before any request
with one line and the auth exit code; and should the HTTP stack ever quote a header in an
exception, the transport's message is scrubbed of it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import WARPCLI
from warpcli.controllers.cloudflare.transport import ApiClient
from warpcli.core.errors import AuthError, Unavailable

ACCOUNT = "0123456789abcdef0123456789abcdef"
#: nothing listens on port 1: no request may be needed to refuse the token
API_URL = "http://127.0.0.1:1/client/v4"
HEAD, TAIL = "SECRETHEADabc123", "SECRETTAILxyz789"
#: every C0 control, DEL, and a few other characters a bearer token cannot carry
BAD = [chr(c) for c in range(1, 32)] + ["\x7f", " ", "\u00e9", "\u202e", "\u2028"]
AUTH_EXIT = 7


def _leaks(text: str) -> bool:
    return HEAD in text or TAIL in text


@pytest.mark.parametrize("char", BAD, ids=[f"U+{ord(c):04X}" for c in BAD])
def test_a_token_with_a_bad_character_is_refused_and_never_shown(cli, monkeypatch, char: str) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", HEAD + char + TAIL)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    for args in (["tunnel", "list"], ["tunnel", "list", "--json"], ["routes", "--json"]):
        r = cli("--controller", "cloudflare", "--api-url", API_URL, *args)
        assert r.exit_code == AUTH_EXIT, (args, r.stdout, r.stderr)
        assert "contains characters a token cannot have" in r.stderr
        assert r.stderr.count("\n") <= 2 and "Traceback" not in r.stderr
        assert not _leaks(r.stdout + r.stderr)


def test_the_reported_case_as_a_real_process(paths) -> None:
    env = {**os.environ, "CLOUDFLARE_API_TOKEN": f"{HEAD}\n{TAIL}", "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}
    p = subprocess.run([WARPCLI, "--controller", "cloudflare", "--api-url", API_URL, "tunnel", "list"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == AUTH_EXIT, p.stderr
    assert p.stderr.startswith("warpcli: error: the API token contains characters a token cannot have")
    assert not _leaks(p.stdout + p.stderr)


@pytest.mark.parametrize("char", ["\x00", *BAD])
def test_the_client_refuses_it_before_any_request(char: str) -> None:
    for tunnel_token in (False, True):
        with pytest.raises(AuthError) as caught:
            ApiClient(API_URL, HEAD + char + TAIL, tunnel_token=tunnel_token)
        assert not _leaks(str(caught.value)) and "cannot have" in str(caught.value)


def test_a_transport_error_quoting_the_header_is_scrubbed() -> None:
    client = ApiClient(API_URL, HEAD + TAIL)
    client._token = f"{HEAD}\r\n{TAIL}"  # what the check above keeps out, to reach requests' own error
    with pytest.raises(Unavailable) as caught:
        client.call("GET", "/user/tokens/verify")
    assert not _leaks(str(caught.value)), str(caught.value)
    assert "header" in str(caught.value).lower()
