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


_NEW_USER = (
    "INSERT INTO webhook_outbox (type, user_id, created_at, attempts, next_attempt_at)"
    " VALUES ('user.created', NEW.id, NEW.created_at, 0, NEW.created_at)"
)
CREATED_TRIGGER = {
    # The user's row and its user.created message commit together, whichever statement
    # inserts the row (an upsert's update of a returning user fires no INSERT trigger).
    "mysql": [
        f"CREATE TRIGGER users_created_webhook AFTER INSERT ON users FOR EACH ROW {_NEW_USER}"
    ],
    "mariadb": [
        f"CREATE TRIGGER users_created_webhook AFTER INSERT ON users FOR EACH ROW {_NEW_USER}"
    ],
    "sqlite": [
        f"CREATE TRIGGER users_created_webhook AFTER INSERT ON users BEGIN {_NEW_USER}; END"
    ],
    "postgresql": [
        "CREATE FUNCTION users_created_webhook() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {_NEW_USER}; RETURN NEW; END $$",
        "CREATE TRIGGER users_created_webhook AFTER INSERT ON users FOR EACH ROW"
        " EXECUTE FUNCTION users_created_webhook()",
    ],
}
DROP_TRIGGER = {
    "mysql": ["DROP TRIGGER users_created_webhook"],
    "mariadb": ["DROP TRIGGER users_created_webhook"],
    "sqlite": ["DROP TRIGGER users_created_webhook"],
    "postgresql": ["DROP TRIGGER users_created_webhook ON users",
                   "DROP FUNCTION users_created_webhook()"],
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
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("app", sa.String(32), nullable=True),
        sa.Column("platform", sa.String(16), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        **INNODB,
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"]
    )
    for statement in CREATED_TRIGGER[op.get_context().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGER[op.get_context().dialect.name]:
        op.execute(statement)
    op.drop_table("webhook_outbox")
    op.drop_table("account_events")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("status")
