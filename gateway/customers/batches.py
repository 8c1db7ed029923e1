"""Account batches: accepted whole, checked row by row, opened in chunks by workers.

Upload checks every row at once (rules, duplicates within the batch, references repeated in the
batch) and stores what passes encrypted; a job then opens ``CHUNK`` rows per transaction and
queues the next chunk in the same commit. A worker killed mid-chunk loses nothing (the chunk
rolls back and is retried after the lease) and opens nobody twice (the core reference is the
person's, see :mod:`gateway.customers.service`). The partner hears ``account_batch.completed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import risk
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking, core_banking_for
from gateway.customers.models import AccountBatch, AccountBatchItem, BatchStatus, ItemStatus
from gateway.customers.rules import RowError, check_identity, today, valid_birth_date
from gateway.customers.service import (
    Applicant,
    Candidate,
    Channel,
    Opening,
    candidate,
    id_index,
    open_customers,
    phone_index,
)
from gateway.db import bulk_insert, one_of, table_of, utcnow
from gateway.errors import BusinessRuleViolation, Forbidden
from gateway.ids import new_id
from gateway.jobs import JobContext, enqueue, job_handler
from gateway.notifications import emit
from gateway.partners.models import Partner
from gateway.pii import PiiVault
from gateway.risk.openings import RISK_BLOCKED
from gateway.scenarios.base import OpenedCustomer, adapter_for
from gateway.settings import Settings

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
    session: AsyncSession,
    channel: Channel,
    openings: Iterable[tuple[Opening, Mapping[str, Any]]],
) -> None:
    """Let the scenario create what it needs for every opened or recognised customer (a batch
    calls it for each chunk, before the batch can report ``completed``)."""
    adapter = adapter_for(channel.scenario)
    if adapter is None:
        return
    for opening, attributes in openings:
        if opening.customer_id is not None:
            await adapter.on_customer_opened(
                session,
                OpenedCustomer(
                    channel.partner_id, opening.customer_id, channel.sub_channel, attributes
                ),
            )


def _upload_rows(
    vault: PiiVault, batch_id: str, applicants: Sequence[Applicant], day: date
) -> list[dict[str, Any]]:
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
                "customer_id": new_id("cus"),  # the id if new; kept across retries
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
    created_at = utcnow()  # its business date is the one the rows are checked on
    rows = _upload_rows(vault, batch_id, applicants, business_date_of(created_at))
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
        created_at=created_at,
    )
    session.add(batch)
    await session.flush()
    await session.execute(
        *bulk_insert(session.get_bind().dialect, table_of(AccountBatchItem), rows)
    )
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


async def screen_chunk(
    session: AsyncSession, channel: Channel, rows: Sequence[BatchRow]
) -> list[RowError | None]:
    """THE per-row decision point of a chunk, before anything is opened: one answer per row,
    a :class:`RowError` to refuse it (the row is reported ``rejected`` with that code) or
    ``None`` to open it.

    Every row here has passed the row rules and is not yet opened; it carries the applicant
    (with the partner's ``context``: device id, IP, user agent), the blind indexes of the
    person's ID number and phone, the customer id it will get if new, and its batch row
    number. It runs in the chunk's transaction, so whatever it records (a risk flag, a case)
    commits with the openings, or rolls back and runs again with them: the risk engine scores
    each row here (DESIGN §8), each row's features counting the earlier rows of the batch, and a
    ``block`` refuses it.
    """
    verdicts = await risk.assess_candidates(session, channel, [r.candidate for r in rows])
    return [RISK_BLOCKED if v.blocked else None for v in verdicts]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A pending batch row that passed the rules, on its way to the core."""

    row: int
    candidate: Candidate


def chunk_size(settings: Settings) -> int:
    return settings.batch_chunk_size


_items = sa.table(
    "account_batch_items",
    sa.column("batch_id", sa.String),
    sa.column("row", sa.Integer),
    sa.column("status"),
    sa.column("customer_id"),
    sa.column("error_code"),
    sa.column("error_message"),
    sa.column("payload"),
)
_batches = table_of(AccountBatch)
# One statement for a whole chunk, executed with a list of rows (executemany).
_ITEM_UPDATE = (
    sa.update(_items)
    .where(_items.c.batch_id == sa.bindparam("b_batch_id"), _items.c.row == sa.bindparam("b_row"))
    .values(
        status=sa.bindparam("b_status"),
        customer_id=sa.bindparam("b_customer_id"),
        error_code=sa.bindparam("b_error_code"),
        error_message=sa.bindparam("b_error_message"),
        payload="",  # the submitted row is not kept once it is processed
    )
)


async def _record(
    session: AsyncSession,
    batch_id: str,
    results: Mapping[int, tuple[Opening, Applicant]],
    kept_ids: Mapping[int, str | None],
) -> None:
    """Write the chunk's outcomes: one ``UPDATE … WHERE row IN (…)`` per status for the rows
    whose customer is the id they kept (nearly all), one executemany for the others."""
    plain: dict[str, list[int]] = {}
    other: list[dict[str, Any]] = []
    for row, (opening, _) in results.items():
        if opening.error is None and opening.customer_id == kept_ids.get(row):
            plain.setdefault(opening.status, []).append(row)
        else:
            other.append(
                {
                    "b_batch_id": batch_id,
                    "b_row": row,
                    "b_status": opening.status,
                    "b_customer_id": opening.customer_id,
                    "b_error_code": opening.error and opening.error.code,
                    "b_error_message": opening.error and opening.error.message,
                }
            )
    dialect = session.get_bind().dialect
    for status, rows in plain.items():
        await session.execute(
            sa.update(_items)
            .where(_items.c.batch_id == batch_id, one_of(dialect, _items.c.row, rows))
            .values(status=status, payload="")
        )
    if other:
        await session.execute(_ITEM_UPDATE, other)


@job_handler(PROCESS_JOB, on_dead=_fail)
async def process_chunk(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Open the next ``GATEWAY_BATCH_CHUNK_SIZE`` pending rows of a batch, set-based: the rows
    are checked and sealed in Python, then opened with a fixed number of statements (see
    :func:`~gateway.customers.service.open_customers`), and the next chunk is queued in the
    same commit. A crash anywhere before the commit leaves the chunk pending as it was.

    On PostgreSQL a batch is opened in ``GATEWAY_BATCH_LANES`` lanes: the first chunk queues the
    other lanes with its commit, and each lane takes the next pending rows no other lane has
    locked (``FOR UPDATE SKIP LOCKED``), so as many workers open disjoint chunks of one batch at
    once. The batch's counters are added to in one ``UPDATE`` at the end of each chunk (its row
    is locked only from there to the commit), and the chunk that brings ``processed`` to
    ``total`` completes the batch. SQLite has a single writer: one lane. With more than one
    lane, a row's risk features count the batch's rows committed before its chunk began, not
    those of a chunk opened beside it (hence one lane by default, see the setting).
    """
    session = ctx.session
    batch = await session.get(AccountBatch, payload["batch_id"])
    if batch is None or batch.status in _DONE:
        return
    vault: PiiVault = ctx.services["vault"]
    core = core_banking_for(session, ctx.services["core_http"])
    channel = Channel(batch.partner_id, batch.scenario, batch.sub_channel, batch.campaign, batch.id)
    parallel = session.get_bind().dialect.name == "postgresql"
    pending = (
        select(
            col(AccountBatchItem.row),
            col(AccountBatchItem.payload),
            col(AccountBatchItem.customer_id),
            col(AccountBatchItem.id_index),
        )
        .where(
            col(AccountBatchItem.batch_id) == batch.id,
            col(AccountBatchItem.status) == ItemStatus.PENDING.value,
            col(AccountBatchItem.row) > payload.get("after", 0),
        )
        .order_by(col(AccountBatchItem.row))
        .limit(chunk_size(ctx.settings))
    )
    items = (await session.execute(pending.with_for_update(skip_locked=True))).all()
    if not items and parallel:
        # Every pending row is locked: by another lane, which opens them, or by a run of this
        # job that outlived its lease, whose rows come back when it rolls back. Wait for them.
        items = (await session.execute(pending.with_for_update())).all()
    if parallel and batch.status == BatchStatus.QUEUED:
        for lane in range(1, ctx.settings.batch_lanes):
            await enqueue(
                session, PROCESS_JOB, {"batch_id": batch.id}, dedupe_key=f"{batch.id}:lane{lane}"
            )
    results = await _open_chunk(session, vault, core, channel, batch.created_at, items)
    await _record(session, batch.id, results, {i.row: i.customer_id for i in items})
    # Before the batch's row is locked below: an ANALYZE takes hundreds of ms, and another lane
    # would wait for this commit at its own counter update.
    await _refresh_statistics(session, batch.processed + len(items))
    counts = {
        status.value: sum(1 for opening, _ in results.values() if opening.status == status)
        for status in (ItemStatus.OPENED, ItemStatus.EXISTING, ItemStatus.REJECTED)
    }
    processed, total, status = (
        await session.execute(
            sa.update(_batches)
            .where(_batches.c.id == batch.id)
            .values(
                processed=_batches.c.processed + len(items),
                **{name: _batches.c[name] + n for name, n in counts.items()},
                status=sa.case(
                    (_batches.c.status.in_([s.value for s in _DONE]), _batches.c.status),
                    else_=BatchStatus.PROCESSING.value,
                ),
            )
            .returning(_batches.c.processed, _batches.c.total, _batches.c.status)
        )
    ).one()
    log.info("batch.chunk_processed", batch_id=batch.id, rows=len(items), processed=processed)
    if items and processed < total:
        last = items[-1].row
        await enqueue(
            session,
            PROCESS_JOB,
            {"batch_id": batch.id, "after": last},
            dedupe_key=f"{batch.id}:{last}",
        )
    elif processed >= total and status not in _DONE:
        await session.refresh(batch)
        await _complete(session, batch)
    # else: another lane holds the batch's last pending rows and completes it


# The tables a chunk looks rows up in by key (the customers, links and accounts it may reuse, the
# earlier openings its risk features count, the milestones and items it updates).
_LOOKED_UP = (
    "account_batch_items",
    "customers",
    "customer_links",
    "sandbox_accounts",
    "risk_events",
    "channel_milestones",
)

# pg_try_advisory_xact_lock key of the batches' ANALYZE ("gwbatchA" in ASCII).
_ANALYZE_LOCK = int.from_bytes(b"gwbatchA", "big")


async def _refresh_statistics(session: AsyncSession, processed: int) -> None:
    """On PostgreSQL, ``ANALYZE`` each looked-up table whose statistics count fewer rows than half
    of what this batch alone has added to it, as PostgreSQL advises after a bulk load.

    A big batch can outgrow a table's statistics long before autovacuum's next analyze (or for
    ever, where autovacuum is off). Without them the planner guesses a key's selectivity and a
    chunk's 1,000-key look-ups become scans: at 75,000 rows each cost 50–85 ms per chunk, and the
    batch slowed down as it grew (docs/performance.md). A table is analyzed again only once the
    batch has added twice what its statistics count, so a batch analyzes each table O(log rows)
    times (each costs a few hundred ms), and an established table that dwarfs it never. Lanes
    take turns: while one lane's chunk analyzes (until its commit), the others skip the check.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    stale = (
        (
            await session.execute(
                sa.text(
                    "SELECT relname FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r'"
                    " AND reltuples < :half AND relnamespace = current_schema()::regnamespace"
                ),
                {"names": list(_LOOKED_UP), "half": processed / 2},
            )
        )
        .scalars()
        .all()
    )
    if stale and await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_ANALYZE_LOCK))):
        await session.execute(sa.text(f"ANALYZE {', '.join(sorted(stale))}"))
        log.info("batch.statistics_refreshed", tables=sorted(stale), processed=processed)


