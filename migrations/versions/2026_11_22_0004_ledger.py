"""double-entry ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_journals",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("occurred_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_journals")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_journals_reference")),
    )
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_journals_txn_id"), ["txn_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("journal_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        # A zero line carries no money and would only hide a bug in whoever posted it.
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["ledger_journals.id"],
            name=op.f("fk_ledger_entries_journal_id_ledger_journals"),
        ),
        sa.PrimaryKeyConstraint("journal_id", "line", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        # Covers balance(account, as_of) and the trial balance's GROUP BY account: index only.
        batch_op.create_index(
            "ix_ledger_entries_balance", ["account", "occurred_at", "amount"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_balance")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_journals_txn_id"))

    op.drop_table("ledger_journals")
