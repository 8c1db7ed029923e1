"""The biller protocol's wire shapes (``docs/integration/billers.md``), shared by the gateway's
biller client, which decodes them, and the sandbox biller, which encodes them, so the two cannot
drift apart. Every answer is decoded strictly: a field of the wrong type or out of range makes the
whole answer unreadable, and the client treats it as a technical failure, never as an answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gateway.core_banking.port import PositiveFen
from gateway.schemas import Strict

Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
UtilityAccountNo = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z-]{4,32}$")]
BillKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Period = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Fen = Annotated[int, msgspec.Meta(ge=0, le=2**53)]

# Definite refusals of a write-off: the biller recorded that it did NOT write the bill off.
WRITE_OFF_CODES = frozenset(
    {
        "account_not_found",
        "bill_not_found",
        "bill_already_paid",
        "amount_mismatch",
        "account_closed",
        "reference_void",
    }
)


class BillAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/bills?account_no=``: the account's current bill (``bill_key`` null and
    ``amount_due`` 0 when nothing is due)."""

    account_no: UtilityAccountNo
    holder_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    bill_key: BillKey | None
    amount_due: Fen
    period: Period | None
    currency: Literal["CNY"] = "CNY"


class WriteOffCreate(Strict):
    """``POST /v1/write-offs``: write ``bill_key`` off with the gateway's ``reference``."""

    reference: Reference
    account_no: UtilityAccountNo
    bill_key: BillKey
    amount: PositiveFen
    currency: Literal["CNY"] = "CNY"


class WriteOffAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A write-off's recorded outcome (``POST`` and ``GET /v1/write-offs/{reference}``)."""

    reference: Reference
    status: Literal["succeeded", "failed"]
    account_no: UtilityAccountNo
    bill_key: BillKey
    amount: PositiveFen
    currency: Literal["CNY"] = "CNY"
    biller_reference: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    error_code: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    written_off_at: datetime | None = None


class Problem(msgspec.Struct, kw_only=True):
    """The part of an RFC 9457 answer the client reads."""

    code: str = ""
    detail: str = ""
