"""The wire protocol's request and problem shapes, shared by the HTTP client (which encodes them)
and the standalone sandbox app (which decodes them), so the two cannot drift apart."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.core_banking.port import PositiveFen
from gateway.schemas import Strict

Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
AccountNo = Annotated[str, msgspec.Meta(pattern=r"^\d{8,32}$")]
Purpose = Annotated[str, msgspec.Meta(max_length=200)]


class AccountOpen(Strict):
    reference: Reference
    customer_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    id_number_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    bound_account_no: AccountNo | None = None


class MoneyMove(Strict):
    """A debit or a credit of one account."""

    reference: Reference
    account_no: AccountNo
    amount: PositiveFen
    currency: Literal["CNY"] = "CNY"
    purpose: Purpose = ""


class TransferCreate(Strict):
    reference: Reference
    from_account: AccountNo
    to_account: AccountNo
    amount: PositiveFen
    currency: Literal["CNY"] = "CNY"
    purpose: Purpose = ""


class InternalAccountOpen(Strict):
    reference: Reference
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class DepositCreate(Strict):
    reference: Reference
    amount: PositiveFen


class MovementRefused(msgspec.Struct, kw_only=True):
    """RFC 9457 body of a refused movement (422); ``code`` is the business error code and
    ``core_reference`` the core's record of the refusal."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    reference: str
    core_reference: str | None = None
