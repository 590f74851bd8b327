"""Hypothesis over the served controller's JSON bodies: nesting, control characters, odd types.

Every body gets a JSON envelope and a 2xx or 4xx, never a 5xx, and leaves nothing in the
server's log but access lines. Creating a tunnel is checked against an oracle: the body
succeeds exactly when its ``name`` is a string that :func:`validate_name` accepts and
that is not taken, and the state then holds exactly the names that succeeded.
"""

from __future__ import annotations

import json

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.served import ServedController
from warpcli.core.errors import InvalidInput
from warpcli.core.names import validate_name

#: every code point UTF-8 can carry (controls, NUL, bidi marks, non-characters), short strings
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=12)


@st.composite
def nested(draw) -> bytes:
    """A body nested from a few levels to far deeper than any parser's recursion."""
    depth = draw(st.integers(1, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"name":[', "]}")]))
    closed = draw(st.booleans())
    return (opener * depth + "1" + (closer * depth if closed else "")).encode()


RAW = nested() | st.binary(max_size=64) | VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode())


def _post(served: ServedController, path: str, body: bytes) -> requests.Response:
    resp = requests.post(served.account_url(path), data=body, timeout=30,
                         headers={**served.headers, "Content-Type": "application/json"})
    assert resp.headers["Content-Type"] == "application/json", resp.text
    envelope = resp.json()
    assert set(envelope) == {"success", "errors", "messages", "result"}
    assert resp.status_code < 500, resp.text
    assert envelope["success"] is (resp.status_code == 200)
    return resp


def _expected_ok(name: object, taken: set[str]) -> bool:
    if not isinstance(name, str) or name in taken:
        return False
    try:
        validate_name("tunnel", name)
    except InvalidInput:
        return False
    return True


def test_tunnel_names_with_any_characters_follow_the_oracle(served: ServedController) -> None:
    taken: set[str] = set()

    @settings(max_examples=150)
    @given(name=VALUES | TEXT, extra=VALUES)
    def check(name: object, extra: object) -> None:
        resp = _post(served, "/warp_connector", json.dumps({"name": name, "x_unknown": extra}).encode())
        assert (resp.status_code == 200) == _expected_ok(name, taken), (name, resp.text)
        if resp.status_code == 200:
            assert resp.json()["result"]["name"] == name
            taken.add(name)  # type: ignore[arg-type]

    check()
    listed = requests.get(served.account_url("/warp_connector"), params={"per_page": "1000", "is_deleted": "false"},
                          headers=served.headers, timeout=30).json()["result"]
    assert {t["name"] for t in listed} == taken
    assert served.problems() == [], served.problems()


def test_any_body_on_any_create_is_an_envelope_never_a_5xx(served: ServedController) -> None:
    @settings(max_examples=150)
    @given(path=st.sampled_from(["/warp_connector", "/teamnet/routes", "/teamnet/virtual_networks"]), body=RAW)
    def check(path: str, body: bytes) -> None:
        _post(served, path, body)

    check()
    text = served.log_text()
    assert "Traceback" not in text and "RecursionError" not in text
    assert served.problems() == [], served.problems()
