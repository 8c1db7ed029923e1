"""Account batches: accepted whole, checked row by row, opened in chunks by workers.

Upload checks every row at once (rules, duplicates within the batch, references repeated in the
batch) and stores what passes encrypted; a job then opens ``CHUNK`` rows per transaction and
queues the next chunk in the same commit. A worker killed mid-chunk loses nothing (the chunk
rolls back and is retried after the lease) and opens nobody twice (the core reference is the
person's, see :mod:`gateway.customers.service`). The partner hears ``account_batch.completed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import risk
from gateway.core_banking import core_banking_for
from gateway.customers.models import AccountBatch, AccountBatchItem, BatchStatus, ItemStatus
from gateway.customers.rules import check_identity, today
from gateway.customers.service import Applicant, Channel, Opening, id_index, open_customer
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation, Forbidden
from gateway.ids import new_id
from gateway.jobs import JobContext, enqueue, job_handler
from gateway.notifications import emit
from gateway.partners.models import Partner
from gateway.pii import PiiVault
from gateway.scenarios.base import OpenedCustomer, adapter_for

CHUNK = 500
PROCESS_JOB = "account_batch.process"
_DONE = {BatchStatus.COMPLETED, BatchStatus.COMPLETED_WITH_ERRORS, BatchStatus.FAILED}
log = structlog.get_logger(__name__)


class ScenarioNotGranted(Forbidden):
    code = "scenario_not_granted"


class SubChannelUnknown(BusinessRuleViolation):
    code = "sub_channel_unknown"


async def check_channel(session: AsyncSession, partner: Partner, channel: Channel) -> None:
    """The scenario must be granted and the sub-channel the partner's own (asked of the adapter)."""
    if channel.scenario not in partner.scenarios:
        raise ScenarioNotGranted(
            f"The partner is not approved for the scenario {channel.scenario!r}."
        )
    adapter = adapter_for(channel.scenario)
    if adapter is not None:
        code = await adapter.check_sub_channel(session, partner.id, channel.sub_channel)
        if code is not None:
            raise SubChannelUnknown(
                f"The sub_channel {channel.sub_channel!r} is not one of yours.", code=code
            )


async def after_opening(
    session: AsyncSession, channel: Channel, opening: Opening, attributes: Mapping[str, Any]
) -> None:
    """Let the scenario create what it needs for an opened or recognised customer."""
    adapter = adapter_for(channel.scenario)
    if adapter is not None and opening.customer_id is not None:
        await adapter.on_customer_opened(
            session,
            OpenedCustomer(
                channel.partner_id, opening.customer_id, channel.sub_channel, attributes
            ),
        )


def _upload_rows(
    vault: PiiVault, batch_id: str, applicants: Sequence[Applicant]
) -> list[dict[str, Any]]:
    day = today()
    seen_people: set[str] = set()
    seen_refs: set[str] = set()
    rows: list[dict[str, Any]] = []
    for number, applicant in enumerate(applicants, start=1):
        row: dict[str, Any] = {
            "batch_id": batch_id,
            "row": number,
            "external_ref": applicant.external_ref,
            "id_index": None,
            "payload": "",
            "status": ItemStatus.REJECTED.value,
            "customer_id": None,
            "error_code": None,
            "error_message": None,
        }
        error = check_identity(applicant.name, applicant.id_number, applicant.phone, day)
        index = id_index(vault, applicant.id_number) if error is None else None
        if error is not None:
            row |= {"error_code": error.code, "error_message": error.message}
        elif index in seen_people:
            row |= {
                "error_code": "duplicate_in_batch",
                "error_message": "The same ID number is on an earlier row.",
            }
        elif applicant.external_ref is not None and applicant.external_ref in seen_refs:
            row |= {
                "error_code": "external_ref_conflict",
                "error_message": "The external_ref repeats an earlier row.",
            }
        else:
            row |= {
                "id_index": index,
                "payload": applicant.seal(vault),
                "status": ItemStatus.PENDING.value,
            }
            seen_people.add(str(index))
        if applicant.external_ref is not None:
            seen_refs.add(applicant.external_ref)
        rows.append(row)
    return rows


