"""Row rules for account opening (DESIGN §6)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from gateway.csvsafe import render_csv, safe_cell
from gateway.customers.rules import check_identity
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
