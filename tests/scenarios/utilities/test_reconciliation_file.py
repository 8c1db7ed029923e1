"""The biller's daily file parsed into typed rows, every bad line reported."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.scenarios.utilities.reconciliation import parse_file, render_file


def test_a_rendered_file_parses_back() -> None:
    at = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # 07:30 on the 30th in Shanghai
    text = render_file(
        [(at, "utp_1", "EL-1", 100, "BANK", "pay"), (at, "utp_1", "EL-1", 100, "BANK", "reversal")]
    )

    parsed = parse_file(text)

    assert text.startswith("2|200\n20261130073000|utp_1|EL-1|100|BANK|pay\n")
    assert parsed.ok
    assert (parsed.declared_count, parsed.declared_total) == (2, 200)
    assert [(r.line, r.type, r.occurred_at) for r in parsed.rows] == [
        (2, "pay", at),
        (3, "reversal", at),
    ]


def test_every_bad_line_is_reported_with_its_code() -> None:
    text = "\n".join(
        [
            "6|600",
            "20261130093000|utp_1|EL-1|100|BANK|pay",
            "20261131093000|utp_2|EL-1|100|BANK|pay",  # 31 November
            "20261130093000|utp_3|EL-1|1.00|BANK|pay",
            "20261130093000|utp_4|EL-1|100|BANK|refund",
            "20261130093000|utp_5|EL-1|100|BANK",
            "20261130093000|utp_1|EL-1|100|BANK|pay",
        ]
    )

    parsed = parse_file(text)

    assert [r.reference for r in parsed.rows] == ["utp_1"]
    assert [(e.line, e.code) for e in parsed.errors] == [
        (3, "date_invalid"),
        (4, "amount_invalid"),
        (5, "type_invalid"),
        (6, "field_count"),
        (7, "duplicate"),
    ]


def test_the_header_must_match_the_rows() -> None:
    good = "20261130093000|utp_1|EL-1|100|BANK|pay"
    assert [e.code for e in parse_file(f"2|100\n{good}\n").errors] == ["count_mismatch"]
    assert [e.code for e in parse_file(f"1|101\n{good}\n").errors] == ["total_mismatch"]
    assert [e.code for e in parse_file(f"one|100\n{good}\n").errors] == ["header_invalid"]
    assert [e.code for e in parse_file("").errors] == ["header_missing"]
    assert parse_file("0|0\n").ok