async def create_batch(
    session: AsyncSession,
    vault: PiiVault,
    partner: Partner,
    channel: Channel,
    applicants: Sequence[Applicant],
) -> AccountBatch:
    await check_channel(session, partner, channel)
    batch_id = new_id("acb")
    rows = _upload_rows(vault, batch_id, applicants)
    rejected = sum(1 for r in rows if r["status"] == ItemStatus.REJECTED)
    batch = AccountBatch(
        id=batch_id,
        partner_id=partner.id,
        scenario=channel.scenario,
        sub_channel=channel.sub_channel,
        campaign=channel.campaign,
        total=len(rows),
        processed=rejected,
        rejected=rejected,
    )
    session.add(batch)
    await session.flush()
    await session.execute(sa.insert(AccountBatchItem), rows)
    await enqueue(session, PROCESS_JOB, {"batch_id": batch_id}, dedupe_key=f"{batch_id}:0")
    log.info("batch.accepted", batch_id=batch_id, total=len(rows), rejected_at_upload=rejected)
    return batch


async def _fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The chunk job gave up (e.g. the core stayed unreachable): the batch is ``failed``."""
    batch = await ctx.session.get(AccountBatch, payload["batch_id"], with_for_update=True)
    if batch is None or batch.status in _DONE:
        return
    batch.status = BatchStatus.FAILED.value
    batch.completed_at = utcnow()
    await emit(
        ctx.session,
        batch.partner_id,
        "account_batch.completed",
        {
            "batch_id": batch.id,
            "status": batch.status,
            "total": batch.total,
            "processed": batch.processed,
        },
    )
    log.error("batch.failed", batch_id=batch.id, processed=batch.processed)


@job_handler(PROCESS_JOB, on_dead=_fail)
async def process_chunk(ctx: JobContext, payload: dict[str, Any]) -> None:
    session = ctx.session
    batch = await session.get(AccountBatch, payload["batch_id"], with_for_update=True)
    if batch is None or batch.status in _DONE:
        return
    vault: PiiVault = ctx.services["vault"]
    core = core_banking_for(session, ctx.services["core_http"])
    channel = Channel(batch.partner_id, batch.scenario, batch.sub_channel, batch.campaign, batch.id)
    items = (
        await session.scalars(
            select(AccountBatchItem)
            .where(
                col(AccountBatchItem.batch_id) == batch.id,
                col(AccountBatchItem.status) == ItemStatus.PENDING.value,
            )
            .order_by(col(AccountBatchItem.row))
            .limit(CHUNK)
        )
    ).all()
    day = today()
    applicants = [Applicant.unseal(vault, item.payload) for item in items]
    verdicts = await risk.assess_openings(session, vault, channel, applicants)  # risk: per chunk
    for item, applicant, verdict in zip(items, applicants, verdicts, strict=True):
        opening = risk.rejected_opening(verdict) or await open_customer(
            session, vault, core, channel, applicant, today=day
        )
        await after_opening(session, channel, opening, applicant.attributes)
        item.status = opening.status
        item.customer_id = opening.customer_id
        item.payload = ""  # the row is not kept once it is opened
        if opening.error is not None:
            item.error_code, item.error_message = opening.error.code, opening.error.message
        setattr(batch, opening.status, getattr(batch, opening.status) + 1)
    batch.processed += len(items)
    batch.status = BatchStatus.PROCESSING.value
    if len(items) == CHUNK:
        await enqueue(
            session, PROCESS_JOB, {"batch_id": batch.id}, dedupe_key=f"{batch.id}:{items[-1].row}"
        )
        return
    await _complete(session, batch)


async def _complete(session: AsyncSession, batch: AccountBatch) -> None:
    batch.status = (
        BatchStatus.COMPLETED_WITH_ERRORS if batch.rejected else BatchStatus.COMPLETED
    ).value
    batch.completed_at = utcnow()
    await emit(
        session,
        batch.partner_id,
        "account_batch.completed",
        {
            "batch_id": batch.id,
            "status": batch.status,
            "total": batch.total,
            "opened": batch.opened,
            "existing": batch.existing,
            "rejected": batch.rejected,
        },
    )
    log.info("batch.completed", batch_id=batch.id, status=batch.status, opened=batch.opened)
