"""The biller's daily reconciliation file (DESIGN §9), parsed into typed rows.

Format (UTF-8, ``\\n`` or ``\\r\\n`` line ends): a header line ``count|total`` (rows and the sum
of their amounts in fen), then one line per write-off or reversal the biller booked that day:
``date|seq|account_no|amount|channel|type`` where ``date`` is the biller's booking time
``YYYYMMDDHHMMSS`` in Asia/Shanghai, ``seq`` the gateway's reference (the payment's ``utp_…``
id, also the transaction's ``external_ref``), ``amount`` whole fen, ``channel`` the collecting
channel's code and ``type`` ``pay`` or ``reversal``. Matching the rows against the gateway's
transactions belongs to settlement's reconciliation (DESIGN §10); this module stops at rows and
errors, reporting every bad line instead of stopping at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from gateway.clock import SHANGHAI

_REFERENCE = re.compile(r"^[\x21-\x7b\x7d\x7e]{1,64}$")  # visible ASCII but "|"
_ACCOUNT = re.compile(r"^[0-9A-Za-z-]{4,32}$")
_CHANNEL = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_FEN = re.compile(r"^[1-9]\d{0,15}$")
MAX_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class ReconRow:
    line: int
    reference: str
    account_no: str
    amount: int
    occurred_at: datetime
    channel: str
    type: Literal["pay", "reversal"]


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    code: str
    message: str


@dataclass(slots=True)
class ReconFile:
    rows: list[ReconRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    declared_count: int | None = None
    declared_total: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _time(text: str) -> datetime | None:
    if not re.fullmatch(r"\d{14}", text):
        return None
    try:
        local = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None
    return local.astimezone(UTC)


def _row(number: int, line: str) -> ReconRow | LineError:
    parts = line.split("|")
    if len(parts) != 6:
        return LineError(number, "field_count", f"Expected 6 fields, found {len(parts)}.")
    when, seq, account_no, amount, channel, kind = (p.strip() for p in parts)
    occurred_at = _time(when)
    if occurred_at is None:
        return LineError(number, "date_invalid", "The date is not YYYYMMDDHHMMSS.")
    if not _REFERENCE.match(seq):
        return LineError(number, "reference_invalid", "The seq is not a reference.")
    if not _ACCOUNT.match(account_no):
        return LineError(number, "account_no_invalid", "The account number is malformed.")
    if not _FEN.match(amount):
        return LineError(number, "amount_invalid", "The amount is not a positive whole fen.")
    if not _CHANNEL.match(channel):
        return LineError(number, "channel_invalid", "The channel code is malformed.")
    if kind not in ("pay", "reversal"):
        return LineError(number, "type_invalid", "The type is pay or reversal.")
    return ReconRow(
        number,
        seq,
        account_no,
        int(amount),
        occurred_at,
        channel,
        "pay" if kind == "pay" else "reversal",
    )


def parse_file(text: str) -> ReconFile:
    """Rows and errors of one file; the header's count and total are checked against the rows."""
    out = ReconFile()
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        out.errors.append(LineError(1, "header_missing", "The file is empty."))
        return out
    header = lines[0].lstrip("\ufeff").split("|")
    if len(header) == 2 and all(re.fullmatch(r"\d{1,16}", h.strip()) for h in header):
        out.declared_count, out.declared_total = (int(h) for h in header)
    else:
        out.errors.append(LineError(1, "header_invalid", "The first line is count|total."))
    if len(lines) - 1 > MAX_ROWS:
        out.errors.append(LineError(1, "too_many_rows", f"At most {MAX_ROWS} rows."))
        return out
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(lines[1:], start=2):
        parsed = _row(number, line)
        if isinstance(parsed, LineError):
            out.errors.append(parsed)
            continue
        if (parsed.reference, parsed.type) in seen:
            out.errors.append(LineError(number, "duplicate", "The reference appears twice."))
            continue
        seen.add((parsed.reference, parsed.type))
        out.rows.append(parsed)
    if out.declared_count is not None and out.errors == []:
        if out.declared_count != len(out.rows):
            out.errors.append(
                LineError(1, "count_mismatch", f"The header says {out.declared_count} rows.")
            )
        if out.declared_total != sum(r.amount for r in out.rows):
            out.errors.append(LineError(1, "total_mismatch", "The header's total is not the sum."))
    return out


def render_file(rows: list[tuple[datetime, str, str, int, str, str]]) -> str:
    """The file for ``rows`` of (booked_at, reference, account_no, amount, channel, type): what
    the sandbox biller serves, and a reference for billers writing their own."""
    lines = [f"{len(rows)}|{sum(r[3] for r in rows)}"]
    lines += [
        f"{at.astimezone(SHANGHAI):%Y%m%d%H%M%S}|{ref}|{acct}|{amount}|{channel}|{kind}"
        for at, ref, acct, amount, channel, kind in rows
    ]
    return "\n".join(lines) + "\n"