async def _open_chunk(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    channel: Channel,
    created_at: datetime,
    items: Sequence[sa.Row[int, str, str | None, str | None]],
) -> dict[int, tuple[Opening, Applicant]]:
    """Each item's outcome by row: checked, screened, then opened as a set."""
    day = today()
    # The rules depend on the row and the business date only, so a row checked at upload on the
    # same date is not checked again (its birth date is read, its blind index was stored); on a
    # later date, or for a row stored before ids were kept, the rules run again.
    same_day = business_date_of(created_at) == day
    results: dict[int, tuple[Opening, Applicant]] = {}
    rows: list[BatchRow] = []
    for item in items:
        applicant = Applicant.unseal(vault, item.payload)
        birth = valid_birth_date(applicant.id_number) if same_day and item.id_index else None
        checked: Candidate | RowError
        if birth is not None and item.id_index and item.customer_id:
            checked = Candidate(
                applicant,
                item.id_index,
                item.customer_id,
                birth,
                phone_index(vault, applicant.phone),
            )
        else:
            checked = candidate(vault, applicant, day, item.customer_id)
        if isinstance(checked, RowError):
            results[item.row] = (Opening("rejected", error=checked), applicant)
        else:
            rows.append(BatchRow(item.row, checked))
    decisions = await screen_chunk(session, channel, rows)
    admitted = [r for r, refused in zip(rows, decisions, strict=True) if refused is None]
    for r, refused in zip(rows, decisions, strict=True):
        if refused is not None:
            results[r.row] = (Opening("rejected", error=refused), r.candidate.applicant)
    openings = await open_customers(session, vault, core, channel, [r.candidate for r in admitted])
    for r, opening in zip(admitted, openings, strict=True):
        results[r.row] = (opening, r.candidate.applicant)
    await after_opening(session, channel, ((o, a.attributes) for o, a in results.values()))
    return results


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
