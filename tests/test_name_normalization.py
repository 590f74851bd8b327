"""Names that look the same are one name: NFC on the way in, confusable look-alikes refused.

``büro`` typed precomposed (NFC) and decomposed (NFD, ``u`` + U+0308) is one tunnel; a
fullwidth ``ｏffice`` beside ``office`` is refused. Run on every controller (embedded, the
Cloudflare client against the contract-checked stand-in, and ``controller serve``).
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import dump_state
from warpcli.core.names import confusable_with, name_skeleton, normalize_name

NFC = "b\u00fcro"
NFD = "bu\u0308ro"


def test_the_two_spellings_differ_as_strings() -> None:
    assert NFC != NFD and unicodedata.normalize("NFC", NFD) == NFC


def test_a_decomposed_name_is_stored_composed_and_found_either_way(cli, backend) -> None:
    r = cli("tunnel", "create", NFD, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["name"] == NFC
    again = cli("tunnel", "create", NFC)
    assert again.exit_code == 4, again.stderr  # the same name: a conflict, not a second tunnel
    for ref in (NFC, NFD):
        shown = cli("tunnel", "show", ref, "--json")
        assert shown.exit_code == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == NFC
    names = [t["name"] for t in json.loads(cli("tunnel", "list", "--json").stdout)]
    assert names.count(NFC) == 1 and NFD not in names


def test_a_vnet_name_is_normalized_too(cli, backend) -> None:
    assert cli("vnet", "add", NFD).exit_code == 0
    r = cli("vnet", "add", NFC, "--if-not-exists", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["name"] == NFC
    names = [v["name"] for v in json.loads(cli("vnet", "list", "--json").stdout)]
    assert names.count(NFC) == 1


@pytest.mark.parametrize(("first", "second"), [
    ("office", "\uff4fffice"),      # fullwidth o
    ("\ufb01le", "file"),          # the fi ligature
    ("lab\u00b2", "lab2"),          # superscript two
    ("b\u00fcro", "b\u00fcr\u043e"),  # a Cyrillic o
    ("paris", "\u0440aris"),         # a Cyrillic er, drawn as p
    ("k\u00f6ln", "k\u04e7ln"),       # Cyrillic o with diaeresis, drawn as the Latin one
    ("Athens", "\u0391thens"),       # Greek capital alpha
])
def test_a_look_alike_name_is_refused_and_changes_nothing(cli, backend, paths, first: str, second: str) -> None:
    assert cli("tunnel", "create", first).exit_code == 0
    assert cli("vnet", "add", first).exit_code == 0
    before = dump_state(paths.state)
    for args in (["tunnel", "create", second], ["vnet", "add", second]):
        r = cli(*args)
        assert r.exit_code == 4, (args, r.stderr)
        assert "looks the same as the existing" in r.stderr and repr(first) in r.stderr
    assert dump_state(paths.state) == before


def test_renaming_a_vnet_to_a_look_alike_is_refused(cli, backend) -> None:
    assert cli("vnet", "add", "office").exit_code == 0
    assert cli("vnet", "add", "lab").exit_code == 0
    r = cli("vnet", "update", "lab", "--name", "\uff4fffice")
    assert r.exit_code == 4, r.stderr
    assert "looks the same" in r.stderr


#: the oracle's own table of look-alikes, by Unicode character name (written apart from the code's)
LOOKALIKE_NAMES = {
    "CYRILLIC SMALL LETTER A": "a", "CYRILLIC SMALL LETTER ES": "c", "CYRILLIC SMALL LETTER KOMI DE": "d",
    "CYRILLIC SMALL LETTER IE": "e", "CYRILLIC SMALL LETTER SHHA": "h",
    "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I": "i", "CYRILLIC SMALL LETTER JE": "j",
    "CYRILLIC SMALL LETTER PALOCHKA": "l", "CYRILLIC SMALL LETTER O": "o", "CYRILLIC SMALL LETTER ER": "p",
    "CYRILLIC SMALL LETTER QA": "q", "CYRILLIC SMALL LETTER DZE": "s", "CYRILLIC SMALL LETTER WE": "w",
    "CYRILLIC SMALL LETTER HA": "x", "CYRILLIC SMALL LETTER U": "y",
    "CYRILLIC CAPITAL LETTER A": "A", "CYRILLIC CAPITAL LETTER VE": "B", "CYRILLIC CAPITAL LETTER ES": "C",
    "CYRILLIC CAPITAL LETTER IE": "E", "CYRILLIC CAPITAL LETTER EN": "H",
    "CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I": "I", "CYRILLIC CAPITAL LETTER JE": "J",
    "CYRILLIC CAPITAL LETTER KA": "K", "CYRILLIC CAPITAL LETTER EM": "M", "CYRILLIC CAPITAL LETTER O": "O",
    "CYRILLIC CAPITAL LETTER ER": "P", "CYRILLIC CAPITAL LETTER QA": "Q", "CYRILLIC CAPITAL LETTER DZE": "S",
    "CYRILLIC CAPITAL LETTER TE": "T", "CYRILLIC CAPITAL LETTER WE": "W", "CYRILLIC CAPITAL LETTER HA": "X",
    "CYRILLIC CAPITAL LETTER STRAIGHT U": "Y",
    "GREEK SMALL LETTER OMICRON": "o", "GREEK SMALL LETTER NU": "v", "GREEK SMALL LETTER RHO": "p",
    "GREEK SMALL LETTER IOTA": "i", "GREEK CAPITAL LETTER ALPHA": "A", "GREEK CAPITAL LETTER BETA": "B",
    "GREEK CAPITAL LETTER EPSILON": "E", "GREEK CAPITAL LETTER ZETA": "Z", "GREEK CAPITAL LETTER ETA": "H",
    "GREEK CAPITAL LETTER IOTA": "I", "GREEK CAPITAL LETTER KAPPA": "K", "GREEK CAPITAL LETTER MU": "M",
    "GREEK CAPITAL LETTER NU": "N", "GREEK CAPITAL LETTER OMICRON": "O", "GREEK CAPITAL LETTER RHO": "P",
    "GREEK CAPITAL LETTER TAU": "T", "GREEK CAPITAL LETTER UPSILON": "Y", "GREEK CAPITAL LETTER CHI": "X",
}
LOOKALIKES = {unicodedata.lookup(n): latin for n, latin in LOOKALIKE_NAMES.items()}

names = st.text(alphabet=st.one_of(st.characters(codec="utf-8", categories=("L", "M", "N")),
                                   st.sampled_from(sorted(LOOKALIKES) + list("aopxyABEKOPT\u0308\u00f6"))),
                min_size=1, max_size=6)


@given(names, st.lists(names, max_size=5))
def test_confusable_with_matches_a_brute_force_oracle(name: str, existing: list[str]) -> None:
    """The oracle: some existing name that reads the same (compatibility forms folded, look-alike
    letters read as the Latin ones, marks kept) while their NFC forms differ."""
    def reads_as(s: str) -> str:
        decomposed = unicodedata.normalize("NFKD", s)
        return unicodedata.normalize("NFKC", "".join(LOOKALIKES.get(c, c) for c in decomposed))

    def nfc(s: str) -> str:
        return unicodedata.normalize("NFC", s)

    expected = [e for e in existing if nfc(e) != nfc(name) and reads_as(e) == reads_as(name)]
    found = confusable_with(name, existing)
    if expected:
        assert found is not None and found in [nfc(e) for e in expected]
    else:
        assert found is None
    assert normalize_name(name) == nfc(name)
    assert name_skeleton(normalize_name(name)) == reads_as(name)
