"""Reading account-batch uploads: JSON, CSV (UTF-8, with or without BOM) and Excel (.xlsx).

A file that cannot be read is refused whole, with the line that broke it; rows that read fine
but break a row rule are reported per row later, and the rest proceed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import load_workbook

from gateway.customers.service import Applicant
from gateway.errors import BusinessRuleViolation, FieldError, PayloadTooLarge

MAX_ROWS = 100_000
REQUIRED_COLUMNS = ("name", "id_number", "phone")
ROW_COLUMNS = ("external_ref", "name", "id_number", "phone", "referral_code")
ATTRIBUTE_COLUMNS = ("unit", "plate_no", "student_no", "role")
CONTEXT_COLUMNS = ("device_id", "ip", "user_agent")
CSV_TYPES = frozenset({"text/csv", "application/csv"})
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadRejected(BusinessRuleViolation):
    code = "batch_invalid"


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"A batch holds at most {MAX_ROWS:,} rows.", code="batch_too_large")


def _applicant(cells: dict[str, str]) -> Applicant:
    """Build a row from named cells: known attribute and context columns, or prefixed ones."""
    attributes = {k: v for k, v in cells.items() if k in ATTRIBUTE_COLUMNS and v}
    attributes |= {
        k.removeprefix("attributes."): v
        for k, v in cells.items()
        if k.startswith("attributes.") and v
    }
    context = {k: v for k, v in cells.items() if k in CONTEXT_COLUMNS and v}
    context |= {
        k.removeprefix("context."): v for k, v in cells.items() if k.startswith("context.") and v
    }
    return Applicant(
        name=cells.get("name", ""),
        id_number=cells.get("id_number", ""),
        phone=cells.get("phone", ""),
        external_ref=cells.get("external_ref") or None,
        referral_code=cells.get("referral_code") or None,
        attributes=attributes,
        context=context or None,
    )


def _check_header(header: Sequence[str]) -> list[str]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise UploadRejected(
            f"The header row lacks: {', '.join(missing)}.",
            code="header_invalid",
            errors=[FieldError(c, "required", "missing column") for c in missing],
        )
    return names


def _rows(header: list[str], records: Iterator[Sequence[Any]]) -> list[Applicant]:
    out: list[Applicant] = []
    for record in records:
        cells = ["" if v is None else str(v).strip() for v in record]
        if not any(cells):
            continue
        if len(out) == MAX_ROWS:
            raise too_large()
        out.append(_applicant(dict(zip(header, cells, strict=False))))
    if not out:
        raise UploadRejected("The file has no rows.", code="batch_empty")
    return out


def read_csv(raw: bytes) -> list[Applicant]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UploadRejected(
            "CSV files must be UTF-8 (with or without a BOM).", code="encoding_invalid"
        ) from e
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise UploadRejected("The file is empty.", code="batch_empty")
        return _rows(_check_header(header), reader)
    except csv.Error as e:
        raise UploadRejected(
            f"The CSV cannot be parsed at line {reader.line_num}: {e}.", code="csv_invalid"
        ) from e


def read_xlsx(raw: bytes) -> list[Applicant]:
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise UploadRejected("The Excel file cannot be read.", code="xlsx_invalid") from e
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UploadRejected("The file is empty.", code="batch_empty")
        return _rows(_check_header(["" if h is None else str(h) for h in header]), rows)
    finally:
        book.close()
