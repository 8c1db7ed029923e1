"""Shared conventions: ids, money, PII vault and masking, log masking."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from gateway.ids import has_prefix, new_id
from gateway.logging import mask_pii, mask_text
from gateway.money import basis_points, mul_div_half_up, round_half_up, yuan
from gateway.pii import (
    PiiDecryptError,
    PiiVault,
    mask_account,
    mask_id_number,
    mask_name,
    mask_phone,
)

KEY = b"k" * 16 + b"0123456789abcdef"
OTHER_KEY = b"o" * 16 + b"fedcba9876543210"


def test_ids_are_prefixed_unique_and_time_sortable() -> None:
    ids = [new_id("cus") for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(has_prefix(i, "cus") for i in ids)
    assert ids == sorted(ids)  # creation order is sort order
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("xyz")


def test_id_is_a_ulid_of_its_millisecond() -> None:
    """The first 10 digits are the creation time in milliseconds, Crockford base32."""
    before = time.time_ns() // 1_000_000
    digits = new_id("cus").removeprefix("cus_")
    after = time.time_ns() // 1_000_000
    value = 0
    for char in digits:
        value = value * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(char)
    assert before <= value >> 80 <= after


@pytest.mark.parametrize(
    ("value", "expected"), [("0.5", 1), ("1.5", 2), ("2.4999", 2), ("-0.5", -1), ("-1.49", -1)]
)
def test_round_half_up(value: str, expected: int) -> None:
    assert round_half_up(Decimal(value)) == expected


def test_fee_in_basis_points_rounds_per_line() -> None:
    assert basis_points(10_000, 30) == 30
    assert basis_points(150, 30) == 0  # 0.45 fen
    assert basis_points(167, 30) == 1  # 0.501 fen
    assert yuan(123_456) == "1234.56"
    assert yuan(-5) == "-0.05"


@given(st.integers(0, 10**12), st.integers(0, 10**6), st.integers(1, 10**6))
def test_mul_div_matches_exact_fraction(amount: int, num: int, den: int) -> None:
    exact = amount * num
    floor, rem = divmod(exact, den)
    assert mul_div_half_up(amount, num, den) == floor + (1 if 2 * rem >= den else 0)


def test_vault_round_trip_binds_context_and_rotates() -> None:
    vault = PiiVault(KEY)
    sealed = vault.encrypt("110101199003074258", context="customer.id_number")
    assert "199003" not in sealed
    assert sealed.split(".")[0] == vault.key_id
    assert vault.decrypt(sealed, context="customer.id_number") == "110101199003074258"
    with pytest.raises(PiiDecryptError):
        vault.decrypt(sealed, context="customer.phone")
    rotated = PiiVault(OTHER_KEY, retired=(KEY,))
    assert rotated.decrypt(sealed, context="customer.id_number") == "110101199003074258"
    assert rotated.key_id != vault.key_id
    with pytest.raises(PiiDecryptError):
        PiiVault(OTHER_KEY).decrypt(sealed, context="customer.id_number")


def test_blind_index_is_keyed_and_normalised() -> None:
    vault = PiiVault(KEY)
    assert vault.blind_index("id", "11010119900307425x") == vault.blind_index(
        "id", " 11010119900307425X"
    )
    assert vault.blind_index("id", "1") != PiiVault(OTHER_KEY).blind_index("id", "1")
    assert vault.blind_index("id", "1") != vault.blind_index("phone", "1")


def test_masks_follow_the_contract() -> None:
    assert mask_id_number("11010119900307425X") == "1****************X"
    assert mask_phone("13800138034") == "138******34"
    assert mask_account("6222020200112233445") == "622202*********3445"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧阳**"


def test_log_processor_masks_by_key_and_by_pattern() -> None:
    event = {
        "event": "customer.opened for 110101199003074258 phone 13800138034",
        "phone": "13912345678",
        "name": "李四",
        "password": "hunter2",
        "nested": {"id_number": "11010119900307425X"},
    }
    masked = mask_pii(None, "info", dict(event))
    assert masked["event"] == "customer.opened for 1****************8 phone 138******34"
    assert masked["phone"] == "139******78"
    assert masked["name"] == "李*"
    assert masked["password"] == "[redacted]"
    assert masked["nested"] == {"id_number": "1****************X"}
    assert mask_text("order 12345678901234567890 stays") == "order 12345678901234567890 stays"


def test_configured_logger_never_prints_raw_pii(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.logging import configure_logging  # noqa: PLC0415

    configure_logging("json", "INFO")
    try:
        raise ValueError("bad id 110101199003074258")
    except ValueError:
        structlog.get_logger().exception("customer.failed", phone="13800138034")
    err = capsys.readouterr().err
    assert "110101199003074258" not in err
    assert "13800138034" not in err
    assert "1****************8" in err
