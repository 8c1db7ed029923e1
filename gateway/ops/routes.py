from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import problem_response
from gateway.migrate import head_revisions


@get("/health", tags=["ops"], summary="Process is up", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["ops"], summary="Database reachable and schema at head")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    try:
        async with request.app.state.session_factory() as session:
            current = set(
                (await session.scalars(sa.text("SELECT version_num FROM alembic_version"))).all()
            )
    except SQLAlchemyError:
        return problem_response(
            request, 503, "database_unavailable", "The database cannot be reached."
        )
    if current != set(head_revisions()):
        return problem_response(
            request,
            503,
            "schema_not_at_head",
            "The database schema is not at the latest migration.",
        )
    return Response({"status": "ready", "revision": sorted(current)})
