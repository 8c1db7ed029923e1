"""Contactless fuel payment (无感加油): stations, plate mandates, fuel charges and refunds.

A fuel event is charged against the plate's active mandate without the driver doing anything,
so the mandate's limits are the driver's only protection: every fueling of a plate first locks
the mandate row (a touching UPDATE, which takes the row lock on PostgreSQL and the write lock on
SQLite, and finds only an active mandate), so concurrent fuelings of one plate take turns and
their sum can never pass the daily limit. The money moves through the shared ``collect`` (Class II
limits, the per-litre campaign subsidy, the journal, ``payment.succeeded``) and ``refund``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking
from gateway.customers.service import customer_for_partner
from gateway.db import table_of, utcnow
from gateway.errors import BusinessRuleViolation, Conflict, FieldError, NotFound, ValidationFailed
from gateway.ids import new_id
from gateway.money import mul_div_half_up
from gateway.partners.ownership import owned
from gateway.pii import PiiVault
from gateway.scenarios.fuel.models import (
    Driver,
    FuelTransaction,
    Mandate,
    MandateStatus,
    Station,
)
from gateway.scenarios.fuel.plates import normalise_plate
from gateway.scenarios.fuel.schemas import FuelTransactionCreate, MandateCreate, StationCreate
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.scenarios.payments import collect, payer_for
from gateway.scenarios.payments import refund as refund_payment

KEY = "fuel"
log = structlog.get_logger(__name__)


class LimitExceeded(BusinessRuleViolation):
    code = "limit_exceeded"


def plate_or_error(raw: str, field: str = "plate_no") -> str:
    """The normalised plate, or 422 ``plate_invalid``."""
    plate = normalise_plate(raw)
    if plate is None:
        raise ValidationFailed(
            "The plate number is not a valid Chinese plate.",
            code="plate_invalid",
            errors=[
                FieldError(field, "plate_invalid", "7 characters, or 8 for a new-energy vehicle.")
            ],
        )
    return plate


def fuel_amount(litres_ml: int, unit_price: int) -> int:
    """What ``litres_ml`` millilitres cost at ``unit_price`` fen a litre, half-up to the fen."""
    return mul_div_half_up(litres_ml, unit_price, 1000)


# -- stations ------------------------------------------------------------------------------------


async def create_station(session: AsyncSession, partner_id: str, data: StationCreate) -> Station:
    if data.external_ref is not None:
        taken = await session.scalar(
            select(Station.id).where(
                col(Station.partner_id) == partner_id,
                col(Station.external_ref) == data.external_ref,
            )
        )
        if taken is not None:
            raise Conflict("A station with this external_ref exists.", code="external_ref_conflict")
    station = Station(
        id=new_id("stn"),
        partner_id=partner_id,
        external_ref=data.external_ref,
        name=data.name,
        address=data.address,
        pumps=data.pumps,
    )
    session.add(station)
    await session.flush()
    return station


async def is_partners_station(session: AsyncSession, partner_id: str, station_id: str) -> bool:
    found = await session.scalar(
        select(Station.id).where(
            col(Station.id) == station_id, col(Station.partner_id) == partner_id
        )
    )
    return found is not None


# -- drivers and mandates ------------------------------------------------------------------------


async def record_driver(
    session: AsyncSession,
    *,
    partner_id: str,
    customer_id: str,
    plate: object,
    station_id: str | None,
) -> None:
    """Remember the plate a partner declared for a customer it opened (never a consent).

    An opening is never refused for its plate: a missing or malformed one is only logged, as
    the row rules of account opening are the same for every scenario (DESIGN §6).
    """
    if not isinstance(plate, str) or not plate:
        return
    plate_no = normalise_plate(plate)
    if plate_no is None:
        log.info("fuel.driver_plate_invalid", customer_id=customer_id, partner_id=partner_id)
        return
    if await session.get(Driver, (partner_id, customer_id, plate_no)) is None:
        session.add(
            Driver(
                partner_id=partner_id,
                customer_id=customer_id,
                plate_no=plate_no,
                station_id=station_id,
            )
        )
        await session.flush()


def _mandate_summary(m: Mandate) -> dict[str, Any]:
    return {
        "customer_id": m.customer_id,
        "plate_no": m.plate_no,
        "status": m.status,
        "tank_capacity_l": m.tank_capacity_l,
        "per_txn_limit": m.per_txn_limit,
        "daily_limit": m.daily_limit,
    }


async def create_mandate(session: AsyncSession, partner_id: str, data: MandateCreate) -> Mandate:
    """Bind a plate to a customer of the partner; one active mandate per plate (409)."""
    plate = plate_or_error(data.plate_no)
    if data.per_txn_limit > data.daily_limit:
        raise ValidationFailed(
            "The per-transaction limit cannot exceed the daily limit.",
            errors=[FieldError("per_txn_limit", "above_daily_limit", "Must be ≤ daily_limit.")],
        )
    await customer_for_partner(session, data.customer_id, partner_id)
    if data.external_ref is not None:
        taken = await session.scalar(
            select(Mandate.id).where(
                col(Mandate.partner_id) == partner_id,
                col(Mandate.external_ref) == data.external_ref,
            )
        )
        if taken is not None:
            raise Conflict("A mandate with this external_ref exists.", code="external_ref_conflict")
    if await _active_mandate_id(session, partner_id, plate) is not None:
        raise Conflict("The plate already has an active mandate.", code="mandate_exists")
    mandate = Mandate(
        id=new_id("mdt"),
        partner_id=partner_id,
        customer_id=data.customer_id,
        plate_no=plate,
        external_ref=data.external_ref,
        tank_capacity_l=data.tank_capacity_l,
        per_txn_limit=data.per_txn_limit,
        daily_limit=data.daily_limit,
    )
    session.add(mandate)
    try:
        await session.flush()
    except IntegrityError as e:  # a concurrent request bound the plate first
        raise Conflict("The plate already has an active mandate.", code="mandate_exists") from e
    audit.record(
        session,
        actor=f"partner:{partner_id}",
        action="fuel.mandate_created",
        subject_type="fuel_mandate",
        subject_id=mandate.id,
        after=_mandate_summary(mandate),
    )
    log.info("fuel.mandate_created", mandate_id=mandate.id, partner_id=partner_id)
    return mandate


async def _active_mandate_id(session: AsyncSession, partner_id: str, plate: str) -> str | None:
    return await session.scalar(
        select(Mandate.id).where(
            col(Mandate.partner_id) == partner_id,
            col(Mandate.plate_no) == plate,
            col(Mandate.status) == MandateStatus.ACTIVE.value,
        )
    )


async def revoke_mandate(session: AsyncSession, partner_id: str, mandate_id: str) -> Mandate:
    """Revoke a mandate; revoking a revoked one changes nothing and answers it again."""
    mandate = await owned(session, Mandate, mandate_id, partner_id, for_update=True)
    if mandate.status == MandateStatus.REVOKED:
        return mandate
    before = _mandate_summary(mandate)
    now = utcnow()
    mandate.status = MandateStatus.REVOKED.value
    mandate.revoked_at = now
    mandate.updated_at = now
    audit.record(
        session,
        actor=f"partner:{partner_id}",
        action="fuel.mandate_revoked",
        subject_type="fuel_mandate",
        subject_id=mandate.id,
        before=before,
        after=_mandate_summary(mandate),
    )
    await session.flush()
    log.info("fuel.mandate_revoked", mandate_id=mandate.id, partner_id=partner_id)
    return mandate


_MANDATES = table_of(Mandate)
_LOCK_MANDATE = (
    sa.update(_MANDATES)
    .where(
        _MANDATES.c.partner_id == sa.bindparam("partner"),
        _MANDATES.c.plate_no == sa.bindparam("plate"),
        _MANDATES.c.status == MandateStatus.ACTIVE.value,
    )
    .values(updated_at=sa.bindparam("now"))
    .returning(*_MANDATES.c)
)


async def _lock_active_mandate(
    session: AsyncSession, partner_id: str, plate: str
) -> sa.Row[Any] | None:
    """The plate's active mandate, locked until commit, or None.

    Finding, locking and reading are one UPDATE … RETURNING, so a mandate revoked meanwhile is
    not found (PostgreSQL re-checks the WHERE after waiting for the revoking transaction).
    """
    params = {"partner": partner_id, "plate": plate, "now": utcnow()}
    return (await session.execute(_LOCK_MANDATE, params)).first()


def _day_usage() -> sa.Select[Any, Any]:
    txns, fuelings = table_of(Transaction), table_of(FuelTransaction)
    net = sa.func.coalesce(sa.func.sum(txns.c.amount - txns.c.refunded), 0)
    return (
        sa.select(net, sa.func.count())
        .select_from(fuelings.join(txns, txns.c.id == fuelings.c.id))
        .where(
            fuelings.c.partner_id == sa.bindparam("partner"),
            fuelings.c.plate_no == sa.bindparam("plate"),
            fuelings.c.business_date == sa.bindparam("day", type_=sa.Date()),
            txns.c.status == TxnStatus.SUCCEEDED.value,
        )
    )


_DAY_USAGE = _day_usage()
_INSERT_FUELING = sa.insert(table_of(FuelTransaction))


async def day_usage(
    session: AsyncSession, partner_id: str, plate: str, day: date
) -> tuple[int, int]:
    """What a plate's fuelings of one business day add up to, net of refunds, and how many."""
    params = {"partner": partner_id, "plate": plate, "day": day}
    row = (await session.execute(_DAY_USAGE, params)).one()
    return int(row[0]), int(row[1])


