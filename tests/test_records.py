"""`warpcli.core.records.record` against its oracle, ``@dataclass(frozen=True, slots=True)``.

For random field lists (some with defaults) and random values, a record class and the
equivalent dataclass must agree on construction (and on which calls are refused), repr,
equality, hash, replace, immutability, pickling and copying.
"""

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core import model
from warpcli.core.records import FrozenInstanceError, field_names, record, replace

NAMES = st.lists(st.sampled_from(["id", "name", "network", "comment", "lo", "hi", "vnet", "x"]), unique=True, max_size=6)
VALUES = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.tuples(st.integers(0, 2)))


def _classes(names: list[str], n_defaults: int, defaults: list) -> tuple[type, type]:
    """The same class body made a record and a dataclass (the last ``n_defaults`` fields have defaults)."""

    def body(ns: dict) -> None:
        ns["__annotations__"] = {n: "object" for n in names}
        for n, value in zip(names[len(names) - n_defaults:], defaults, strict=False):
            ns[n] = value

    import types

    rec = record(types.new_class("Thing", (), exec_body=body))
    oracle = dataclasses.dataclass(frozen=True, slots=True)(types.new_class("Thing", (), exec_body=body))
    return rec, oracle


def _call(cls: type, args: tuple, kwargs: dict) -> object:
    try:
        return cls(*args, **kwargs)
    except TypeError:
        return TypeError


@st.composite
def specs(draw: st.DrawFn) -> tuple:
    names = draw(NAMES)
    n_defaults = draw(st.integers(0, len(names)))
    defaults = draw(st.lists(VALUES, min_size=n_defaults, max_size=n_defaults))
    # a call: some positional values, some by keyword (perhaps a field twice, one missing, or an unknown one)
    n_pos = draw(st.integers(0, len(names) + 1))
    args = tuple(draw(st.lists(VALUES, min_size=n_pos, max_size=n_pos)))
    keyword_names = draw(st.lists(st.sampled_from([*names, "unknown"]), unique=True))
    kwargs = {n: draw(VALUES) for n in keyword_names}
    return names, n_defaults, defaults, args, kwargs


@given(specs(), specs())
def test_records_behave_as_frozen_slotted_dataclasses(spec: tuple, other_call: tuple) -> None:
    names, n_defaults, defaults, args, kwargs = spec
    rec_cls, dc_cls = _classes(names, n_defaults, defaults)
    rec, dc = _call(rec_cls, args, kwargs), _call(dc_cls, args, kwargs)
    assert (rec is TypeError) == (dc is TypeError)
    assert rec_cls.__match_args__ == dc_cls.__match_args__ == tuple(names)
    assert rec_cls.__slots__ == tuple(names) == field_names(rec_cls)
    if rec is TypeError:
        return
    assert repr(rec) == repr(dc)
    assert hash(rec) == hash(dc)
    assert [getattr(rec, n) for n in names] == [getattr(dc, n) for n in names]

    # equality with a second instance made from another call's values
    _, _, _, args2, kwargs2 = other_call
    rec2, dc2 = _call(rec_cls, args2, kwargs2), _call(dc_cls, args2, kwargs2)
    if rec2 is not TypeError:
        assert (rec == rec2) == (dc == dc2)
        assert (rec != rec2) == (dc != dc2)
    assert rec != dc  # a different class is never equal, as with dataclasses

    for name in names:
        for target, frozen_error in ((rec, FrozenInstanceError), (dc, dataclasses.FrozenInstanceError)):
            with pytest.raises(frozen_error):
                setattr(target, name, 1)
            with pytest.raises(frozen_error):
                delattr(target, name)
    with pytest.raises(FrozenInstanceError):  # (3.11's slotted dataclass raises a confused TypeError here)
        rec.unknown = 1  # type: ignore[attr-defined]

    changes = {n: v for n, v in kwargs.items() if n in names}
    assert repr(replace(rec, **changes)) == repr(dataclasses.replace(dc, **changes))
    with pytest.raises(TypeError):
        replace(rec, unknown=1)
    made, values = rec.__reduce__()  # what pickle stores (these classes can't be found by name)
    assert made(*values) == rec
    assert copy.copy(rec) == rec == copy.deepcopy(rec)


def test_a_field_without_default_after_one_with_is_refused_as_dataclass_does() -> None:
    for decorate in (record, dataclasses.dataclass(frozen=True, slots=True)):
        with pytest.raises(TypeError):
            decorate(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))


def test_the_model_keeps_its_methods_docstrings_and_names() -> None:
    route = model.Route("id", "10.0.0.0/24", "t", "v", "", "now")
    assert route.net.prefixlen == 24  # a property survives the rebuild
    assert route.to_dict()["network"] == "10.0.0.0/24"
    assert model.Route.__qualname__ == "Route" and model.Route.__module__ == "warpcli.core.model"
    assert "enrolled host" in (model.Connector.__doc__ or "")
    assert replace(route, comment="x").comment == "x" and route.comment == ""
    assert pickle.loads(pickle.dumps(route)) == route
    with pytest.raises(FrozenInstanceError):
        route.comment = "x"  # type: ignore[misc]


def test_post_init_runs_after_init_as_a_dataclass_runs_it() -> None:
    """A ``__post_init__`` (a record's checks) runs on every construction, replace() included."""
    from dataclasses import dataclass

    from warpcli.core.records import record, replace

    def body():
        class Port:
            number: int
            proto: str = "tcp"

            def __post_init__(self) -> None:
                if not 1 <= self.number <= 65535:
                    raise ValueError(f"port {self.number} out of range")
        return Port

    rec, dc = record(body()), dataclass(frozen=True)(body())
    for make in (rec, dc):
        assert make(443).number == 443
        with pytest.raises(ValueError, match="out of range"):
            make(0)
    with pytest.raises(ValueError, match="out of range"):
        replace(rec(443), number=70000)
