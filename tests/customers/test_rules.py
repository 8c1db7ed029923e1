"""Row rules for account opening (DESIGN §6)."""

from __future__ import annotations

import random
from datetime import date

import pytest
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from gateway.csvsafe import render_csv, safe_cell
from gateway.customers.rules import check_identity, valid_birth_date
from tests.factories import fake_mobile, fake_resident_id

TODAY = date(2026, 11, 22)
RNG = random.Random(4)


def code(name: str, id_number: str, phone: str) -> str | None:
    error = check_identity(name, id_number, phone, TODAY)
    return error.code if error else None


def test_a_valid_adult_passes() -> None:
    assert code("张三", fake_resident_id(RNG, date(1990, 3, 7)), fake_mobile(RNG)) is None
    assert (
        code("阿依古丽·买买提", fake_resident_id(RNG, date(1990, 3, 7)), fake_mobile(RNG)) is None
    )
    assert code("Li Lei", fake_resident_id(RNG, date(1990, 3, 7)), fake_mobile(RNG)) is None


@pytest.mark.parametrize(
    ("id_number", "expected"),
    [
        ("110105199003070000", "id_number_invalid"),  # wrong check digit
        ("110105199002300012", "id_number_invalid"),  # 30 February
        ("11010519900307", "id_number_invalid"),  # too short
    ],
)
def test_bad_resident_ids(id_number: str, expected: str) -> None:
    assert code("张三", id_number, "13800138000") == expected


def test_minor_boundary_is_the_sixteenth_birthday() -> None:
    turning_today = fake_resident_id(RNG, date(2010, 11, 22))
    tomorrow = fake_resident_id(RNG, date(2010, 11, 23))
    assert code("张三", turning_today, "13800138000") is None
    assert code("张三", tomorrow, "13800138000") == "minor_requires_guardian"
    assert (
        code("张三", fake_resident_id(RNG, date(2027, 1, 1)), "13800138000") == "id_number_invalid"
    )


@pytest.mark.parametrize("phone", ["12800138000", "1380013800", "+8613800138000", "138-0013-8000"])
def test_bad_phones(phone: str) -> None:
    assert code("张三", fake_resident_id(RNG, date(1990, 1, 1)), phone) == "phone_invalid"


@pytest.mark.parametrize("name", ["张", "", "x", "张三123", "=HYPERLINK(1)"])
def test_bad_names(name: str) -> None:
    assert code(name, fake_resident_id(RNG, date(1990, 1, 1)), "13800138000") == "name_invalid"


def test_formula_cells_are_neutralised_in_csv() -> None:
    assert safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert safe_cell("+1") == "'+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell(-100) == "-100"  # numbers are data, not formulas
    text = render_csv(["ref"], [["=cmd|' /C calc'!A0"], ["ok"]])
    assert text.splitlines() == ["ref", "'=cmd|' /C calc'!A0", "ok"]


def test_the_fast_resident_id_check_agrees_with_stdnum() -> None:
    """valid_birth_date skips stdnum's repeated cleaning and caches its region look-up; on valid
    and damaged numbers alike it must answer exactly what ``ric.validate`` does."""
    rng = random.Random(11)
    for _ in range(5_000):
        number = fake_resident_id(rng)
        damage = rng.random()
        if damage < 0.3:
            number = number[:-1] + rng.choice("0123456789X")
        elif damage < 0.4:
            number = f"{rng.randrange(10**6):06d}" + number[6:]
        elif damage < 0.5:
            number = number[:10] + f"{rng.randrange(100):02d}{rng.randrange(100):02d}" + number[14:]
        elif damage < 0.55:
            number = number.lower()
        elif damage < 0.6:
            number = f" {number[:6]} {number[6:]}"
        try:
            expected: date | None = ric.get_birth_date(ric.validate(number))
        except (StdnumError, KeyError):  # stdnum raises KeyError for a region with no county
            expected = None
        assert valid_birth_date(number) == expected, number