# -- fuel and refunds ----------------------------------------------------------------------------


async def fuel(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    data: FuelTransactionCreate,
    reference: str,
) -> tuple[FuelTransaction, Transaction]:
    """Charge a fueling to the plate's mandate: checks, limits, subsidy, debit, journal."""
    station = await owned(session, Station, data.station_id, partner_id)
    plate = plate_or_error(data.plate_no)
    expected = fuel_amount(data.litres_ml, data.unit_price)
    if data.amount != expected:
        raise BusinessRuleViolation(
            f"amount must be litres_ml × unit_price ÷ 1000 rounded half-up: {expected}.",
            code="amount_mismatch",
        )
    if data.pump_no > station.pumps:
        raise BusinessRuleViolation(f"The station has {station.pumps} pumps.", code="pump_unknown")
    if data.external_ref is not None:
        taken = await session.scalar(
            select(Transaction.id).where(
                col(Transaction.partner_id) == partner_id,
                col(Transaction.external_ref) == data.external_ref,
            )
        )
        if taken is not None:
            raise Conflict(
                "A transaction with this external_ref exists.", code="external_ref_conflict"
            )
    mandate = await _lock_active_mandate(session, partner_id, plate)
    if mandate is None:
        raise BusinessRuleViolation("The plate has no active mandate.", code="mandate_missing")
    if data.amount > mandate.per_txn_limit:
        raise LimitExceeded(
            f"The mandate allows at most {mandate.per_txn_limit} fen a transaction."
        )
    used, count = await day_usage(session, partner_id, plate, business_date_of(utcnow()))
    if used + data.amount > mandate.daily_limit:
        raise LimitExceeded(
            f"The mandate allows {mandate.daily_limit} fen a day; {used} fen is used."
        )
    payer = await payer_for(session, vault, partner_id, mandate.customer_id)
    txn = await collect(
        session,
        core,
        partner_id=partner_id,
        scenario=KEY,
        kind="payment",
        payer=payer,
        amount=data.amount,
        reference=reference,
        purpose=f"fuel {data.fuel_grade}# {plate}",
        sub_channel=station.id,
        external_ref=data.external_ref,
        subsidised=True,
        litres_ml=data.litres_ml,
        details={
            "plate_no": plate,
            "litres_ml": data.litres_ml,
            "tank_capacity_l": mandate.tank_capacity_l,
            "pump_no": data.pump_no,
            "fuel_grade": data.fuel_grade,
            "unit_price": data.unit_price,
            "station_id": station.id,
            "fuelings_today": count,
            "context": _context(data),
        },
    )
    row = FuelTransaction(
        id=txn.id,
        partner_id=partner_id,
        station_id=station.id,
        mandate_id=mandate.id,
        plate_no=plate,
        pump_no=data.pump_no,
        fuel_grade=data.fuel_grade,
        litres_ml=data.litres_ml,
        unit_price=data.unit_price,
        tank_capacity_l=mandate.tank_capacity_l,
        business_date=txn.business_date,
    )
    await session.execute(_INSERT_FUELING, row.model_dump())
    log.info(
        "fuel.charged",
        transaction_id=txn.id,
        station_id=station.id,
        amount=txn.amount,
        subsidy=txn.subsidy,
    )
    return row, txn


