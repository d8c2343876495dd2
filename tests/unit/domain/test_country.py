"""The country a value names (heymarket_bridge.domain.country)."""

from __future__ import annotations

import pytest

from heymarket_bridge.domain.country import country_of


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("MX", "MX"),
        ("mx", "MX"),
        ("MEX", "MX"),
        ("México", "MX"),
        ("52", "MX"),
        ("+52", "MX"),
        ("Deutschland", "DE"),
        ("Österreich", "AT"),
        ("UK", "GB"),
        ("United States of America", "US"),
        ("U.S.A.", "US"),
        ("+525512345679", "MX"),
        (["FR"], "FR"),
    ],
)
def test_a_country_is_read_from_codes_names_calling_codes_and_international_numbers(value: object, region: str) -> None:
    country = country_of(value)

    assert country is not None
    assert country.region == region


@pytest.mark.parametrize("value", ["Narnia", "", "ZZ", "999", True, None, {"country": "MX"}, "+800 1234 5678"])
def test_a_value_naming_no_country_the_bridge_knows_is_none(value: object) -> None:
    assert country_of(value) is None
