"""risk rules, decisions and cases

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('risk_cases',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('open_subject', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_cases')),
    sa.UniqueConstraint('open_subject', name=op.f('uq_risk_cases_open_subject'))
    )
    with op.batch_alter_table('risk_cases', schema=None) as batch_op:
        batch_op.create_index('ix_risk_cases_queue', ['status', 'priority'], unique=False)

    op.create_table('risk_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('occurred_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scenario', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('sub_channel', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('merchant', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('phone_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('id_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('plate_no', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('card_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('batch_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('round_amount', sa.Boolean(), nullable=False),
    sa.Column('night', sa.Boolean(), nullable=False),
    sa.Column('txn_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_events'))
    )
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.create_index('ix_risk_events_card', ['card_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_customer', ['customer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_device', ['device_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_id_index', ['id_index', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_merchant', ['merchant', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_partner', ['partner_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_phone', ['phone_index', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_plate', ['plate_no', 'occurred_at'], unique=False)
        batch_op.create_index('ix_risk_events_sub_channel', ['sub_channel', 'event_type', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_events_txn_id'), ['txn_id'], unique=False)
        batch_op.create_index('ix_risk_events_type_time', ['event_type', 'occurred_at'], unique=False)

    op.create_table('risk_rules',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', 'version', name=op.f('pk_risk_rules'))
    )
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.create_index('ix_risk_rules_event_type_status', ['event_type', 'status'], unique=False)

    op.create_table('risk_rulesets',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_risk_rulesets'))
    )
    op.create_table('risk_snoozes',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('subject_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('until', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_snoozes'))
    )
    with op.batch_alter_table('risk_snoozes', schema=None) as batch_op:
        batch_op.create_index('ix_risk_snoozes_lookup', ['rule_id', 'subject_type', 'subject_id'], unique=False)

    op.create_table('risk_case_actions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['risk_cases.id'], name=op.f('fk_risk_case_actions_case_id_risk_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_case_actions'))
    )
    with op.batch_alter_table('risk_case_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_case_actions_case_id'), ['case_id'], unique=False)

    op.create_table('risk_decisions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['risk_events.id'], name=op.f('fk_risk_decisions_event_id_risk_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_decisions'))
    )
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_decisions_event_id'), ['event_id'], unique=False)

    op.create_table('risk_holds',
    sa.Column('txn_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', gateway.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['risk_cases.id'], name=op.f('fk_risk_holds_case_id_risk_cases')),
    sa.PrimaryKeyConstraint('txn_id', name=op.f('pk_risk_holds'))
    )
    with op.batch_alter_table('risk_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_holds_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_risk_holds_partner_status', ['partner_id', 'status'], unique=False)

    op.create_table('risk_suspended_sub_channels',
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sub_channel', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['risk_cases.id'], name=op.f('fk_risk_suspended_sub_channels_case_id_risk_cases')),
    sa.PrimaryKeyConstraint('partner_id', 'sub_channel', name=op.f('pk_risk_suspended_sub_channels'))
    )
    op.create_table('risk_hits',
    sa.Column('decision_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['risk_decisions.id'], name=op.f('fk_risk_hits_decision_id_risk_decisions')),
    sa.PrimaryKeyConstraint('decision_id', 'rule_id', name=op.f('pk_risk_hits'))
    )
    with op.batch_alter_table('risk_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_hits_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_risk_hits_rule', ['rule_id', 'mode'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('risk_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_hits_rule')
        batch_op.drop_index(batch_op.f('ix_risk_hits_case_id'))

    op.drop_table('risk_hits')
    op.drop_table('risk_suspended_sub_channels')
    with op.batch_alter_table('risk_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_holds_partner_status')
        batch_op.drop_index(batch_op.f('ix_risk_holds_case_id'))

    op.drop_table('risk_holds')
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_decisions_event_id'))

    op.drop_table('risk_decisions')
    with op.batch_alter_table('risk_case_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_case_actions_case_id'))

    op.drop_table('risk_case_actions')
    with op.batch_alter_table('risk_snoozes', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_snoozes_lookup')

    op.drop_table('risk_snoozes')
    op.drop_table('risk_rulesets')
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_rules_event_type_status')

    op.drop_table('risk_rules')
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_events_type_time')
        batch_op.drop_index(batch_op.f('ix_risk_events_txn_id'))
        batch_op.drop_index('ix_risk_events_sub_channel')
        batch_op.drop_index('ix_risk_events_plate')
        batch_op.drop_index('ix_risk_events_phone')
        batch_op.drop_index('ix_risk_events_partner')
        batch_op.drop_index('ix_risk_events_merchant')
        batch_op.drop_index('ix_risk_events_id_index')
        batch_op.drop_index('ix_risk_events_device')
        batch_op.drop_index('ix_risk_events_customer')
        batch_op.drop_index('ix_risk_events_card')

    op.drop_table('risk_events')
    with op.batch_alter_table('risk_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_cases_queue')

    op.drop_table('risk_cases')
