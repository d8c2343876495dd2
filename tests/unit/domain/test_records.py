"""`@record` behaves as `@dataclass(frozen=True)` does, without generating its methods per class."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field, replace

import pytest

from heymarket_bridge.domain.records import record


@record
class Point:
    """A record for the tests."""

    x: int
    label: str = ""
    tags: tuple[str, ...] = ()
    clock: Callable[[], float] = field(default=float, compare=False)
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class FrozenPoint:
    """The same fields as a stdlib frozen dataclass: what `Point` must behave like."""

    x: int
    label: str = ""
    tags: tuple[str, ...] = ()
    clock: Callable[[], float] = field(default=float, compare=False)
    secret: str = field(default="", repr=False)


@record
class Other:
    """Another record with `Point`'s first fields."""

    x: int
    label: str = ""


@record(kw_only=True)
class Normalised:
    """A record whose __post_init__ normalises a field, as frozen dataclasses do."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.strip())


VALUES = [(1, "a", ()), (1, "a", ("t",)), (2, "a", ()), (1, "b", ()), (1, "", ("x", "y"))]


@pytest.mark.parametrize("left", VALUES)
@pytest.mark.parametrize("right", VALUES)
def test_equality_and_hash_are_those_of_a_frozen_dataclass(left: tuple, right: tuple) -> None:
    assert (Point(*left) == Point(*right)) == (FrozenPoint(*left) == FrozenPoint(*right))
    assert (Point(*left) != Point(*right)) == (FrozenPoint(*left) != FrozenPoint(*right))
    assert hash(Point(*left)) == hash(FrozenPoint(*left))


@record
class One:
    """A record of one field (attrgetter of one name gives a value, not a tuple)."""

    value: str


@dataclass(frozen=True)
class FrozenOne:
    """`One` as a stdlib frozen dataclass."""

    value: str


@record
class Nothing:
    """A record without fields."""


@dataclass(frozen=True)
class FrozenNothing:
    """`Nothing` as a stdlib frozen dataclass."""


def test_records_of_one_field_or_none_compare_and_hash_as_frozen_dataclasses() -> None:
    assert One("a") == One("a")
    assert One("a") != One("b")
    assert hash(One("a")) == hash(FrozenOne("a"))
    assert repr(One("a")) == "One(value='a')"
    assert Nothing() == Nothing()
    assert hash(Nothing()) == hash(FrozenNothing())
    assert repr(Nothing()) == "Nothing()"


def test_fields_left_out_of_comparison_are_left_out_of_equality_and_hash() -> None:
    assert Point(1, clock=lambda: 1.0) == Point(1, clock=lambda: 2.0)
    assert hash(Point(1, clock=lambda: 1.0)) == hash(Point(1))
    assert Point(1, secret="a") != Point(1, secret="b")  # compared, only not shown


def test_a_record_equals_only_a_record_of_its_own_class() -> None:
    assert Point(1, "a") != Other(1, "a")
    assert Point(1) != (1, "", ())
    assert Point.__eq__(Point(1), Other(1)) is NotImplemented
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_repr_is_that_of_a_frozen_dataclass_with_the_class_name() -> None:
    point = Point(1, "a", ("t",), secret="hidden")
    assert repr(point) == repr(FrozenPoint(1, "a", ("t",), secret="hidden")).replace("FrozenPoint", "Point")
    assert "hidden" not in repr(point)


def test_fields_cannot_be_assigned_or_deleted_nor_attributes_added() -> None:
    point = Point(1)
    with pytest.raises(FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        point.label = "b"  # type: ignore[misc]  # a field set from its default
    with pytest.raises(FrozenInstanceError):
        del point.x  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        point.extra = 1  # type: ignore[attr-defined]
    assert point == Point(1)


def test_replace_fields_asdict_pickle_and_post_init_work_as_on_a_dataclass() -> None:
    point = Point(1, "a")
    assert replace(point, x=2) == Point(2, "a")
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "label", "tags", "clock", "secret"]
    assert dataclasses.is_dataclass(point)
    assert pickle.loads(pickle.dumps(Other(3, "c"))) == Other(3, "c")
    assert Normalised(name="  Ann ").name == "Ann"
    assert Point.__match_args__ == ("x", "label", "tags", "clock", "secret")


def test_records_share_their_methods_instead_of_generating_them() -> None:
    """What makes a record cheaper to define than a frozen dataclass: equality, hash and repr are not generated."""
    for name in ("__eq__", "__hash__", "__repr__"):
        assert getattr(Point, name) is getattr(Other, name), name
    assert Point.__init__ is not Other.__init__
    assert Point.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("option", ["frozen", "eq", "repr", "order", "slots", "unsafe_hash"])
def test_options_that_would_generate_the_shared_methods_are_refused(option: str) -> None:
    with pytest.raises(TypeError, match=option):
        record(**{option: True})