def _context(data: FuelTransactionCreate) -> dict[str, str] | None:
    if data.context is None:
        return None
    fields = ("device_id", "ip", "user_agent")
    values = {f: getattr(data.context, f) for f in fields}
    return {k: v for k, v in values.items() if v is not None}


async def get_fuel_transaction(
    session: AsyncSession, partner_id: str, txn_id: str
) -> tuple[FuelTransaction, Transaction]:
    row = await owned(session, FuelTransaction, txn_id, partner_id)
    txn = await session.get(Transaction, row.id, populate_existing=True)
    if txn is None:  # the foreign key makes this impossible
        raise NotFound("No such fueltransaction.")
    return row, txn


async def transactions_for(
    session: AsyncSession, rows: Sequence[FuelTransaction]
) -> dict[str, Transaction]:
    """The money rows of a page of fuel rows, in one query."""
    if not rows:
        return {}
    found = await session.scalars(
        select(Transaction)
        .where(col(Transaction.id).in_([r.id for r in rows]))
        .execution_options(populate_existing=True)
    )
    return {t.id: t for t in found.all()}


async def refund(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    txn_id: str,
    amount: int,
    reference: str,
) -> Transaction:
    """Refund part or all of a fueling on its own business day (Asia/Shanghai)."""
    _, payment = await get_fuel_transaction(session, partner_id, txn_id)
    if payment.business_date != business_date_of(utcnow()):
        raise BusinessRuleViolation(
            "Fuel is refunded only on the business day it was paid.", code="refund_window_closed"
        )
    payer = await payer_for(session, vault, partner_id, str(payment.customer_id))
    return await refund_payment(
        session,
        core,
        payment=payment,
        payer=payer,
        amount=amount,
        reference=reference,
        purpose=f"fuel refund {payment.id}",
    )
