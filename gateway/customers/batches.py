"""Account batches: accepted whole, checked row by row, opened in chunks by workers.

Upload checks every row at once (rules, duplicates within the batch, references repeated in the
batch) and stores what passes encrypted; a job then opens ``CHUNK`` rows per transaction and
queues the next chunk in the same commit. A worker killed mid-chunk loses nothing (the chunk
rolls back and is retried after the lease) and opens nobody twice (the core reference is the
person's, see :mod:`gateway.customers.service`). The partner hears ``account_batch.completed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

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
    number. It runs in the screening transaction, so whatever it records (a risk flag, a case)
    commits with the rows' verdicts, or rolls back and runs again with them: the risk engine
    scores each row here (DESIGN §8), each row's features counting the earlier rows of the
    batch (chunks are screened one after another, in row order), and a ``block`` refuses it.
    """
    verdicts = await risk.assess_candidates(session, channel, [r.candidate for r in rows])
    return [RISK_BLOCKED if v.blocked else None for v in verdicts]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A pending batch row that passed the rules, on its way to the core."""

    row: int
    candidate: Candidate
    kept_id: str | None  # the customer id stored with the row at upload (None before ids were)


def chunk_size(settings: Settings) -> int:
    return settings.batch_chunk_size


_items = sa.table(
    "account_batch_items",
    sa.column("batch_id", sa.String),
    sa.column("row", sa.Integer),
    sa.column("status"),
    sa.column("customer_id"),
    sa.column("id_index"),
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


def _pending(batch_id: str, after: int, through: int | None) -> list[sa.ColumnElement[bool]]:
    """A batch's pending rows past row ``after`` (up to ``through``). Each stage resumes past the
    last row it handled, so it never walks the index entries that the rows it moved on left
    behind (until a vacuum)."""
    where = [
        _items.c.batch_id == batch_id,
        _items.c.status == ItemStatus.PENDING.value,
        _items.c.row > after,
    ]
    return where if through is None else [*where, _items.c.row <= through]


def _items_in(
    batch_id: str, after: int, through: int | None, limit: int | None
) -> sa.Select[tuple[int, str, str | None, str | None]]:
    """The :func:`_pending` rows to check and open (at most ``limit``), locked."""
    return (
        sa.select(_items.c.row, _items.c.payload, _items.c.customer_id, _items.c.id_index)
        .where(*_pending(batch_id, after, through))
        .order_by(_items.c.row)
        .limit(limit)
        .with_for_update()
    )


async def _record(
    session: AsyncSession,
    batch_id: str,
    results: Mapping[int, Opening],
    kept_ids: Mapping[int, str | None],
) -> None:
    """Write the chunk's outcomes: one ``UPDATE … WHERE row IN (…)`` per status for the rows
    whose customer is the id they kept (nearly all), one executemany for the others."""
    plain: dict[str, list[int]] = {}
    other: list[dict[str, Any]] = []
    for row, opening in results.items():
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
    """One step of a batch (ADR 0024): screen the next chunk of rows, and open the rows the step
    before screened. The next step is queued with the screening.

    **Screening** (the job's own transaction) checks each row and scores it with the risk
    engine in row order, one chunk after the other, so a row's features count every earlier row
    of the batch (DESIGN §8); a refused row is ``rejected`` there, an admitted one stays
    ``pending`` and the next step's payload says it was screened (``after``). **Opening** opens
    the screened rows as a set (see :func:`~gateway.customers.service.open_customers`), writes
    each row's outcome and adds it to the batch's counters, in transactions of its own.

    On PostgreSQL the screening and ``GATEWAY_BATCH_OPENERS`` openings run at once on as many
    connections, so the Python of one overlaps the statements of the others. The openings commit
    on their own and never wait for a lock the screening holds: they touch other rows and
    tables, and the screening adds its refusals to the batch's counters only once they have
    committed. A crash anywhere loses nothing: an opening that committed stays, and a screening
    that did not comes back with its job. SQLite has a single writer, so nothing overlaps: a
    step opens the rows it has just screened, in the job's transaction. The step that brings
    ``processed`` to ``total`` completes the batch.
    """
    session = ctx.session
    batch = await session.get(AccountBatch, payload["batch_id"])
    if batch is None or batch.status in _DONE:
        return
    channel = Channel(batch.partner_id, batch.scenario, batch.sub_channel, batch.campaign, batch.id)
    vault: PiiVault = ctx.services["vault"]
    screened_through, opened_through = payload.get("after", 0), payload.get("opened", 0)
    limit = chunk_size(ctx.settings)
    parallel = session.get_bind().dialect.name == "postgresql"
    core_http = ctx.services["core_http"]

    async def opening_apart(after: int, through: int) -> None:
        async with ctx.sessions() as opener:
            core = core_banking_for(opener, core_http)
            await _open(opener, vault, core, batch, channel, (after, through))
            await opener.commit()

    if parallel:
        to_open = await _screened_rows(session, batch.id, opened_through, screened_through, limit)
        try:
            async with asyncio.TaskGroup() as stages:
                for part in _parts(opened_through, to_open, ctx.settings.batch_openers):
                    stages.create_task(opening_apart(*part))
                screening = stages.create_task(
                    _screen(session, vault, channel, batch, screened_through, limit)
                )
        except ExceptionGroup as failed:  # the job's error is the stage's (the core is down, …)
            raise failed.exceptions[0] from failed
        screened, _, refusals = screening.result()
        await _add_outcomes(session, batch.id, refusals)
        opened = to_open[-1] if to_open else opened_through
        more = bool(screened) or len(to_open) == limit  # rows to open, or rows left to screen
    else:
        # One writer: the rows just screened are opened at once, in the same transaction.
        screened, admitted, refusals = await _screen(
            session, vault, channel, batch, screened_through, limit
        )
        core = core_banking_for(session, core_http)
        await _open_admitted(session, vault, core, channel, batch.id, admitted, refusals)
        opened = screened[-1] if screened else opened_through
        more = len(screened) == limit
    if more:
        after = screened[-1] if screened else screened_through
        await enqueue(
            session,
            PROCESS_JOB,
            {"batch_id": batch.id, "after": after, "opened": opened},
            dedupe_key=f"{batch.id}:{after}:{opened}",
        )


async def _screened_rows(
    session: AsyncSession, batch_id: str, after: int, through: int, limit: int
) -> list[int]:
    """The next ``limit`` rows screened and not yet opened: pending, in ``(after, through]``."""
    return list(
        (
            await session.scalars(
                sa.select(_items.c.row)
                .where(*_pending(batch_id, after, through))
                .order_by(_items.c.row)
                .limit(limit)
            )
        ).all()
    )


def _parts(after: int, rows: Sequence[int], count: int) -> list[tuple[int, int]]:
    """``rows`` (ascending, all past ``after``) cut into at most ``count`` ranges
    ``(after, through]`` of consecutive rows, each to be opened in a transaction of its own."""
    size = -(-len(rows) // count)
    ends = [rows[min(start + size, len(rows)) - 1] for start in range(0, len(rows), size or 1)]
    return list(zip([after, *ends], ends, strict=False))


async def _screen(
    session: AsyncSession,
    vault: PiiVault,
    channel: Channel,
    batch: AccountBatch,
    after: int,
    limit: int,
) -> tuple[list[int], list[BatchRow], dict[int, Opening]]:
    """Screen the next chunk of pending rows past ``after``: the rules (again only on a later
    business date), then the risk engine; write the refusals. Returns the rows screened, those
    admitted, and the refusals by row (for the batch's counters)."""
    await _refresh_statistics(session, after)
    items = (await session.execute(_items_in(batch.id, after, None, limit))).all()
    checked, refusals = _check(vault, batch, items)
    decisions = await screen_chunk(session, channel, checked)
    admitted: list[BatchRow] = []
    for r, refused in zip(checked, decisions, strict=True):
        if refused is None:
            admitted.append(r)
        else:
            refusals[r.row] = Opening("rejected", error=refused)
    if refusals:
        await _record(session, batch.id, refusals, {})
    return [item.row for item in items], admitted, refusals


def _check(
    vault: PiiVault, batch: AccountBatch, items: Sequence[sa.Row[Any]]
) -> tuple[list[BatchRow], dict[int, Opening]]:
    """The items that pass the rules, ready to open, and the others' refusals by row."""
    day = today()
    same_day = business_date_of(batch.created_at) == day  # checked at upload on this date
    passed: list[BatchRow] = []
    refusals: dict[int, Opening] = {}
    for item in items:
        checked = _checked(vault, item, day, same_day)
        if isinstance(checked, RowError):
            refusals[item.row] = Opening("rejected", error=checked)
        else:
            passed.append(BatchRow(item.row, checked, item.customer_id))
    return passed, refusals


def _checked(vault: PiiVault, item: sa.Row[Any], day: date, same_day: bool) -> Candidate | RowError:
    """A stored row, unsealed and ready to open. The rules depend on the row and the business
    date only, so a row checked at upload on the same date (``same_day``) is not checked again
    (its birth date is read, its blind index was stored); on a later date, or for a row stored
    before ids were kept, the rules run again."""
    applicant = Applicant.unseal(vault, item.payload)
    if same_day and item.id_index and item.customer_id:
        birth = valid_birth_date(applicant.id_number)
        if birth is not None:
            return Candidate(
                applicant,
                item.id_index,
                item.customer_id,
                birth,
                phone_index(vault, applicant.phone),
            )
    return candidate(vault, applicant, day, item.customer_id)


async def _open(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    batch: AccountBatch,
    channel: Channel,
    rows: tuple[int, int],
) -> None:
    """Open the screened rows in ``rows`` (``(after, through]``): those still pending, checked
    again (the business date may have turned since the screening)."""
    items = (await session.execute(_items_in(batch.id, *rows, None))).all()
    admitted, refusals = _check(vault, batch, items)
    if refusals:
        await _record(session, batch.id, refusals, {})
    await _open_admitted(session, vault, core, channel, batch.id, admitted, refusals)


async def _open_admitted(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    channel: Channel,
    batch_id: str,
    admitted: Sequence[BatchRow],
    refusals: Mapping[int, Opening],
) -> None:
    """Open admitted rows as a set, write their outcomes, and add them and the ``refusals``
    (written already) to the batch's counters."""
    results: dict[int, Opening] = {}
    if admitted:
        candidates = [r.candidate for r in admitted]
        openings = await open_customers(session, vault, core, channel, candidates)
        results = {r.row: opening for r, opening in zip(admitted, openings, strict=True)}
        await after_opening(
            session,
            channel,
            (
                (o, r.candidate.applicant.attributes)
                for r, o in zip(admitted, openings, strict=True)
            ),
        )
        await _record(session, batch_id, results, {r.row: r.kept_id for r in admitted})
    await _add_outcomes(session, batch_id, {**refusals, **results})


async def _add_outcomes(
    session: AsyncSession, batch_id: str, results: Mapping[int, Opening]
) -> None:
    """Add rows' outcomes to the batch's counters (locking its row until the commit); the
    addition that brings ``processed`` to ``total`` completes the batch."""
    counts = {
        status.value: sum(1 for opening in results.values() if opening.status == status)
        for status in (ItemStatus.OPENED, ItemStatus.EXISTING, ItemStatus.REJECTED)
    }
    processed, total, status = (
        await session.execute(
            sa.update(_batches)
            .where(_batches.c.id == batch_id)
            .values(
                processed=_batches.c.processed + len(results),
                **{name: _batches.c[name] + n for name, n in counts.items()},
                status=sa.case(
                    (_batches.c.status.in_([s.value for s in _DONE]), _batches.c.status),
                    else_=BatchStatus.PROCESSING.value,
                ),
            )
            .returning(_batches.c.processed, _batches.c.total, _batches.c.status)
        )
    ).one()
    log.info("batch.chunk_processed", batch_id=batch_id, rows=len(results), processed=processed)
    if processed >= total and status not in _DONE:
        batch = await session.get(AccountBatch, batch_id, populate_existing=True)
        assert batch is not None
        await _complete(session, batch)


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
    times (each costs a few hundred ms), and an established table that dwarfs it never. Batches
    screened at once take turns: while one analyzes (until its commit), the others skip the check.
    """
    if session.get_bind().dialect.name != "postgresql" or not processed:
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


async def _complete(session: AsyncSession, batch: AccountBatch) -> None:
    batch.status = (
        BatchStatus.COMPLETED_WITH_ERRORS if batch.rejected else BatchStatus.COMPLETED
    ).value
    batch.completed_at = utcnow()
    await session.flush()  # a later counter update in this transaction sees it done
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
