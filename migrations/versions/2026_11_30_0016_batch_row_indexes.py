"""fewer index entries per batch row: partial keyed indexes, one unused index dropped

Every logged risk event took an entry in all eleven secondary indexes, NULL keys included: an
account opening has no merchant, plate, card, customer or transaction, a payment no phone or ID
index. No query looks those NULLs up (``key = :value`` never matches NULL), so each keyed index
becomes partial (``WHERE key IS NOT NULL``), which both engines use for an equality or ``IN`` on
the key. The same for the milestones' referrer (most customers have none). No query reads
customers by ``acquired_by``: its index goes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> indexed columns; the first one is the key that may be NULL
KEYED = {
    "ix_risk_events_phone": ["phone_index", "occurred_at"],
    "ix_risk_events_device": ["device_id", "occurred_at"],
    "ix_risk_events_id_index": ["id_index", "occurred_at"],
    "ix_risk_events_sub_channel": ["sub_channel", "event_type", "occurred_at"],
    "ix_risk_events_merchant": ["merchant", "occurred_at"],
    "ix_risk_events_plate": ["plate_no", "occurred_at"],
    "ix_risk_events_card": ["card_id", "occurred_at"],
    "ix_risk_events_customer": ["customer_id", "occurred_at"],
    "ix_risk_events_txn_id": ["txn_id"],
}


def _recreate(partial: bool) -> None:
    with op.batch_alter_table("risk_events", schema=None) as batch_op:
        for name, columns in KEYED.items():
            batch_op.drop_index(name)
            present = sa.text(f"{columns[0]} IS NOT NULL") if partial else None
            batch_op.create_index(
                name, columns, unique=False, sqlite_where=present, postgresql_where=present
            )


REFERRED = sa.text("referrer_id IS NOT NULL")


def upgrade() -> None:
    _recreate(partial=True)
    with op.batch_alter_table("channel_milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_milestones_referrer")
        batch_op.create_index(
            "ix_channel_milestones_referrer",
            ["referrer_id"],
            unique=False,
            sqlite_where=REFERRED,
            postgresql_where=REFERRED,
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_acquired_by"))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_acquired_by"), ["acquired_by"], unique=False)
    with op.batch_alter_table("channel_milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_milestones_referrer")
        batch_op.create_index("ix_channel_milestones_referrer", ["referrer_id"], unique=False)
    _recreate(partial=False)
