"""`@record`: a frozen dataclass whose equality, hash and repr are shared functions, not code generated per class.

Why: `@dataclass(frozen=True)` writes the source of six methods per class (`__init__`, `__setattr__`,
`__delattr__`, `__eq__`, `__hash__`, `__repr__`) and compiles it with `exec` when the module is imported; for the
~100 value classes of the layer that compiling was the largest part of a cold start after boto3. `@record` lets
dataclasses generate the first three (so construction and frozenness are exactly a frozen dataclass's, at the same
speed) and gives every class the same three functions below, which behave as the generated ones do, as fast
(operator.attrgetter): on python3.13 a 5-field class costs about 0.31 ms to define instead of 0.47 ms
(`python -m benchmarks --only coldstart`, docs/performance.md). Sharing `__init__` or `__setattr__` too would
halve that again, but cost the sync function about 15 us a contact (a Python call for each field set).

- `==` compares the fields whose `compare` is true, as a tuple, with an object of the same class only
  (`NotImplemented` otherwise); `hash()` is the hash of that tuple (fields with `hash=False` left out);
- `repr()` is `Name(a=1, b='x')` over the fields whose `repr` is true;
- assigning or deleting a field raises `dataclasses.FrozenInstanceError`, as for any frozen dataclass.

`dataclasses.replace`, `fields` and `asdict` work as on any dataclass. Type checkers see a frozen dataclass
(`typing.dataclass_transform`, PEP 681). Options: those of `dataclass()` other than `frozen`, `eq`, `repr`,
`order`, `unsafe_hash` and `slots` (kw_only, init, match_args). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)

# Set on each class when it is made: functions of an instance giving the tuple of its compared fields, of its hashed
# fields (operator.attrgetter, C code: as fast as the generated methods; staticmethod, so that a lambda stays
# unbound), and the names of the fields shown.
_COMPARED = "__record_compared__"
_HASHED = "__record_hashed__"
_SHOWN = "__record_shown__"


def _values_of(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    if len(names) == 1:  # attrgetter of one name gives the value itself, not a 1-tuple
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return attrgetter(*names) if names else lambda instance: ()


def _record_eq(self: object, other: object) -> object:
    if self is other:
        return True
    if other.__class__ is not self.__class__:
        return NotImplemented
    values = getattr(self, _COMPARED)
    return bool(values(self) == values(other))


def _record_hash(self: object) -> int:
    return hash(getattr(self, _HASHED)(self))


def _record_repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _SHOWN))
    return f"{self.__class__.__qualname__}({shown})"


def _make_record(cls: T, options: dict[str, Any]) -> T:
    # Generates __init__, __setattr__ and __delattr__ (frozen), not the rest.
    made: Any = dataclass(cls, frozen=True, eq=False, repr=False, **options)
    every = fields(made)
    setattr(made, _COMPARED, staticmethod(_values_of(tuple(f.name for f in every if f.compare))))
    setattr(
        made,
        _HASHED,
        staticmethod(_values_of(tuple(f.name for f in every if (f.compare if f.hash is None else f.hash)))),
    )
    setattr(made, _SHOWN, tuple(f.name for f in every if f.repr))
    made.__eq__ = _record_eq
    made.__hash__ = _record_hash
    made.__repr__ = _record_repr
    return made  # type: ignore[no-any-return]


@dataclass_transform(frozen_default=True, eq_default=True)
def record(cls: T | None = None, /, **options: Any) -> Any:
    """`@record` or `@record(kw_only=True, ...)` on a class: a frozen dataclass (see the module's docstring).
    Raises TypeError for an option that would generate what `record` shares (frozen, eq, repr, order, slots,
    unsafe_hash)."""
    refused = {"frozen", "eq", "repr", "order", "slots", "unsafe_hash"} & set(options)
    if refused:
        raise TypeError(f"record() decides {', '.join(sorted(refused))} itself")
    if cls is None:
        return lambda wrapped: _make_record(wrapped, options)
    return _make_record(cls, options)
