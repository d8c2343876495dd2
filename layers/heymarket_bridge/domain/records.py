"""`@record`: a frozen dataclass whose equality, hash, repr and frozenness are shared functions, not generated code.

Why: `@dataclass(frozen=True)` writes the source of six methods per class (`__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__`, `__delattr__`) and compiles it with `exec` when the module is imported; for the ~100
value classes of the layer that compiling was the largest part of a cold start after boto3 (on python3.13, about
0.47 ms a class, of which 0.13 ms is `__init__`: `python -m benchmarks --only coldstart`, docs/performance.md).
`@record` lets dataclasses generate `__init__` only and gives every class the same four functions below, which
behave as the generated ones do:

- `==` compares the fields whose `compare` is true, as a tuple, with an object of the same class only
  (`NotImplemented` otherwise); `hash()` is the hash of that tuple (fields with `hash=False` left out);
- `repr()` is `Name(a=1, b='x')` over the fields whose `repr` is true;
- assigning or deleting an attribute raises `dataclasses.FrozenInstanceError` once `__init__` has set it (and any
  attribute not a field, always); `__init__` sets each field once, and `__post_init__` may still use
  `object.__setattr__` as with a frozen dataclass.

`dataclasses.replace`, `fields` and `asdict` work as on any dataclass. Type checkers see a frozen dataclass
(`typing.dataclass_transform`, PEP 681). Options: those of `dataclass()` other than `frozen`, `eq`, `repr`,
`order`, `unsafe_hash` and `slots` (kw_only, init, match_args). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)

# The field names each class compares/hashes/shows, computed at a class's first use (dataclasses.fields()).
_COMPARED = "__record_compared__"
_HASHED = "__record_hashed__"
_SHOWN = "__record_shown__"


def _names(cls: type, attribute: str) -> tuple[str, ...]:
    names = cls.__dict__.get(attribute)
    if names is None:
        every = fields(cls)
        setattr(cls, _COMPARED, tuple(f.name for f in every if f.compare))
        setattr(cls, _HASHED, tuple(f.name for f in every if (f.compare if f.hash is None else f.hash)))
        setattr(cls, _SHOWN, tuple(f.name for f in every if f.repr))
        names = cls.__dict__[attribute]
    return names  # type: ignore[no-any-return]


def _record_eq(self: object, other: object) -> object:
    if self is other:
        return True
    cls = self.__class__
    if other.__class__ is not cls:
        return NotImplemented
    names = _names(cls, _COMPARED)
    return bool(tuple(getattr(self, name) for name in names) == tuple(getattr(other, name) for name in names))


def _record_hash(self: object) -> int:
    return hash(tuple(getattr(self, name) for name in _names(self.__class__, _HASHED)))


def _record_repr(self: object) -> str:
    cls = self.__class__
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _names(cls, _SHOWN))
    return f"{cls.__qualname__}({shown})"


def _record_setattr(self: object, name: str, value: object) -> None:
    # __init__ sets each field once; afterwards every field is in the instance's __dict__ and nothing else may be set.
    if name in self.__dict__ or name not in self.__dataclass_fields__:  # type: ignore[attr-defined]
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _record_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make_record(cls: T, options: dict[str, Any]) -> T:
    made: Any = dataclass(cls, eq=False, repr=False, **options)  # generates __init__ (and __match_args__) only
    made.__eq__ = _record_eq
    made.__hash__ = _record_hash
    made.__repr__ = _record_repr
    made.__setattr__ = _record_setattr
    made.__delattr__ = _record_delattr
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
