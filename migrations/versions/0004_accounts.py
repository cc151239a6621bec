"""Accounts: the users' status, the audit trail and the webhook outbox.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out rather than imported from adapters.sqlalchemy.tables: a migration is history.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
INNODB = {
    "mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin",
    "mariadb_engine": "InnoDB", "mariadb_charset": "utf8mb4", "mariadb_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'active'"))
        )
    op.create_table(
        "account_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=True),
        sa.Column("app", sa.String(32), nullable=True),
        sa.Column("platform", sa.String(16), nullable=True),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(256), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_account_events"),
        **INNODB,
    )
    op.create_index("ix_account_events_user_id_at", "account_events", ["user_id", "at"])
    op.create_index("ix_account_events_type_at", "account_events", ["type", "at"])
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.UniqueConstraint("event_id", name="uq_webhook_outbox_event_id"),
        **INNODB,
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    op.drop_table("account_events")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("status")
