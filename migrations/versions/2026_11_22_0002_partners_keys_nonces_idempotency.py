"""partners, keys, nonces, idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_signing_keys",
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_gateway_signing_keys")),
    )
    with op.batch_alter_table("gateway_signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gateway_signing_keys_status"), ["status"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("locked_until", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("partner_id", "key", name=op.f("uq_idempotency_keys_partner_id_key")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "partner_applications",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("legal_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uscc", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("cooperation_mode", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column(
            "settlement_account_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column("webhook_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("scenario_profile", sa.JSON(), nullable=False),
        sa.Column("pii", sa.Text(), nullable=False),
        sa.Column(
            "review_recommendation", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True
        ),
        sa.Column("review_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("reviewed_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reviewed_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("decided_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_applications")),
    )
    with op.batch_alter_table("partner_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_applications_status"), ["status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_partner_applications_uscc"), ["uscc"], unique=False)

    op.create_table(
        "used_nonces",
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("expires_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "nonce", name=op.f("pk_used_nonces")),
    )
    with op.batch_alter_table("used_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "partners",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("application_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("legal_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uscc", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("cooperation_mode", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("webhook_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("scenario_profile", sa.JSON(), nullable=False),
        sa.Column(
            "settlement_account_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column("pii", sa.Text(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "client_secret_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("rate_limit_per_second", sa.Float(), nullable=False),
        sa.Column("rate_limit_burst", sa.Integer(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["partner_applications.id"],
            name=op.f("fk_partners_application_id_partner_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("application_id", name=op.f("uq_partners_application_id")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partners_client_id")),
    )
    op.create_table(
        "partner_keys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("retire_after", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_used_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_keys_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_keys")),
        sa.UniqueConstraint("partner_id", "kid", name=op.f("uq_partner_keys_partner_id_kid")),
    )
    with op.batch_alter_table("partner_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_keys_partner_id"), ["partner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_keys_partner_id"))

    op.drop_table("partner_keys")
    op.drop_table("partners")
    with op.batch_alter_table("used_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_nonces_expires_at"))

    op.drop_table("used_nonces")
    with op.batch_alter_table("partner_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_applications_uscc"))
        batch_op.drop_index(batch_op.f("ix_partner_applications_status"))

    op.drop_table("partner_applications")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("gateway_signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_signing_keys_status"))

    op.drop_table("gateway_signing_keys")
