"""Plates, the half-up fuel amount and the risk features, without a database."""

from __future__ import annotations

import pytest

from gateway.errors import ValidationFailed
from gateway.scenarios.fuel import FuelAdapter
from gateway.scenarios.fuel.plates import is_new_energy, normalise_plate
from gateway.scenarios.fuel.service import fuel_amount, plate_or_error


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("京A12345", "京A12345"),
        ("沪B8K9Z7", "沪B8K9Z7"),
        ("粤BABCDE", "粤BABCDE"),
        (" 浙c12a45 ", "浙C12A45"),  # trimmed, Latin letters upper-cased
        ("沪AD12345", "沪AD12345"),  # small new-energy: D then a letter or digit and 4 digits
        ("川AFK1234", "川AFK1234"),
        ("粤B12345D", "粤B12345D"),  # large new-energy: 5 digits then D or F
        ("琼E00000F", "琼E00000F"),
    ],
)
def test_valid_plates_are_normalised(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == plate
    assert is_new_energy(plate) is (len(plate) == 8)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "A12345",  # no province
        "京A1234",  # 6 characters
        "京A123456",  # 8 characters but not new-energy
        "京112345",  # the second character must be a letter
        "京I12345",  # I and O are never issued
        "京AO2345",
        "港A12345",  # not a mainland province abbreviation
        "京A1234!",
        "京AD1234A",  # small new-energy ends in four digits
        "京A1234DD",  # large new-energy: five digits before D/F
        "京AX12345",  # 8 characters without D/F
        "京A12345D6",  # 9 characters
        "京Ａ12345",  # full-width letter
    ],
)
def test_invalid_plates_are_refused(raw: str) -> None:
    assert normalise_plate(raw) is None
    with pytest.raises(ValidationFailed) as caught:
        plate_or_error(raw)
    assert caught.value.code == "plate_invalid"
    assert [(e.field, e.code) for e in caught.value.errors] == [("plate_no", "plate_invalid")]


@pytest.mark.parametrize(
    ("litres_ml", "unit_price", "amount"),
    [
        (40_000, 750, 30_000),  # exact
        (1_500, 777, 1_166),  # 1165.5 rounds up
        (1_500, 775, 1_163),  # 1162.5 rounds up
        (1_499, 777, 1_165),  # 1164.723 rounds down
        (33_333, 751, 25_033),  # 25033.083
        (1, 1, 0),  # a millilitre at a fen a litre costs nothing
        (500, 1, 1),  # 0.5 rounds up
        (499, 1, 0),
    ],
)
def test_fuel_amount_rounds_half_up(litres_ml: int, unit_price: int, amount: int) -> None:
    assert fuel_amount(litres_ml, unit_price) == amount


def test_risk_features_from_the_payment_details() -> None:
    adapter = FuelAdapter()
    event = {
        "amount": 60_000,
        "details": {
            "plate_no": "京A12345",
            "litres_ml": 75_500,
            "tank_capacity_l": 60,
            "fuelings_today": 3,
        },
    }
    assert adapter.risk_features(event) == {
        "fuel_litres": 75.5,
        "fuel_over_tank_capacity": True,
        "fuel_plate_no": "京A12345",
        "fuel_plate_fuelings_today": 4,
    }
    flat = {"plate_no": "京A12345", "litres_ml": 60_000, "tank_capacity_l": 60}
    features = adapter.risk_features(flat)
    assert features["fuel_over_tank_capacity"] is False  # a full tank is possible
    assert features["fuel_plate_fuelings_today"] == 1
    assert adapter.risk_features({})["fuel_over_tank_capacity"] is False
