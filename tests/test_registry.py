"""The agency registry as data."""

import pytest

from pipeline.registry import agency_codes, get_agency, population_series


def test_five_agencies_in_registry_order():
    assert agency_codes() == ["kukar", "kutim", "ppu", "bontang", "batam"]
    assert get_agency("batam").timezone == "Asia/Jakarta"
    assert get_agency("kutim").kecamatan["64.08.17"] == ["Batu Ampar"]


def test_population_known_interpolated_and_carried():
    series = population_series({2020: 100, 2023: 130}, [2019, 2020, 2021, 2022, 2023, 2024])
    assert series == {2019: (100, True), 2020: (100, False), 2021: (110, True), 2022: (120, True),
                      2023: (130, False), 2024: (130, True)}


def test_unknown_agency_is_a_clear_error():
    with pytest.raises(KeyError, match="registered: kukar"):
        get_agency("jakarta")
