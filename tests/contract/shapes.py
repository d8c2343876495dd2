"""Compare a JSON value with a documented example by shape: the same keys and JSON types, recursively.

For contract tests on both sides: the sandbox's answers against heymarket_examples/ (test_sandbox_contract.py),
and the client reading each example file. Usage:

    assert_same_shape(answer, load_example("v2-contacts-search.response.json"), optional={"$[*]": CONTACT_FIELDS})

Rules:
- JSON types are null, boolean, integer, number, string, array, object; an integer is not a boolean, and where
  the example has a number (1.5) an integer is accepted, but not the other way round.
- Objects: every key of the example must be there, with a value of the same shape; a key the example does not
  have is a mismatch unless `optional` lists it for that place (a path pattern, `[*]` for any index), with its
  JSON type (None: any type).
- Arrays: every item must have the shape of the example's first item. An empty array or object in the example
  says only "array" or "object": its contents are not compared (`"custom": {}`, `"tags": []`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

EXAMPLES_DIR: Final = Path(__file__).resolve().parent / "heymarket_examples"

# Every field of the Contact object that HEYMARKET_API.md lists ("Contacts: the documented contract, exactly"),
# with its JSON type where the reference gives it; None where it only names the field ("in some answers").
CONTACT_FIELDS: Final[Mapping[str, str | None]] = {
    "id": "integer",
    "display_name": "string",
    "first": "string",
    "last": "string",
    "email": "string",
    "phone": "string",
    "custom": "object",
    "team_id": "integer",
    "creator_id": "integer",
    "shared": "boolean",
    "created": "string",
    "updated": "string",
    "rev": "integer",
    "op": "string",
    "assigned_user_id": "integer",
    "tags": "array",
    "is_opted_out": "boolean",
    "avatar": None,
    "external_id": None,
    "external_ref": None,
    "inbox_id": None,
    "note": None,
    "parent_id": None,
    "type": None,
}
# The UUID next to `id`: HEYMARKET_API.md says whether search and bulk answers carry it is NOT documented.
CONTACT_UUID: Final[Mapping[str, str | None]] = {"uuid": "string"}


def load_example(name: str) -> Any:
    """One documented request or answer from heymarket_examples/, parsed."""
    return json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))


def json_type(value: object) -> str:
    """The JSON type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a parsed JSON value: {value!r}")


def shape_mismatches(
    actual: object, documented: object, *, optional: Mapping[str, Mapping[str, str | None]] | None = None
) -> list[str]:
    """Every place where `actual` differs in shape from `documented`, as "path: what differs" (empty: same shape).

    `optional` maps a path pattern ("$.contacts[*]") to the keys an object there may have beyond the example's,
    each with its JSON type (None: any).
    """
    patterns = [(_pattern(path), keys) for path, keys in (optional or {}).items()]
    mismatches: list[str] = []
    _compare(actual, documented, "$", patterns, mismatches)
    return mismatches


def assert_same_shape(
    actual: object, documented: object, *, optional: Mapping[str, Mapping[str, str | None]] | None = None
) -> None:
    """Raise AssertionError listing every shape mismatch (see shape_mismatches)."""
    mismatches = shape_mismatches(actual, documented, optional=optional)
    if mismatches:
        raise AssertionError("not the documented shape:\n  " + "\n  ".join(mismatches))


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(path).replace(re.escape("[*]"), r"\[\d+\]") + r"\Z")


def _same_type(actual: str, documented: str) -> bool:
    return actual == documented or (documented == "number" and actual == "integer")


def _compare(
    actual: object,
    documented: object,
    path: str,
    patterns: list[tuple[re.Pattern[str], Mapping[str, str | None]]],
    mismatches: list[str],
) -> None:
    actual_type, documented_type = json_type(actual), json_type(documented)
    if not _same_type(actual_type, documented_type):
        mismatches.append(f"{path}: {actual_type} where the example has {documented_type}")
        return
    if isinstance(actual, list) and isinstance(documented, list) and documented:
        for index, item in enumerate(actual):
            _compare(item, documented[0], f"{path}[{index}]", patterns, mismatches)
    elif isinstance(actual, dict) and isinstance(documented, dict) and documented:
        for key, value in documented.items():
            if key not in actual:
                mismatches.append(f"{path}.{key}: missing")
            else:
                _compare(actual[key], value, f"{path}.{key}", patterns, mismatches)
        allowed: dict[str, str | None] = {}
        for pattern, keys in patterns:
            if pattern.match(path):
                allowed.update(keys)
        for key in actual.keys() - documented.keys():
            if key not in allowed:
                mismatches.append(f"{path}.{key}: not in the example, nor listed as optional here")
            elif allowed[key] is not None and not _same_type(json_type(actual[key]), str(allowed[key])):
                mismatches.append(f"{path}.{key}: {json_type(actual[key])} where {allowed[key]} is documented")
