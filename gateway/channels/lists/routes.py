"""``GET /admin/v1/channels/lists``: a segment's customers for follow-up, JSON or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, get
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter
from sqlmodel import col

from gateway.channels.campaigns.models import ProductType
from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.channels.lists.service import Segment, segment_query
from gateway.channels.reports.routes import Format
from gateway.csvsafe import render_csv
from gateway.db import utcnow
from gateway.deps import DbSession, Staff
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.staff.guards import require_role
from gateway.staff.models import Role

# Lists hold customer ids for marketing: channel managers, and auditors who read everything.
LIST_READERS = {"staff": Provide(require_role(Role.CHANNEL_MANAGER, Role.AUDITOR))}
FIELDS = (
    "customer_id",
    "partner_id",
    "scenario",
    "sub_channel",
    "campaign",
    "opened_at",
    "activated_at",
    "effective_at",
    "last_active_at",
    "value_tier",
)


class ListEntry(msgspec.Struct):
    customer_id: str
    partner_id: str
    scenario: str
    sub_channel: str | None
    campaign: str | None
    opened_at: datetime
    activated_at: datetime | None
    effective_at: datetime | None
    last_active_at: datetime | None
    value_tier: str | None


def entry(m: ChannelMilestone) -> ListEntry:
    return ListEntry(*(getattr(m, name) for name in FIELDS))


@get(
    "/admin/v1/channels/lists",
    tags=["channels"],
    dependencies=LIST_READERS,
    summary="Customers of a marketing segment (名单制); credit products never list campus students",
)
async def marketing_list(
    db_session: DbSession,
    staff: Staff,
    segment: FromQuery[Segment],
    partner_id: FromQuery[str | None] = None,
    product_type: FromQuery[ProductType | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
    fmt: Annotated[Format, QueryParameter(name="format")] = Format.JSON,
) -> Response[Any]:
    stmt = segment_query(
        segment,
        now=utcnow(),
        partner_id=partner_id,
        product_type=product_type.value if product_type else None,
    )
    rows, next_cursor = await paginate(
        db_session,
        stmt,
        col(ChannelMilestone.customer_id),
        limit=limit,
        cursor=cursor,
        key=lambda m: m.customer_id,
    )
    entries = [entry(m) for m in rows]
    if fmt is Format.CSV:
        body = render_csv(
            FIELDS,
            [
                [
                    v.isoformat() if isinstance(v, datetime) else v
                    for v in msgspec.structs.astuple(e)
                ]
                for e in entries
            ],
        )
        headers = {"Content-Disposition": f'attachment; filename="{segment.value}.csv"'}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        return Response(body, media_type="text/csv", headers=headers)
    return Response(Page(data=entries, next_cursor=next_cursor))


ADMIN_ROUTES = [marketing_list]
