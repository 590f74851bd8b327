"""Frozen, slotted record classes that are cheap to define: the model's dataclasses.

``@dataclass(frozen=True, slots=True)`` compiles each generated method on its own:
six compiles a class, ~0.8 ms on Python 3.11, which for the model and settings came
to a tenth of a read-only command's start-up. :func:`record` compiles only
``__init__`` (which must be fast: lists build a million records) and shares plain
functions for the rest.

A record behaves as that dataclass does: an ``__init__`` taking the annotated fields
in order (positionally or by name, with their defaults), a ``repr``, equality and a
hash over every field (only with a record of the same class), no assignment or
deletion after ``__init__``, ``__slots__``, ``__match_args__``, pickling and
copying; a ``__post_init__`` runs after ``__init__`` (for checks). :func:`replace` and
:func:`field_names` stand in for ``dataclasses.replace`` and ``dataclasses.fields``.
Defaults must be immutable (there is no ``default_factory``). A test holds records to the
dataclass as the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_FIELDS = "__record_fields__"


class FrozenInstanceError(AttributeError):
    """Raised on assigning to or deleting a field of a record (as dataclasses does)."""


def _raise_frozen(self: Any, name: str, value: Any = None) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _raise_frozen_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """A function from a record to the tuple of its field values."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, slotted record of its annotated fields."""
    body = dict(cls.__dict__)
    names = tuple(body.get("__annotations__", {}))
    defaults = {name: body.pop(name) for name in names if name in body}
    seen_default = None
    for name in names:
        if name in defaults:
            seen_default = name
        elif seen_default is not None:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows {seen_default!r}")
    for inherited in ("__dict__", "__weakref__"):
        body.pop(inherited, None)

    params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    post = ["    self.__post_init__()"] if "__post_init__" in body else []  # checks, as a dataclass runs them
    source = "\n".join([f"def __init__(self, {params}):", *(f"    _set(self, {n!r}, {n})" for n in names), *post,
                        "    pass"])
    scope: dict[str, Any] = {"_set": object.__setattr__, **{f"_default_{n}": v for n, v in defaults.items()}}
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    values = _values_getter(names)

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, values(self), strict=False))
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self: Any, other: Any) -> Any:
        return values(self) == values(other) if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self: Any) -> int:
        return hash(values(self))

    def __reduce__(self: Any) -> tuple:
        return type(self), values(self)

    def to_dict(self: Any) -> dict[str, Any]:
        return dict(zip(names, values(self), strict=True))

    for method in (init, __repr__, __eq__, __hash__, __reduce__, to_dict):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        body.setdefault(method.__name__, method)
    body.update(
        __slots__=names, __match_args__=names, __setattr__=_raise_frozen, __delattr__=_raise_frozen_delete,
        **{_FIELDS: names},
    )
    body["__qualname__"] = cls.__qualname__
    metaclass: type = type(cls)
    return metaclass(cls.__name__, cls.__bases__, body)


class Record:
    """A base for records that are JSON objects: :meth:`to_dict` is every field, in order.

    The field list is the one definition of the shape: the API shapes (server, Cloudflare
    client) start from it and write only their exceptions by hand."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:  # replaced by @record with one bound to the class's fields
        return {n: getattr(self, n) for n in field_names(self)}


def field_names(obj_or_cls: Any) -> tuple[str, ...]:
    """The fields of a record class or instance, in order."""
    try:
        return getattr(obj_or_cls, _FIELDS)
    except AttributeError:
        raise TypeError(f"{obj_or_cls!r} is not a record") from None


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with some fields changed (``dataclasses.replace``)."""
    names = field_names(obj)
    unknown = set(changes).difference(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{n: changes[n] if n in changes else getattr(obj, n) for n in names})
