"""batch rows by status: the chunk claim and the results filter read from the first match

A chunk claims its rows with ``batch_id = :b AND status = 'pending' ORDER BY row LIMIT n``; with
only the primary key (batch_id, row) every claim read and sorted all of the batch's rows, which
made a 100,000-row batch cost more per row than a 10,000-row one. ``(batch_id, status, row)``
returns the next pending rows in order, and serves ``GET /v1/account-batches/{id}/items?status=``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_batch_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_batch_items_status", ["batch_id", "status", "row"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_batch_items", schema=None) as batch_op:
        batch_op.drop_index("ix_account_batch_items_status")
